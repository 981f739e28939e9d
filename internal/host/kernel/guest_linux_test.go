//go:build vmguest && linux

package kernel

import (
	"testing"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestGuestRawReaderMatchesNetlink runs in the QEMU guest (test/vm/run.sh) on the real igb driver: the
// lenient raw RTM_GETLINK reader used for PFs with very many VFs must read what vishvananda/netlink
// reads.
func TestGuestRawReaderMatchesNetlink(t *testing.T) {
	h, pf := guestPF(t, 3)
	ctx := t.Context()
	for _, err := range []error{
		h.SetVFMAC(ctx, pf, 1, "02:00:00:00:01:01"),
		h.SetVFVLAN(ctx, pf, 1, 42, 5, sriov.VLANProto8021Q),
		h.SetVFSpoofCheck(ctx, pf, 2, false),
		h.SetVFTrust(ctx, pf, 2, true),
		h.SetVFRate(ctx, pf, 0, 0, 300),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	viaLib, err := rtnl{}.VFInfo(pf)
	if err != nil {
		t.Fatal(err)
	}
	viaRaw, err := rawVFInfo(pf)
	if err != nil {
		t.Fatal(err)
	}
	if len(viaLib) != 3 || len(viaRaw) != 3 {
		t.Fatalf("netlink %d VFs, raw %d", len(viaLib), len(viaRaw))
	}
	for i := range viaLib {
		if viaLib[i] != viaRaw[i] {
			t.Errorf("VF %d: netlink %+v\nraw     %+v", i, viaLib[i], viaRaw[i])
		}
	}
	t.Logf("VF 1 %+v", viaRaw[1])
}
