package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func newLab(t *testing.T, nics ...NIC) *Lab {
	t.Helper()
	l, err := Init(filepath.Join(t.TempDir(), "lab"), nics)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pfOf(t *testing.T, l *Lab, name string) sriov.PF {
	t.Helper()
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := st.FindPF(name)
	if p == nil {
		t.Fatalf("no PF %s", name)
	}
	return *p
}

func wantErr(t *testing.T, err error, kind *host.Error, errno syscall.Errno, wording string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v: want kind %v", err, kind.Kind)
	}
	if errno != 0 && !errors.Is(err, errno) {
		t.Fatalf("error %v: want errno %v", err, errno)
	}
	if !strings.Contains(err.Error(), wording) {
		t.Fatalf("error %q: want wording %q", err, wording)
	}
}

func TestDefaultLab(t *testing.T) {
	l := newLab(t)
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, driver, vendor, device string
		total                        int
	}{
		{"ens1f0", "ixgbe", "8086", "10fb", 63},
		{"ens2f0", "i40e", "8086", "1572", 64},
		{"ens3f0", "ice", "8086", "159b", 256},
		{"ens4f0", "mlx5_core", "15b3", "1017", 16},
		{"ens5f0", "igb", "8086", "10c9", 7},
	}
	if len(st.PFs) != len(want) {
		t.Fatalf("%d PFs", len(st.PFs))
	}
	for i, w := range want {
		p := st.PFs[i]
		if p.Name != w.name || p.Driver != w.driver || p.VendorID != w.vendor || p.DeviceID != w.device || p.TotalVFs != w.total || p.NumVFs != 0 {
			t.Errorf("PF %d = %+v, want %+v", i, p, w)
		}
	}
}

func TestIGBLayoutMatchesRealDevice(t *testing.T) {
	l := newLab(t, NIC{Name: "eth0", Profile: "igb"})
	ctx := context.Background()
	if err := l.SetNumVFs(ctx, "eth0", 4); err != nil {
		t.Fatal(err)
	}
	p := pfOf(t, l, "eth0")
	// Observed on QEMU's 82576: PF 0000:01:00.0, VFs at offset 128 stride 2.
	wantAddr := []string{"0000:01:10.0", "0000:01:10.2", "0000:01:10.4", "0000:01:10.6"}
	if p.PCIAddress != "0000:01:00.0" {
		t.Fatalf("PF address %s", p.PCIAddress)
	}
	for i, v := range p.VFs {
		if v.PCIAddress != wantAddr[i] || v.Driver != "igbvf" || v.Netdev != "eth0v"+string(rune('0'+i)) {
			t.Errorf("vf %d = %+v", i, v)
		}
		if v.VFConfig != sriov.DefaultVFConfig() {
			t.Errorf("vf %d not default: %+v", i, v.VFConfig)
		}
	}
}

func TestNumVFsKernelRules(t *testing.T) {
	for _, prof := range ProfileNames() {
		t.Run(prof, func(t *testing.T) {
			l := newLab(t, NIC{Name: "p0", Profile: prof, TotalVFs: 8})
			ctx := context.Background()
			if err := l.SetNumVFs(ctx, "p0", 4); err != nil {
				t.Fatal(err)
			}
			if err := l.SetVFVLAN(ctx, "p0", 1, 100, 0, sriov.VLANProto8021Q); err != nil {
				t.Fatal(err)
			}
			wantErr(t, l.SetNumVFs(ctx, "p0", 2), host.ErrBusy, syscall.EBUSY, "4 VFs already enabled. Disable before enabling 2 VFs")
			if prof == "netdevsim" { // its busy check comes first; above max_vfs from 0: ENOMEM (observed)
				wantErr(t, l.SetNumVFs(ctx, "p0", 9), host.ErrBusy, syscall.EBUSY, "4 VFs already enabled")
			} else {
				wantErr(t, l.SetNumVFs(ctx, "p0", 9), host.ErrOutOfRange, syscall.ERANGE, "out of range")
			}
			if err := l.SetNumVFs(ctx, "p0", 4); err != nil {
				t.Fatalf("same value must be a no-op: %v", err)
			}
			if got := pfOf(t, l, "p0").VFs[1].VLAN; got != 100 {
				t.Fatalf("no-op resize lost config: vlan %d", got)
			}
			if err := l.SetNumVFs(ctx, "p0", 0); err != nil {
				t.Fatal(err)
			}
			if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
				t.Fatal(err)
			}
			if got := pfOf(t, l, "p0").VFs[1].VLAN; got != 0 {
				t.Fatalf("numvfs 0 must destroy VF configuration, vlan is %d", got)
			}
		})
	}
}

