//go:build vmguest && linux

package kernel

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestGuestDevlinkPortsOnNetdevsim runs in the QEMU guest (test/vm/run.sh) on netdevsim in switchdev
// mode: the package's devlink port dump must agree with vishvananda/netlink's own parser on the fields
// that one decodes (index, flavour, netdev), and with sysfs on the ones it does not: each pcivf port's
// netdev has phys_port_name pf<pfnum>vf<vfnum>.
func TestGuestDevlinkPortsOnNetdevsim(t *testing.T) {
	if os.Getenv("SRIOVCTL_VM_GUEST") != "1" {
		t.Skip("guest only")
	}
	const id = 77
	if err := os.WriteFile("/sys/bus/netdevsim/new_device", []byte(fmt.Sprintf("%d 1", id)), 0); err != nil {
		t.Fatalf("netdevsim new_device: %v", err)
	}
	defer os.WriteFile("/sys/bus/netdevsim/del_device", []byte(fmt.Sprint(id)), 0)
	dev := fmt.Sprintf("netdevsim%d", id)
	var pf string
	for deadline := time.Now().Add(10 * time.Second); pf == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ents, _ := os.ReadDir("/sys/bus/netdevsim/devices/" + dev + "/net"); len(ents) > 0 {
			pf = ents[0].Name()
		}
	}
	if err := os.WriteFile("/sys/bus/netdevsim/devices/"+dev+"/sriov_numvfs", []byte("3"), 0); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetEswitchMode(t.Context(), pf, "switchdev"); err != nil {
		t.Fatal(err)
	}
	ours, err := h.nl.DevlinkPorts()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := netlink.DevLinkGetAllPortList()
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[int]*netlink.DevlinkPort{}
	for _, p := range theirs {
		if p.DeviceName == dev {
			byIndex[int(p.PortIndex)] = p
		}
	}
	vfs := 0
	for _, p := range ours {
		if p.Dev != dev {
			continue
		}
		t.Logf("port %+v", p)
		q := byIndex[p.Index]
		if q == nil || q.BusName != p.Bus || int(q.PortFlavour) != p.Flavour || q.NetdeviceName != p.Netdev || int(q.NetdevIfIndex) != p.Ifindex {
			t.Errorf("port %d: ours %+v, vishvananda/netlink's %+v", p.Index, p, q)
		}
		if p.Flavour == devlinkPortFlavourPCIVF {
			vfs++
			if got := sysStr(h.netDir(p.Netdev) + "/phys_port_name"); got != fmt.Sprintf("pf%dvf%d", p.PFNum, p.VFNum) {
				t.Errorf("port %d (pf %d vf %d): netdev %s has phys_port_name %q", p.Index, p.PFNum, p.VFNum, p.Netdev, got)
			}
		}
	}
	if vfs != 3 || len(byIndex) != 4 {
		t.Fatalf("%d pcivf ports of %d ports, want 3 of 4", vfs, len(byIndex))
	}
	e, err := h.resolvePF("test", pf)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := h.representors("test", e)
	if err != nil || len(reps) != 3 {
		t.Fatalf("representors %v, %v", reps, err)
	}
}
