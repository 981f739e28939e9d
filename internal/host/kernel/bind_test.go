package kernel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
)

// fakeKernel gives a fake sysfs the side effects of the kernel's driver-binding files: unbind removes
// the driver (and the netdev), drivers_probe binds driver_override's driver (igbvf without one) and,
// for drivers in netdevs, creates the VF's netdev. Drivers in refuse do not bind.
type fakeKernel struct {
	f       *fakeSysfs
	netdevs map[string]bool
	refuse  map[string]bool
}

func (k *fakeKernel) devDir(addr string) string {
	return filepath.Join(k.f.root, "devices/pci0000:00", addr)
}

func (k *fakeKernel) write(path, value string) error {
	switch {
	case strings.HasSuffix(path, "/driver_override"):
		if value == "" {
			value = noOverride
		}
		return os.WriteFile(path, []byte(value+"\n"), 0o644)
	case strings.HasSuffix(path, "/unbind"):
		dir := k.devDir(value)
		if err := os.Remove(filepath.Join(dir, "driver")); err != nil {
			return syscall.ENODEV
		}
		return os.RemoveAll(filepath.Join(dir, "net"))
	case strings.HasSuffix(path, "/drivers_probe"):
		dir := k.devDir(value)
		drv, _ := readString(filepath.Join(dir, "driver_override"))
		if drv == noOverride || drv == "" {
			drv = "igbvf"
		}
		if k.refuse[drv] {
			return nil // the probe failed: nothing bound (the write itself succeeds)
		}
		if err := os.Symlink("../../../bus/pci/drivers/"+drv, filepath.Join(dir, "driver")); err != nil {
			return err
		}
		if k.netdevs[drv] {
			return os.MkdirAll(filepath.Join(dir, "net", "vfnet0"), 0o755)
		}
		return nil
	}
	return writeSysfs(path, value)
}

func TestBindVFOutcomes(t *testing.T) {
	const vf = "devices/pci0000:00/0000:01:10.0"
	for _, c := range []struct {
		name     string
		from     string // the VF's driver before
		override string
		to       string
		netdevs  map[string]bool
		refuse   map[string]bool
		outcome  host.Outcome
		errText  string
		driver   string // bound after
		wantOver string // driver_override after
		fast     bool   // must not wait for a netdev
	}{
		{name: "to vfio-pci", from: "igbvf", to: "vfio-pci", netdevs: map[string]bool{"igbvf": true},
			outcome: host.Confirmed, driver: "vfio-pci", wantOver: "vfio-pci", fast: true},
		{name: "unbind clears the override", from: "vfio-pci", override: "vfio-pci", to: "",
			outcome: host.Confirmed, driver: "", wantOver: noOverride, fast: true},
		{name: "unknown driver without netdevs is not waited for", from: "igbvf", to: "mlx5_vfio_pci",
			outcome: host.Confirmed, driver: "mlx5_vfio_pci", wantOver: "mlx5_vfio_pci", fast: true},
		{name: "igbvf without a netdev: written, unconfirmed", from: "", to: "igbvf",
			outcome: host.Unconfirmed, errText: "no netdev after", driver: "igbvf", wantOver: "igbvf"},
		{name: "unknown driver that makes netdevs elsewhere is waited for", from: "", to: "acme_net",
			outcome: host.Unconfirmed, errText: "no netdev after", driver: "acme_net", wantOver: "acme_net"},
		{name: "probe refused, rebound to the old driver", from: "igbvf", to: "vfio-pci", netdevs: map[string]bool{"igbvf": true},
			refuse: map[string]bool{"vfio-pci": true}, outcome: host.NotWritten, errText: "rebound to igbvf", driver: "igbvf", wantOver: noOverride},
		{name: "probe refused on a VF without driver", from: "", to: "vfio-pci",
			refuse: map[string]bool{"vfio-pci": true}, outcome: host.NotWritten, errText: "did not bind", driver: "", wantOver: noOverride},
		{name: "probe refused and the old driver refuses too", from: "igbvf", to: "vfio-pci",
			refuse: map[string]bool{"vfio-pci": true, "igbvf": true}, outcome: host.Unconfirmed, errText: "did not bind", driver: "", wantOver: noOverride},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("eth0", "0000:01:00.0", 7, 1)
			for _, d := range []string{"vfio-pci", "mlx5_vfio_pci", "acme_net"} {
				f.mkdir("bus/pci/drivers/" + d)
			}
			// acme_net drives another device that has a netdev.
			f.link("../../../../devices/pci0000:00/0000:05:00.0", "bus/pci/drivers/acme_net/0000:05:00.0")
			f.mkdir("devices/pci0000:00/0000:05:00.0/net/acme0")
			f.addVF("0000:01:00.0", 0, "0000:01:10.0", c.from, "")
			if c.override != "" {
				f.write(vf+"/driver_override", c.override+"\n")
			}
			f.link("../../../kernel/iommu_groups/7", vf+"/iommu_group")
			h, _ := newHost(Options{SysfsRoot: f.root, WaitTimeout: 300 * time.Millisecond}, &fakeLinks{})
			k := &fakeKernel{f: f, netdevs: c.netdevs, refuse: c.refuse}
			h.write = k.write
			start := time.Now()
			err := h.BindVF(context.Background(), "eth0", 0, c.to)
			if got := host.OutcomeOf(err); got != c.outcome || (c.errText != "" && !strings.Contains(err.Error(), c.errText)) {
				t.Fatalf("got %v (%v), want %v and %q", err, got, c.outcome, c.errText)
			}
			if got := linkBase(filepath.Join(f.root, vf, "driver")); got != c.driver {
				t.Errorf("bound to %q, want %q", got, c.driver)
			}
			if got := f.read(vf + "/driver_override"); got != c.wantOver {
				t.Errorf("driver_override %q, want %q", got, c.wantOver)
			}
			if d := time.Since(start); c.fast && d >= 300*time.Millisecond {
				t.Errorf("took %s: waited for a netdev that never comes", d)
			}
		})
	}
}

