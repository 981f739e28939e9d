//go:build vmguest

package guest

import (
	"context"
	"os"
	"path/filepath"
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

// TestApplyCreatesTrustedVFsWithMACs: an apply that creates igb VFs gives a trusted one its MAC by the
// netdev address write (no reload, the netdev keeps the name it got at creation) and an untrusted one by
// the reload; both netdevs end carrying their admin MACs.
func TestApplyCreatesTrustedVFsWithMACs(t *testing.T) {
	setNumVFs(t, 0)
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(pol, []byte("pfs:\n  - name: "+pf+"\n    numVfs: 2\n    vfs:\n"+
		"      - ids: \"0\"\n        mac: \"02:00:00:00:18:00\"\n        trust: true\n"+
		"      - ids: \"1\"\n        mac: \"02:00:00:00:18:01\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := "--state-dir=" + filepath.Join(dir, "state")
	plan := mustRun(t, sd, "plan", "-f", pol)
	if !strings.Contains(plan, "vf 0: netdevMac (a new VF's) -> 02:00:00:00:18:00") || strings.Contains(plan, "vf 0: driver") ||
		!strings.Contains(plan, "vf 1: driver igbvf -> (none)") {
		t.Fatalf("plan: want vf 0's netdev written and vf 1 reloaded:\n%s", plan)
	}
	mustRun(t, sd, "apply", "-f", pol, "--yes")
	for id, mac := range []string{"02:00:00:00:18:00", "02:00:00:00:18:01"} {
		if got := readSys("class/net/" + vfNetdev(id) + "/address"); got != mac {
			t.Errorf("vf %d: netdev %s carries %s, want %s", id, vfNetdev(id), got, mac)
		}
		if got := ipShow(t)[id].MAC; got != mac {
			t.Errorf("vf %d: admin MAC %s, want %s", id, got, mac)
		}
	}
	if out := mustRun(t, sd, "plan", "-f", pol); !strings.Contains(out, "no changes") {
		t.Errorf("plan after apply:\n%s", out)
	}
}
