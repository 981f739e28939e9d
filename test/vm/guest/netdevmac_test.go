//go:build vmguest

package guest

import (
	"context"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestTrustedVFNetdevMACUndo: on the real igb/igbvf, the plan's way of giving a trusted VF's netdev its
// admin MAC without a reload (admin MAC and trust on, then the netdev's own address) works, and is undone
// exactly when a later write fails: the netdev gets its old address back, the admin MAC and trust their
// old values (docs/kernel-backend.md).
func TestTrustedVFNetdevMACUndo(t *testing.T) {
	const mac = "02:00:00:00:17:00"
	setNumVFs(t, 0)
	setNumVFs(t, 2)
	ctx := context.Background()
	h := kernelHost(t)
	observe := func() sriov.VF {
		t.Helper()
		st, err := h.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v := st.FindPF(pf).VF(0)
		if v == nil || v.Netdev == "" {
			t.Fatalf("VF 0 has no netdev: %+v", v)
		}
		return *v
	}
	before := observe()
	forward := []change.Op{
		{Kind: change.KindMAC, PF: pf, VF: 0, From: change.Value{MAC: before.MAC}, To: change.Value{MAC: mac}},
		{Kind: change.KindTrust, PF: pf, VF: 0, From: change.Value{On: before.Trust}, To: change.Value{On: true}},
	}
	forward = append(forward, change.NetdevMACOp(pf, before, mac, "test")...)
	if len(forward) != 3 {
		t.Fatalf("VF 0's netdev carries %s already", mac)
	}
	// igb refuses a VF link state (EOPNOTSUPP): the failure after the netdev write.
	refused := change.Op{Kind: change.KindLinkState, PF: pf, VF: 0, From: change.Value{LinkState: before.LinkState}, To: change.Value{LinkState: sriov.LinkStateEnable}}
	_, err := change.Run(ctx, h, append(forward, refused), change.Hooks{})
	if err == nil || change.IsRollbackFailure(err) || !strings.Contains(err.Error(), "host restored") {
		t.Fatalf("run with a refused last write: %v, want a failure with the host restored", err)
	}
	if got := observe(); got.NetdevMAC != before.NetdevMAC || got.MAC != before.MAC || got.Trust != before.Trust {
		t.Fatalf("after the undo: netdev %s, admin MAC %s, trust %v; want netdev %s, admin MAC %s, trust %v",
			got.NetdevMAC, got.MAC, got.Trust, before.NetdevMAC, before.MAC, before.Trust)
	}
	if _, err := change.Run(ctx, h, forward, change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	if got := observe(); got.NetdevMAC != mac || got.MAC != mac || !got.Trust || got.Netdev != before.Netdev {
		t.Fatalf("after the writes: netdev %s %s, admin MAC %s, trust %v; want netdev %s carrying %s, trusted",
			got.Netdev, got.NetdevMAC, got.MAC, got.Trust, before.Netdev, mac)
	}
}
