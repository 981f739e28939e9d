//go:build vmguest

package guest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestIGBVFLinkCycleMAC records how igbvf's netdev can take an admin MAC set while igbvf is bound without
// a driver reload (issue 16), and why sriovctl still reloads (docs/kernel-backend.md, "Admin MAC on
// igbvf"). A VF reset (igbvf_down: `ip link set VF down`) asks the PF for the VF's MAC, then announces the
// netdev's current MAC to the PF; igb refuses that from an untrusted VF that has an admin MAC, and igbvf
// falls back to the PF's. A trusted VF's announcement is accepted: the admin MAC is lost. The last part
// logs (does not assert) the cost of 7 link cycles against 7 reloads, each 7 run in parallel.
//
// Under load a VF reset sometimes finds igb busy ("PF still resetting" in the kernel log) and changes
// nothing; a step that fails with such a notice logged during it is tried once more.
func TestIGBVFLinkCycleMAC(t *testing.T) {
	const vfs = 7
	setNumVFs(t, 0)
	setNumVFs(t, vfs)
	t.Cleanup(func() { // the drivers' own account (their notices do not reach the console)
		if t.Failed() {
			for _, l := range strings.Split(kernelLog(), "\n") {
				if strings.Contains(l, "igb") || strings.Contains(l, "Reload") {
					t.Log(l)
				}
			}
		}
	})
	netdevMAC := func(id int) string { return readSys("class/net/" + vfNetdev(id) + "/address") }
	adminMAC := func(id int) string { return ipShow(t)[id].MAC }
	ip := func(args ...string) error {
		if out, err := runIP(args...); err != nil {
			return fmt.Errorf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	vfIP := func(id int, args ...string) error {
		return ip(append([]string{"link", "set", pf, "vf", fmt.Sprint(id)}, args...)...)
	}
	setLink := func(id int, up bool) error {
		l, err := netlink.LinkByName(vfNetdev(id))
		if err == nil && up {
			err = netlink.LinkSetUp(l)
		} else if err == nil {
			err = netlink.LinkSetDown(l)
		}
		return err
	}
	setAddr := func(id int, mac string) error {
		hw, _ := net.ParseMAC(mac)
		l, err := netlink.LinkByName(vfNetdev(id))
		if err != nil {
			return err
		}
		return netlink.LinkSetHardwareAddr(l, hw)
	}
	addr := func(id int) string { return linkName(pfDev(fmt.Sprintf("virtfn%d", id))) }
	reload := func(id int) error {
		if err := os.WriteFile("/sys/bus/pci/drivers/igbvf/unbind", []byte(addr(id)), 0o200); err != nil {
			return err
		}
		return os.WriteFile("/sys/bus/pci/drivers/igbvf/bind", []byte(addr(id)), 0o200)
	}
	// all runs fs in order and stops at the first error.
	all := func(fs ...func() error) error {
		for _, f := range fs {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
	want := func(id int, netdev, admin string) func() error {
		return func() error {
			if n, a := netdevMAC(id), adminMAC(id); n != netdev || a != admin {
				return fmt.Errorf("vf %d: netdev MAC %s, admin MAC %s; want %s, %s", id, n, a, netdev, admin)
			}
			return nil
		}
	}
	link := func(id int, up bool) func() error { return func() error { return setLink(id, up) } }
	admin := func(id int, mac string) func() error { return func() error { return vfIP(id, "mac", mac) } }
	trust := func(id int, on bool) func() error { return func() error { return vfIP(id, "trust", onOff(on)) } }

	steps := []struct {
		name string
		run  func() error
	}{
		{"untrusted, netdev up: down takes the admin MAC, up keeps it, the name stays", func() error {
			name := vfNetdev(0)
			return all(link(0, true), admin(0, "02:00:00:00:c0:01"),
				func() error {
					if netdevMAC(0) == "02:00:00:00:c0:01" {
						return errors.New("the netdev took the admin MAC without a reset")
					}
					return nil
				},
				link(0, false), want(0, "02:00:00:00:c0:01", "02:00:00:00:c0:01"),
				link(0, true), want(0, "02:00:00:00:c0:01", "02:00:00:00:c0:01"),
				func() error {
					if vfNetdev(0) != name {
						return fmt.Errorf("netdev renamed %s -> %s", name, vfNetdev(0))
					}
					return nil
				})
		}},
		{"untrusted, netdev down: up alone keeps the old MAC (open does not reset), down then takes it", func() error {
			var old string
			return all(link(1, false), func() error { old = netdevMAC(1); return nil }, admin(1, "02:00:00:00:c1:01"),
				link(1, true), func() error { return want(1, old, "02:00:00:00:c1:01")() },
				link(1, false), want(1, "02:00:00:00:c1:01", "02:00:00:00:c1:01"))
		}},
		{"trusted, netdev down: up+down keeps the netdev's MAC and igb takes it as the admin MAC", func() error {
			var old string
			return all(link(2, false), func() error { old = netdevMAC(2); return nil }, trust(2, true),
				admin(2, "02:00:00:00:c2:01"), link(2, true), link(2, false),
				func() error { return want(2, old, old)() }, trust(2, false))
		}},
		{"trusted, netdev up, sriovctl's order: unbind, admin MAC, bind", func() error {
			return all(trust(3, true), link(3, true),
				func() error { return os.WriteFile("/sys/bus/pci/drivers/igbvf/unbind", []byte(addr(3)), 0o200) },
				admin(3, "02:00:00:00:c3:01"),
				func() error { return os.WriteFile("/sys/bus/pci/drivers/igbvf/bind", []byte(addr(3)), 0o200) },
				want(3, "02:00:00:00:c3:01", "02:00:00:00:c3:01"), trust(3, false))
		}},
		{"after a reset, the netdev's own address: untrusted refused, trusted taken as the admin MAC too", func() error {
			return all(admin(4, "02:00:00:00:c4:01"), link(4, true), link(4, false),
				want(4, "02:00:00:00:c4:01", "02:00:00:00:c4:01"),
				func() error {
					if err := setAddr(4, "02:00:00:00:c4:02"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
						return fmt.Errorf("untrusted address write: %v, want EADDRNOTAVAIL", err)
					}
					return nil
				},
				want(4, "02:00:00:00:c4:01", "02:00:00:00:c4:01"),
				trust(4, true), func() error { return setAddr(4, "02:00:00:00:c4:03") },
				want(4, "02:00:00:00:c4:03", "02:00:00:00:c4:03"), trust(4, false))
		}},
	}
	for _, s := range steps {
		for attempt := 1; ; attempt++ {
			busy := resetNotices()
			err := s.run()
			if err == nil {
				break
			}
			if attempt == 1 && resetNotices() > busy {
				t.Logf("%s: %v, with igbvf reporting a busy PF: once more", s.name, err)
				continue
			}
			t.Errorf("%s: %v", s.name, err)
			break
		}
	}

	// Logged only: a VF whose igbvf has not been reset since the VF was created. Observed: its probe ran
	// while igb was still resetting for the new VFs ("PF still in reset state"), which leaves igbvf's
	// mailbox off until a reset, so an address write changes the netdev alone.
	err := all(admin(5, "02:00:00:00:c5:01"), func() error { return setAddr(5, "02:00:00:00:c5:02") })
	t.Logf("vf 5, not reset since its creation, untrusted, admin MAC 02:00:00:00:c5:01, netdev address write of 02:00:00:00:c5:02: %v; netdev %s, admin %s",
		err, netdevMAC(5), adminMAC(5))

	// Cost, logged: 7 untrusted VFs, netdevs down, each given a new admin MAC, then up+down per VF or
	// unbind+bind per VF, the VFs in parallel; then (trusted) the netdev address writes one after another.
	ways := []struct {
		name string
		f    func(int) error
	}{
		{"link cycle (up+down)", func(id int) error { return all(link(id, true), link(id, false)) }},
		{"unbind+bind", reload},
	}
	times := make([][]time.Duration, len(ways))
	for rep := range 3 {
		for w, way := range ways {
			for id := range vfs {
				if err := all(link(id, false), admin(id, fmt.Sprintf("02:00:00:%02x:%02x:%02x", rep, w, id))); err != nil {
					t.Fatal(err)
				}
			}
			busy := resetNotices()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, vfs)
			for id := range vfs {
				wg.Go(func() { errs[id] = way.f(id) })
			}
			wg.Wait()
			times[w] = append(times[w], time.Since(start))
			for id := range vfs {
				if errs[id] != nil {
					t.Fatalf("%s vf %d: %v", way.name, id, errs[id])
				}
				if mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", rep, w, id); netdevMAC(id) != mac {
					if resetNotices() > busy {
						t.Logf("%s vf %d: netdev MAC %s, not %s, with igbvf reporting a busy PF", way.name, id, netdevMAC(id), mac)
					} else {
						t.Errorf("%s vf %d: netdev MAC %s, want %s", way.name, id, netdevMAC(id), mac)
					}
				}
			}
		}
	}
	for w, way := range ways {
		slices.Sort(times[w])
		t.Logf("7 VFs in parallel, %s: median %v of %v", way.name, times[w][len(times[w])/2], times[w])
	}
	for id := range vfs {
		if err := all(trust(id, true), link(id, true), link(id, false)); err != nil { // a reset: mailboxes on
			t.Fatal(err)
		}
	}
	var writes []time.Duration
	for rep := range 3 {
		start := time.Now()
		for id := range vfs {
			if err := setAddr(id, fmt.Sprintf("02:00:00:%02x:aa:%02x", rep, id)); err != nil {
				t.Fatalf("trusted vf %d: address write: %v", id, err)
			}
		}
		writes = append(writes, time.Since(start))
	}
	slices.Sort(writes)
	t.Logf("7 trusted VFs, netdev address writes one after another: median %v of %v", writes[1], writes)
	for id := range vfs {
		if err := trust(id, false)(); err != nil {
			t.Fatal(err)
		}
	}
}

// kernelLog is the kernel's log buffer (busybox dmesg), or "" when it cannot be read.
func kernelLog() string {
	out, err := exec.Command("dmesg").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// resetNotices counts igbvf's notices that a VF reset or probe found igb still resetting: such a reset
// changes nothing (the netdev keeps its MAC, the mailbox stays off).
func resetNotices() int {
	l := kernelLog()
	return strings.Count(l, "PF still resetting") + strings.Count(l, "PF still in reset state")
}