func TestMakesNetdevs(t *testing.T) {
	f := newFakeSysfs(t)
	f.mkdir("bus/pci/drivers/vfio-pci")
	f.link("../../../../devices/pci0000:00/0000:05:00.0", "bus/pci/drivers/vfio-pci/0000:05:00.0")
	f.mkdir("devices/pci0000:00/0000:05:00.0")
	f.mkdir("bus/pci/drivers/acme_net")
	f.link("../../../../devices/pci0000:00/0000:06:00.0", "bus/pci/drivers/acme_net/0000:06:00.0")
	f.mkdir("devices/pci0000:00/0000:06:00.0/net/acme0")
	h := &Host{sys: f.root}
	for drv, want := range map[string]bool{"igbvf": true, "iavf": true, "mlx5_core": true, "vfio-pci": false,
		"mlx5_vfio_pci": false, "pci-stub": false, "acme_net": true, "never_loaded": false} {
		if got := h.makesNetdevs(drv); got != want {
			t.Errorf("makesNetdevs(%s) = %v, want %v", drv, got, want)
		}
	}
}

// A PF is resolved once per Host; when the kernel says the cached ifindex is gone (the driver was
// reloaded, the netdev recreated) the Host resolves it again and retries the write once.
func TestPFCacheInvalidatedOnENODEV(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 1)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "", "")
	nl := &fakeLinks{fail: map[string]error{"trust 10 ": syscall.ENODEV}}
	h, _ := newHost(Options{SysfsRoot: f.root}, nl)
	ctx := context.Background()
	if err := h.SetVFSpoofCheck(ctx, "0000:01:00.0", 0, true); err != nil { // resolved by PCI address
		t.Fatal(err)
	}
	f.write("class/net/eth0/ifindex", "42\n") // recreated with a new ifindex
	if err := h.SetVFTrust(ctx, "eth0", 0, true); err != nil {
		t.Fatalf("trust after the ifindex changed: %v", err)
	}
	want := []string{"spoofchk 10 0 true", "trust 10 0 true", "trust 42 0 true"}
	if strings.Join(nl.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls %v, want %v", nl.calls, want)
	}
	// A PF that is really gone: the kernel's ENODEV, once.
	nl.calls = nil
	nl.fail = map[string]error{"mac": syscall.ENODEV}
	err := h.SetVFMAC(ctx, "eth0", 0, "02:00:00:00:00:01")
	if !errors.Is(err, syscall.ENODEV) || len(nl.calls) != 1 {
		t.Errorf("got %v after %v", err, nl.calls)
	}
}
