package kernel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestRepresentors: VF representors are found by the PF's phys_switch_id and pf<N>vf<M> port names.
func TestRepresentors(t *testing.T) {
	root := t.TempDir()
	netdev := func(name, switchID, portName string) {
		dir := filepath.Join(root, "class/net", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if switchID != "" {
			os.WriteFile(filepath.Join(dir, "phys_switch_id"), []byte(switchID+"\n"), 0o644)
		}
		if portName != "" {
			os.WriteFile(filepath.Join(dir, "phys_port_name"), []byte(portName+"\n"), 0o644)
		}
	}
	netdev("ens4f0", "aabbcc", "p0")
	netdev("ens4f0_0", "aabbcc", "pf0vf0")
	netdev("ens4f0_1", "aabbcc", "pf0vf1")
	netdev("ens4f1_0", "aabbcc", "pf1vf0") // the other PF's VF on the same switch
	netdev("eth9", "ddeeff", "pf0vf3")     // another switch
	netdev("ens5f0", "", "")               // legacy PF: no switch id
	h := &Host{sys: root}
	reps, err := h.representors("test", "ens4f0")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int]string{0: "ens4f0_0", 1: "ens4f0_1"}; !reflect.DeepEqual(reps, want) {
		t.Fatalf("representors %v, want %v", reps, want)
	}
	_, err = h.representors("test", "ens5f0")
	if !errors.Is(err, host.ErrNotSupported) || !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("legacy PF: %v, want EOPNOTSUPP", err)
	}
	if rules, err := h.observeMirrorRules("ens5f0"); rules != nil || err != nil {
		t.Fatalf("legacy PF: rules %v, error %v", rules, err)
	}
}

// TestMirrorRuleNeedsRepresentors: AddMirrorRule refuses before any netlink call when a member has no
// representor.
func TestMirrorRuleNeedsRepresentors(t *testing.T) {
	fs := newFakeSysfs(t)
	fs.addPF("eth0", "0000:01:00.0", 7, 0)
	h, err := newHost(Options{SysfsRoot: fs.root}, &fakeLinks{})
	if err != nil {
		t.Fatal(err)
	}
	pf := "eth0"
	err = h.AddMirrorRule(context.Background(), pf, sriov.MirrorRule{Name: "m", MAC: "02:00:00:00:00:01", VFs: []int{0, 1}})
	if !errors.Is(err, host.ErrNotSupported) {
		t.Fatalf("legacy PF: %v, want not supported", err)
	}
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