// TestDriverRefusals checks each profile's refusals with errno and wording.
func TestDriverRefusals(t *testing.T) {
	ctx := context.Background()
	type op func(l *Lab) error
	vlanAD := func(l *Lab) error { return l.SetVFVLAN(ctx, "p0", 0, 10, 0, sriov.VLANProto8021AD) }
	state := func(l *Lab) error { return l.SetVFLinkState(ctx, "p0", 0, sriov.LinkStateDisable) }
	minRate := func(l *Lab) error { return l.SetVFRate(ctx, "p0", 0, 10, 100) }
	rss := func(l *Lab) error { return l.SetVFQueryRSS(ctx, "p0", 0, true) }
	cases := []struct {
		profile string
		name    string
		do      op
		errno   syscall.Errno // 0 = accepted
		wording string
	}{
		{"igb", "802.1ad", vlanAD, syscall.EPROTONOSUPPORT, "Protocol not supported"},
		{"igb", "link state", state, syscall.EOPNOTSUPP, "igb: Operation not supported"},
		{"igb", "min rate", minRate, syscall.EINVAL, "igb"},
		{"igb", "query rss", rss, syscall.EOPNOTSUPP, "Operation not supported"},
		{"igb", "max rate above 1G link", func(l *Lab) error { return l.SetVFRate(ctx, "p0", 0, 0, 2000) }, syscall.EINVAL, "Invalid argument"},
		{"igb", "vlan 4095 accepted like the real driver", func(l *Lab) error { return l.SetVFVLAN(ctx, "p0", 0, 4095, 0, sriov.VLANProto8021Q) }, 0, ""},
		{"igb", "max rate", func(l *Lab) error { return l.SetVFRate(ctx, "p0", 0, 0, 100) }, 0, ""},
		{"igb", "trust", func(l *Lab) error { return l.SetVFTrust(ctx, "p0", 0, true) }, 0, ""},
		{"ice", "vlan 4095", func(l *Lab) error { return l.SetVFVLAN(ctx, "p0", 0, 4095, 0, sriov.VLANProto8021Q) }, syscall.EINVAL, "Invalid argument"},
		{"ice", "802.1ad", vlanAD, 0, ""},
		{"ice", "link state", state, 0, ""},
		{"ice", "min rate", minRate, 0, ""},
		{"ixgbe", "query rss", rss, 0, ""},
		{"ixgbe", "min rate", minRate, syscall.EINVAL, "ixgbe"},
		{"i40e", "query rss", rss, syscall.EOPNOTSUPP, "i40e"},
		{"mlx5", "802.1ad", vlanAD, 0, ""},
		{"mlx5", "qos 8", func(l *Lab) error { return l.SetVFVLAN(ctx, "p0", 0, 10, 8, sriov.VLANProto8021Q) }, syscall.EINVAL, "Invalid argument"},
		{"mlx5", "multicast mac", func(l *Lab) error { return l.SetVFMAC(ctx, "p0", 0, "01:00:5e:00:00:01") }, syscall.EINVAL, "Invalid argument"},
		{"mlx5", "vf beyond numvfs", func(l *Lab) error { return l.SetVFTrust(ctx, "p0", 5, true) }, syscall.EINVAL, "Invalid argument"},
		{"mlx5", "no such PF", func(l *Lab) error { return l.SetVFTrust(ctx, "nope", 0, true) }, syscall.ENODEV, "no PF"},
		{"mlx5", "unknown driver", func(l *Lab) error { return l.BindVF(ctx, "p0", 0, "e1000e") }, syscall.ENOENT, "not loaded"},
	}
	for _, c := range cases {
		t.Run(c.profile+"/"+c.name, func(t *testing.T) {
			l := newLab(t, NIC{Name: "p0", Profile: c.profile, TotalVFs: 4})
			if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(l.Dir(), dbFile))
			err := c.do(l)
			if c.errno == 0 {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want %v, accepted", c.errno)
			}
			wantErr(t, err, &host.Error{Kind: host.KindOf(c.errno)}, c.errno, c.wording)
			after, _ := os.ReadFile(filepath.Join(l.Dir(), dbFile))
			if string(before) != string(after) {
				t.Fatal("a refused operation changed the lab state")
			}
		})
	}
}

