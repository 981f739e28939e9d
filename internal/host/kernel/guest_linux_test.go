//go:build vmguest && linux

package kernel

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// recorder is an nlTransport that keeps every datagram it received.
type recorder struct {
	nlTransport
	got [][]byte
}

func (r *recorder) recv() ([]byte, error) {
	d, err := r.nlTransport.recv()
	if err == nil {
		r.got = append(r.got, d)
	}
	return d, err
}

// TestGuestVFReaderMatchesNetlink runs in the QEMU guest (test/vm/run.sh) on the real igb driver: the
// package's own RTM_GETLINK reader (with IFLA_VF_STATS skipped) must read what vishvananda/netlink's parser
// reads from a full answer. It logs the kernel's answer as a "RECORDED" hex line: testdata/igb-3vfs.hex is
// such a recording, which TestRecordedIgbAnswer replays outside the guest.
func TestGuestVFReaderMatchesNetlink(t *testing.T) {
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
	e, err := h.resolvePF("test", pf)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	r := newRtnl(func() (nlTransport, error) {
		s, err := openNLSocket(nlTimeout)
		rec.nlTransport = s
		return rec, err
	})
	ours, err := r.VFInfo(e.ifindex, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RECORDED igb-3vfs %s", hex.EncodeToString(rec.got[0]))
	link, err := netlink.LinkByIndex(e.ifindex)
	if err != nil {
		t.Fatal(err)
	}
	lib := link.Attrs().Vfs
	if len(ours.VFs) != 3 || len(lib) != 3 || ours.NumVFs != 3 {
		t.Fatalf("ours %d VFs (IFLA_NUM_VF %d), netlink %d", len(ours.VFs), ours.NumVFs, len(lib))
	}
	for i, v := range lib {
		want := sriov.DefaultVFConfig()
		want.MAC, want.VLAN, want.QoS, want.SpoofCheck = v.Mac.String(), v.Vlan, v.Qos, v.Spoofchk
		want.Trust = v.Trust == 1
		want.MinTxRateMbps, want.MaxTxRateMbps = int(v.MinTxRate), int(v.MaxTxRate)
		want.LinkState = linkStateName(v.LinkState)
		if ours.VFs[i].ID != v.ID || ours.VFs[i].Config != want || ours.VFs[i].Stats != nil {
			t.Errorf("VF %d: ours %+v\nnetlink %+v", i, ours.VFs[i], want)
		}
	}
	// Extended acks reach the error: igb refuses link state with EOPNOTSUPP.
	if err := h.SetVFLinkState(ctx, pf, 0, sriov.LinkStateEnable); !strings.Contains(err.Error(), "not supported") {
		t.Errorf("link state on igb: %v", err)
	}
}

// TestGuestVFStatsAndOverride: on igb (no IFLA_VF_STATS of its own) the counters of VFs on igbvf come from
// their netdevs and a VF on vfio-pci has none; unbinding a VF clears driver_override.
func TestGuestVFStatsAndOverride(t *testing.T) {
	h, pf := guestPF(t, 3)
	ctx := t.Context()
	if err := h.BindVF(ctx, pf, 1, "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	stats, err := h.VFStats(ctx, pf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := stats[1]; ok || len(stats) != 2 || stats[0].Source != "netdev" || stats[2].Source != "netdev" {
		t.Errorf("stats %+v: want VFs 0 and 2 from their netdevs, VF 1 absent", stats)
	}
	dir := h.vfDir(pf, 1)
	if err := h.BindVF(ctx, pf, 1, ""); err != nil {
		t.Fatal(err)
	}
	if o, _ := readString(filepath.Join(dir, "driver_override")); o != noOverride {
		t.Errorf("driver_override after unbind: %q", o)
	}
	// A reprobe now binds the default driver, not vfio-pci.
	if err := writeSysfs(filepath.Join(h.sys, "bus/pci/drivers_probe"), linkBase(dir)); err != nil {
		t.Fatal(err)
	}
	if d := linkBase(filepath.Join(dir, "driver")); d == "vfio-pci" {
		t.Errorf("reprobe bound %s", d)
	}
	if err := h.BindVF(ctx, pf, 1, "igbvf"); err != nil || host.OutcomeOf(err) != host.Confirmed {
		t.Fatal(err)
	}
	// Binding vfio-pci waits for no netdev and is confirmed at once.
	if err := h.BindVF(context.Background(), pf, 2, "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	if err := h.BindVF(ctx, pf, 2, "igbvf"); err != nil {
		t.Fatal(err)
	}
}
