//go:build vmguest && linux

package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sriovctl/sriovctl/internal/rawframe"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// guestPF opens the kernel backend in the QEMU guest (skipping elsewhere) and gives its igb PF n fresh
// VFs, removed when the test ends.
func guestPF(t *testing.T, n int) (*Host, string) {
	t.Helper()
	if os.Getenv("SRIOVCTL_VM_GUEST") != "1" {
		t.Skip("guest only")
	}
	h, err := New(Options{WaitTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := h.pfNames()
	pf := names[0]
	ctx := t.Context()
	if err := h.SetNumVFs(ctx, pf, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.SetNumVFs(ctx, pf, n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.SetNumVFs(context.Background(), pf, 0) })
	return h, pf
}

// TestGuestMirrorRuleNetlink runs in the QEMU guest (test/vm/run.sh). igb has no switchdev mode, so VF
// netdevs stand in for representors: the tc half of AddMirrorRule (installMirror) must install flower +
// mirred filters the kernel accepts, read back as the same rule, that really mirror — a frame from the
// wire tap to the rule's MAC reaches the PF (igb's default pool) and leaves again on both members'
// netdevs — and that removeMirror deletes.
func TestGuestMirrorRuleNetlink(t *testing.T) {
	h, pf := guestPF(t, 3)
	var err error
	reps := map[int]string{}
	for id := 0; id < 3; id++ {
		ents, _ := os.ReadDir(fmt.Sprintf("%s/class/net/%s/device/virtfn%d/net", h.sys, pf, id))
		if len(ents) == 0 {
			t.Fatalf("VF %d has no netdev", id)
		}
		reps[id] = ents[0].Name()
	}
	wire := ""
	ents, _ := os.ReadDir(h.sys + "/class/net")
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("%s/class/net/%s/device/driver", h.sys, e.Name())); l != "" && l[len(l)-5:] == "e1000" {
			wire = e.Name()
		}
	}
	for _, dev := range append([]string{pf, wire}, reps[0], reps[1], reps[2]) {
		if dev == "" {
			continue
		}
		if l, err := netlink.LinkByName(dev); err == nil {
			netlink.LinkSetUp(l)
		}
	}
	// mirred sends on the members' netdevs: they need link, and the PF must be done resetting.
	for _, dev := range []string{pf, reps[0], reps[1], reps[2]} {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if c, _ := readString(h.sys + "/class/net/" + dev + "/carrier"); c == "1" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		c, _ := readString(h.sys + "/class/net/" + dev + "/carrier")
		t.Logf("%s carrier %s", dev, c)
	}
	rule := sriov.MirrorRule{Name: "guest", MAC: "02:00:00:00:dd:01", VFs: []int{0, 1}}
	if err := h.installMirror(pf, reps, rule); err != nil {
		t.Fatalf("installMirror: %v (are sch_ingress, cls_flower, act_mirred loaded?)", err)
	}
	got, err := h.listMirror(pf, reps)
	want := []sriov.MirrorRule{{Name: sriov.MirrorRuleNameOf(sriov.MirrorRuleHandle("guest")), MAC: rule.MAC, VFs: []int{0, 1}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("listMirror: %+v %v, want %+v", got, err, want)
	}
	if !got[0].Named("guest") {
		t.Errorf("rule read back is not Named(guest): %+v", got[0])
	}
	if err := h.installMirror(pf, reps, rule); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("installing the rule twice: %v, want EEXIST", err)
	}
	if wire != "" {
		marker := []byte("sriovctl-tc-mirror")
		caps := map[int]*rawframe.Capture{}
		pfCap, err := rawframe.Listen(pf, marker)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []int{0, 1, 2} {
			if caps[id], err = rawframe.Listen(reps[id], marker); err != nil {
				t.Fatal(err)
			}
		}
		frame, _ := rawframe.Build(rule.MAC, "52:54:00:00:00:99", 0, marker)
		for i := 0; i < 3; i++ {
			if err := rawframe.Send(wire, frame); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
		in, _ := pfCap.Stop()
		t.Logf("the PF %s received %d of 3 frames", pf, in)
		for id, c := range caps {
			_, out := c.Stop()
			t.Logf("VF %d netdev %s sent %d mirrored copies", id, reps[id], out)
			if (id < 2) != (out > 0) {
				t.Errorf("VF %d netdev %s sent %d mirrored copies; want copies on the members (0, 1) only", id, reps[id], out)
			}
		}
	} else {
		t.Log("no wire tap: mirroring itself not exercised")
	}
	if err := h.removeMirror(pf, reps, "guest"); err != nil {
		t.Fatalf("removeMirror: %v", err)
	}
	if got, _ := h.listMirror(pf, reps); len(got) != 0 {
		t.Errorf("rules left: %+v", got)
	}
	if err := h.removeMirror(pf, reps, "guest"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("removing twice: %v, want ENOENT", err)
	}
}