func TestDuplicateMACPerProfile(t *testing.T) {
	ctx := context.Background()
	for prof, refused := range map[string]bool{"igb": false, "ice": false, "ixgbe": false, "i40e": false, "mlx5": true} {
		t.Run(prof, func(t *testing.T) {
			l := newLab(t, NIC{Name: "p0", Profile: prof, TotalVFs: 4})
			if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
				t.Fatal(err)
			}
			if err := l.SetVFMAC(ctx, "p0", 0, "02:00:00:00:00:aa"); err != nil {
				t.Fatal(err)
			}
			err := l.SetVFMAC(ctx, "p0", 1, "02:00:00:00:00:aa")
			if refused {
				wantErr(t, err, host.ErrExists, syscall.EEXIST, "mac is already in use by vport")
			} else if err != nil {
				t.Fatalf("duplicate MAC refused: %v", err)
			}
		})
	}
}

func TestIGBAdminMACNeedsVFDriverReload(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "p0", Profile: "igb"}, NIC{Name: "p1", Profile: "ice"})
	for _, pf := range []string{"p0", "p1"} {
		if err := l.SetNumVFs(ctx, pf, 2); err != nil {
			t.Fatal(err)
		}
		if err := l.SetVFMAC(ctx, pf, 0, "02:00:00:00:00:01"); err != nil {
			t.Fatal(err)
		}
	}
	if got := pfOf(t, l, "p1").VFs[0].NetdevMAC; got != "02:00:00:00:00:01" {
		t.Errorf("ice netdev MAC %s: iavf takes the admin MAC at once", got)
	}
	if got := pfOf(t, l, "p0").VFs[0].NetdevMAC; got == "02:00:00:00:00:01" {
		t.Fatal("igb netdev took the admin MAC without a VF driver reload")
	}
	if err := l.BindVF(ctx, "p0", 0, ""); err != nil {
		t.Fatal(err)
	}
	if v := pfOf(t, l, "p0").VFs[0]; v.Netdev != "" || v.Driver != "" {
		t.Fatalf("unbound VF still has netdev: %+v", v)
	}
	if err := l.BindVF(ctx, "p0", 0, "igbvf"); err != nil {
		t.Fatal(err)
	}
	if got := pfOf(t, l, "p0").VFs[0].NetdevMAC; got != "02:00:00:00:00:01" {
		t.Fatalf("after reload netdev MAC %s", got)
	}
	if err := l.BindVF(ctx, "p0", 1, "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	if v := pfOf(t, l, "p0").VFs[1]; v.Netdev != "" || v.Driver != "vfio-pci" {
		t.Fatalf("vfio-pci VF: %+v", v)
	}
}

