package kernel

import (
	"context"
	"errors"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestMirrorRuleNeedsRepresentors: AddMirrorRule refuses before any netlink call when a member has no
// representor.
func TestMirrorRuleNeedsRepresentors(t *testing.T) {
	fs := newFakeSysfs(t)
	fs.addPF("eth0", "0000:01:00.0", 7, 0)
	nl := &fakeLinks{}
	h, err := newHost(Options{SysfsRoot: fs.root}, nl)
	if err != nil {
		t.Fatal(err)
	}
	pf := "eth0"
	err = h.AddMirrorRule(context.Background(), pf, sriov.MirrorRule{Name: "m", MAC: "02:00:00:00:00:01", VFs: []int{0, 1}})
	if !errors.Is(err, host.ErrNotSupported) {
		t.Fatalf("legacy PF: %v, want not supported", err)
	}
	nl.modes = map[string]string{"pci/0000:01:00.0": "switchdev"}
	for _, n := range []string{"phys_switch_id", "phys_port_name"} {
		fs.write("devices/pci0000:00/0000:01:00.0/net/eth0/"+n, map[string]string{"phys_switch_id": "01\n", "phys_port_name": "p0\n"}[n])
	}
	err = h.AddMirrorRule(context.Background(), pf, sriov.MirrorRule{Name: "m", MAC: "02:00:00:00:00:01", VFs: []int{0, 1}})
	if !errors.Is(err, host.ErrNotFound) {
		t.Fatalf("no representors: %v, want not found (ENODEV)", err)
	}
}

func TestMirrorRuleHandle(t *testing.T) {
	a, b := sriov.MirrorRuleHandle("tap"), sriov.MirrorRuleHandle("probe")
	if a == 0 || b == 0 || a == b || a != sriov.MirrorRuleHandle("tap") {
		t.Fatalf("handles %#x %#x", a, b)
	}
	r := sriov.MirrorRule{Name: sriov.MirrorRuleNameOf(a)}
	if !r.Named("tap") || r.Named("probe") {
		t.Fatal("Named by handle")
	}
}