func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 4})
	if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
		t.Fatal(err)
	}
	if err := l.SetFault(FaultConfig{FailAt: 2, Errno: "EBUSY"}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetVFTrust(ctx, "p0", 0, true); err != nil {
		t.Fatalf("first op after fail-at 2 must pass: %v", err)
	}
	err := l.SetVFTrust(ctx, "p0", 1, true)
	wantErr(t, err, host.ErrBusy, syscall.EBUSY, "injected fault")
	if pfOf(t, l, "p0").VFs[1].Trust {
		t.Fatal("the failed op was applied")
	}
	if err := l.SetVFTrust(ctx, "p0", 1, true); err != nil {
		t.Fatalf("fault must fire once: %v", err)
	}
	if err := l.SetFault(FaultConfig{Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.SetVFTrust(ctx, "p0", 1, false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("delay not applied: %v", d)
	}
	if err := l.SetFault(FaultConfig{FailAt: 1, Errno: "EWHAT"}); err == nil {
		t.Fatal("unknown errno accepted")
	}
}

func TestRebootClearsVFs(t *testing.T) {
	ctx := context.Background()
	l := newLab(t)
	if err := l.SetNumVFs(ctx, "ens3f0", 8); err != nil {
		t.Fatal(err)
	}
	if err := l.Reboot(); err != nil {
		t.Fatal(err)
	}
	if n := pfOf(t, l, "ens3f0").NumVFs; n != 0 {
		t.Fatalf("after reboot numvfs %d", n)
	}
}

func TestConcurrentWritersAllLand(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 32})
	if err := l.SetNumVFs(ctx, "p0", 20); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// A separate Lab value per goroutine, as separate processes would have.
			other, err := Open(l.Dir())
			if err == nil {
				err = other.SetVFVLAN(ctx, "p0", i, 100+i, 0, sriov.VLANProto8021Q)
			}
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	for i, v := range pfOf(t, l, "p0").VFs {
		if v.VLAN != 100+i {
			t.Errorf("vf %d vlan %d: a concurrent write was lost", i, v.VLAN)
		}
	}
}

func TestParseNIC(t *testing.T) {
	n, err := ParseNIC("eth0=ice:32")
	if err != nil || n.Name != "eth0" || n.Profile != "ice" || n.TotalVFs != 32 {
		t.Fatalf("%+v %v", n, err)
	}
	for _, bad := range []string{"eth0", "eth0=foo", "eth0=igb:0", "eth0=igb:99999", "averyveryverylongname=igb"} {
		if _, err := ParseNIC(bad); err == nil || !strings.Contains(err.Error(), "--nic") {
			t.Errorf("ParseNIC(%q) = %v", bad, err)
		}
	}
}

// TestNetdevsimProfile: a lab PF with the netdevsim profile answers as the real driver does (test/vm):
// ENOMEM above the maximum from 0 VFs, and VFs without PCI address or netdev, spoof checking off.
func TestNetdevsimProfile(t *testing.T) {
	l := newLab(t, NIC{Name: "eth0", Profile: "netdevsim"})
	ctx := context.Background()
	wantErr(t, l.SetNumVFs(ctx, "eth0", 5), host.ErrFailed, syscall.ENOMEM, "Cannot allocate memory")
	if err := l.SetNumVFs(ctx, "eth0", 4); err != nil {
		t.Fatal(err)
	}
	p := pfOf(t, l, "eth0")
	if !p.VFsHaveNoDevice || len(p.VFs) != 4 {
		t.Fatalf("PF %+v", p)
	}
	for _, v := range p.VFs {
		if v.PCIAddress != "" || v.Netdev != "" || v.Driver != "" || v.NetdevMAC != "" {
			t.Errorf("VF %d has device fields: %+v", v.ID, v)
		}
		if v.SpoofCheck {
			t.Errorf("fresh VF %d has spoof checking on; netdevsim's start off", v.ID)
		}
	}
}

// TestObservePF: one PF, by netdev name or PCI address, as Observe reports it; an unknown one is not
// found, not an error.
func TestObservePF(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "eth0", Profile: "ice"}, NIC{Name: "eth1", Profile: "igb"})
	if err := l.SetNumVFs(ctx, "eth1", 3); err != nil {
		t.Fatal(err)
	}
	if err := l.SetVFVLAN(ctx, "eth1", 2, 42, 0, sriov.VLANProto8021Q); err != nil {
		t.Fatal(err)
	}
	all, err := l.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := all.FindPF("eth1")
	for _, ref := range []string{"eth1", want.PCIAddress} {
		pf, ok, err := l.ObservePF(ctx, ref)
		if err != nil || !ok || !reflect.DeepEqual(pf, want) {
			t.Errorf("%s: %+v %v %v, want %+v", ref, pf, ok, err, want)
		}
	}
	if pf, ok, err := l.ObservePF(ctx, "eth9"); pf != nil || ok || err != nil {
		t.Errorf("unknown PF: %+v %v %v", pf, ok, err)
	}
}
