package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// fakeSysfs builds a sysfs-like tree: devices under devices/pci0000:00/, class/net links, bus/pci
// drivers. Writes to sriov_numvfs only store the value; tests add VFs with addVF.
type fakeSysfs struct {
	t    testing.TB
	root string
}

func newFakeSysfs(t testing.TB) *fakeSysfs {
	f := &fakeSysfs{t: t, root: t.TempDir()}
	for _, d := range []string{"class/net", "bus/pci/drivers/igb", "bus/pci/drivers/igbvf", "devices/pci0000:00"} {
		f.mkdir(d)
	}
	f.write("bus/pci/drivers_probe", "")
	return f
}

func (f *fakeSysfs) mkdir(p string) {
	if err := os.MkdirAll(filepath.Join(f.root, p), 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSysfs) write(p, v string) {
	f.mkdir(filepath.Dir(p))
	if err := os.WriteFile(filepath.Join(f.root, p), []byte(v), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSysfs) read(p string) string {
	b, err := os.ReadFile(filepath.Join(f.root, p))
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (f *fakeSysfs) link(target, p string) {
	f.mkdir(filepath.Dir(p))
	if err := os.Symlink(target, filepath.Join(f.root, p)); err != nil {
		f.t.Fatal(err)
	}
}

// addPF adds a PF netdev; its ifindex is the count of netdevs so far + 10 (eth0 of a fresh tree: 10).
func (f *fakeSysfs) addPF(name, addr string, total, num int) {
	dev := "devices/pci0000:00/" + addr
	ents, _ := os.ReadDir(filepath.Join(f.root, "class/net"))
	f.write(dev+"/net/"+name+"/ifindex", fmt.Sprintf("%d\n", 10+len(ents)))
	f.link("../../../"+dev, "bus/pci/devices/"+addr)
	f.write(dev+"/vendor", "0x8086\n")
	f.write(dev+"/device", "0x10c9\n")
	f.write(dev+"/sriov_vf_device", "10ca\n")
	f.write(dev+"/sriov_totalvfs", fmt.Sprintf("%d\n", total))
	f.write(dev+"/sriov_numvfs", fmt.Sprintf("%d\n", num))
	f.link("../../../bus/pci/drivers/igb", dev+"/driver")
	f.write(dev+"/net/"+name+"/address", "52:54:00:12:34:56\n")
	f.write(dev+"/net/"+name+"/mtu", "1500\n")
	f.write(dev+"/net/"+name+"/operstate", "up\n")
	f.link("../../"+dev+"/net/"+name, "class/net/"+name)
	f.link("../../../"+addr, dev+"/net/"+name+"/device")
}

func (f *fakeSysfs) addVF(pfAddr string, id int, addr, driver, netdev string) {
	dev := "devices/pci0000:00/" + addr
	f.write(dev+"/vendor", "0x8086\n")
	f.write(dev+"/driver_override", "(null)\n")
	f.link("../"+pfAddr, dev+"/physfn")
	f.link(fmt.Sprintf("../%s", addr), fmt.Sprintf("devices/pci0000:00/%s/virtfn%d", pfAddr, id))
	if driver != "" {
		f.link("../../../bus/pci/drivers/"+driver, dev+"/driver")
		f.write("bus/pci/drivers/"+driver+"/unbind", "")
	}
	if netdev != "" {
		f.write(dev+"/net/"+netdev+"/address", "aa:bb:cc:00:00:0"+fmt.Sprint(id)+"\n")
		f.write(dev+"/net/"+netdev+"/ifindex", fmt.Sprintf("%d\n", 100+id))
		f.link("../../"+dev+"/net/"+netdev, "class/net/"+netdev)
	}
}

// fakeLinks is vfLinks answering from a table by ifindex, recording calls. Eswitch modes are by
// "bus/dev" ("legacy" when absent); ports is what the devlink port dump returns.
type fakeLinks struct {
	infos map[int][]vfInfo
	err   error
	calls []string
	fail  map[string]error
	modes map[string]string
	ports []devlinkPort
}

func (l *fakeLinks) VFInfo(ifindex int, withStats bool) (vfList, error) {
	l.calls = append(l.calls, fmt.Sprintf("get %d stats=%v", ifindex, withStats))
	return vfList{VFs: l.infos[ifindex], NumVFs: -1}, l.err
}
func (l *fakeLinks) EswitchMode(bus, dev string) string {
	if m, ok := l.modes[bus+"/"+dev]; ok {
		return m
	}
	return "legacy"
}
func (l *fakeLinks) SetEswitchMode(bus, dev, mode string) error {
	if err := l.set(fmt.Sprintf("eswitch %s/%s %s", bus, dev, mode)); err != nil {
		return err
	}
	if l.modes == nil {
		l.modes = map[string]string{}
	}
	l.modes[bus+"/"+dev] = mode
	return nil
}
func (l *fakeLinks) DevlinkPorts() ([]devlinkPort, error) { return l.ports, nil }
func (l *fakeLinks) set(what string) error {
	l.calls = append(l.calls, what)
	for k, err := range l.fail {
		if strings.HasPrefix(what, k) {
			return err
		}
	}
	return nil
}
func (l *fakeLinks) SetMAC(pf, vf int, mac string) error {
	return l.set(fmt.Sprintf("mac %d %d %s", pf, vf, mac))
}
func (l *fakeLinks) SetVLAN(pf, vf, vlan, qos int, p sriov.VLANProto) error {
	return l.set(fmt.Sprintf("vlan %d %d %d %d %s", pf, vf, vlan, qos, p))
}
func (l *fakeLinks) SetSpoofCheck(pf, vf int, on bool) error {
	return l.set(fmt.Sprintf("spoofchk %d %d %v", pf, vf, on))
}
func (l *fakeLinks) SetTrust(pf, vf int, on bool) error {
	return l.set(fmt.Sprintf("trust %d %d %v", pf, vf, on))
}
func (l *fakeLinks) SetLinkState(pf, vf int, s sriov.LinkState) error {
	return l.set(fmt.Sprintf("state %d %d %s", pf, vf, s))
}
func (l *fakeLinks) SetRate(pf, vf, lo, hi int) error {
	return l.set(fmt.Sprintf("rate %d %d %d %d", pf, vf, lo, hi))
}
func (l *fakeLinks) SetQueryRSS(pf, vf int, on bool) error {
	return l.set(fmt.Sprintf("rss %d %d %v", pf, vf, on))
}

// SetVFAttrs applies the groups in the kernel's order to the VF's entry in infos, stopping at the first
// whose name is a key of fail, as the kernel does.
func (l *fakeLinks) SetVFAttrs(pf, vf int, a host.VFAttrs) error {
	l.calls = append(l.calls, fmt.Sprintf("attrs %d %d %s", pf, vf, strings.Join(attrNames(a), ",")))
	var c *sriov.VFConfig
	for i := range l.infos[pf] {
		if l.infos[pf][i].ID == vf {
			c = &l.infos[pf][i].Config
		}
	}
	if c == nil {
		c = &sriov.VFConfig{}
	}
	for _, g := range []struct {
		name  string
		set   bool
		apply func()
	}{
		{"mac", a.MAC != nil, func() { c.MAC = *a.MAC }},
		{"vlan", a.VLAN != nil, func() { c.VLAN, c.QoS, c.VLANProto = a.VLAN.VLAN, a.VLAN.QoS, a.VLAN.Proto }},
		{"rate", a.Rate != nil, func() { c.MinTxRateMbps, c.MaxTxRateMbps = a.Rate.MinMbps, a.Rate.MaxMbps }},
		{"spoofchk", a.SpoofCheck != nil, func() { c.SpoofCheck = *a.SpoofCheck }},
		{"state", a.LinkState != nil, func() { c.LinkState = *a.LinkState }},
		{"rss", a.QueryRSS != nil, func() { c.QueryRSS = *a.QueryRSS }},
		{"trust", a.Trust != nil, func() { c.Trust = *a.Trust }},
	} {
		if !g.set {
			continue
		}
		if err := l.fail[g.name]; err != nil {
			return err
		}
		g.apply()
	}
	return nil
}

func cfg(mac string, vlan int) sriov.VFConfig {
	c := sriov.DefaultVFConfig()
	c.MAC, c.VLAN = mac, vlan
	return c
}

func TestNewWithoutPFsIsUnavailable(t *testing.T) {
	f := newFakeSysfs(t)
	f.write("class/net/lo/address", "00:00:00:00:00:00\n")
	_, err := newHost(Options{SysfsRoot: f.root}, &fakeLinks{})
	if !errors.Is(err, host.ErrUnavailable) || !strings.Contains(err.Error(), "--lab") {
		t.Fatalf("want ErrUnavailable with a --lab hint, got %v", err)
	}
}

func TestObserve(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 2)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "igbvf", "eth1")
	f.addVF("0000:01:00.0", 1, "0000:01:10.2", "", "")
	nl := &fakeLinks{infos: map[int][]vfInfo{10: {{0, cfg("02:00:00:00:00:01", 100), nil}, {1, cfg(sriov.ZeroMAC, 0), nil}}}}
	h, err := newHost(Options{SysfsRoot: f.root}, nl)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PFs) != 1 {
		t.Fatalf("PFs: %+v", st.PFs)
	}
	p := st.PFs[0]
	if p.Name != "eth0" || p.PCIAddress != "0000:01:00.0" || p.Driver != "igb" || p.VendorID != "8086" || p.DeviceID != "10c9" ||
		p.VFDeviceID != "10ca" || p.TotalVFs != 7 || p.NumVFs != 2 || p.MAC != "52:54:00:12:34:56" || p.MTU != 1500 || p.OperState != "up" || p.EswitchMode != "legacy" || p.VFInfoTruncated {
		t.Errorf("PF: %+v", p)
	}
	if len(p.VFs) != 2 {
		t.Fatalf("VFs: %+v", p.VFs)
	}
	v0, v1 := p.VFs[0], p.VFs[1]
	if v0.PCIAddress != "0000:01:10.0" || v0.Driver != "igbvf" || v0.Netdev != "eth1" || v0.NetdevMAC != "aa:bb:cc:00:00:00" || v0.MAC != "02:00:00:00:00:01" || v0.VLAN != 100 {
		t.Errorf("VF 0: %+v", v0)
	}
	if v1.PCIAddress != "0000:01:10.2" || v1.Driver != "" || v1.Netdev != "" || v1.MAC != sriov.ZeroMAC {
		t.Errorf("VF 1: %+v", v1)
	}
	if want := []string{"get 10 stats=false"}; !reflect.DeepEqual(nl.calls, want) {
		t.Errorf("want one RTM_GETLINK per PF without statistics, got %v", nl.calls)
	}
}

// TestObservePF: one PF, named by netdev or PCI address, is read with one RTM_GETLINK for it alone and
// reported as Observe reports it; an unknown name is not found, not an error.
func TestObservePF(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 1)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "igbvf", "eth1")
	f.addPF("eth2", "0000:02:00.0", 7, 1) // ifindex 12: class/net holds eth0 and the VF netdev eth1
	f.addVF("0000:02:00.0", 0, "0000:02:10.0", "", "")
	nl := &fakeLinks{infos: map[int][]vfInfo{
		10: {{0, cfg("02:00:00:00:00:01", 100), nil}},
		12: {{0, cfg("02:00:00:00:00:02", 200), nil}},
	}}
	h, err := newHost(Options{SysfsRoot: f.root}, nl)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all, err := h.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"eth2", "0000:02:00.0"} {
		nl.calls = nil
		pf, ok, err := h.ObservePF(ctx, ref)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, %v", ref, ok, err)
		}
		if want := all.FindPF("eth2"); !reflect.DeepEqual(pf, want) {
			t.Errorf("%s: %+v, want %+v", ref, pf, want)
		}
		if want := []string{"get 12 stats=false"}; !reflect.DeepEqual(nl.calls, want) {
			t.Errorf("%s: want one RTM_GETLINK for that PF, got %v", ref, nl.calls)
		}
	}
	if pf, ok, err := h.ObservePF(ctx, "eth9"); pf != nil || ok || err != nil {
		t.Errorf("unknown PF: %+v %v %v", pf, ok, err)
	}
	// ObserveOne falls back to the whole host for a name it does not know, so errors can list the PFs.
	if st, err := host.ObserveOne(ctx, h, "eth9"); err != nil || len(st.PFs) != 2 {
		t.Errorf("ObserveOne of an unknown PF: %+v %v", st, err)
	}
	if st, err := host.ObserveOne(ctx, h, "0000:01:00.0"); err != nil || len(st.PFs) != 1 || st.PFs[0].Name != "eth0" {
		t.Errorf("ObserveOne: %+v %v", st, err)
	}
}

// Without sriov_vf_device (older kernels) the VFs' device id comes from the first VF.
func TestObserveVFDeviceIDFromVF(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 1)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "", "")
	if err := os.Remove(filepath.Join(f.root, "devices/pci0000:00/0000:01:00.0/sriov_vf_device")); err != nil {
		t.Fatal(err)
	}
	f.write("devices/pci0000:00/0000:01:10.0/device", "0x10ca\n")
	nl := &fakeLinks{infos: map[int][]vfInfo{10: {{0, cfg(sriov.ZeroMAC, 0), nil}}}}
	h, err := newHost(Options{SysfsRoot: f.root}, nl)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.PFs[0].VFDeviceID; got != "10ca" {
		t.Errorf("VFDeviceID = %q, want 10ca", got)
	}
}

// A VF list shorter than the PF's VF count is the kernel's answer limit, an operational error (exit 1),
// never a short list that a planner would take for the host.
func TestObserveTruncatedVFInfoIsAnError(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 3)
	for i := 0; i < 3; i++ {
		f.addVF("0000:01:00.0", i, fmt.Sprintf("0000:01:10.%d", 2*i), "", "")
	}
	nl := &fakeLinks{infos: map[int][]vfInfo{10: {{0, cfg(sriov.ZeroMAC, 0), nil}, {1, cfg(sriov.ZeroMAC, 0), nil}}}}
	h, _ := newHost(Options{SysfsRoot: f.root}, nl)
	_, err := h.Observe(context.Background())
	if !errors.Is(err, host.ErrFailed) || !errors.Is(err, syscall.EMSGSIZE) || errors.Is(err, host.ErrInvalid) {
		t.Fatalf("got %v, want a KindFailed EMSGSIZE error", err)
	}
	for _, want := range []string{"reported 2 of 3 VFs", "65535 bytes", "observe eth0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestSetNumVFsWaitsForVFs(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 0)
	var progress []string
	h, _ := newHost(Options{SysfsRoot: f.root, WaitTimeout: 5 * time.Second,
		Progress: func(r, n int) { progress = append(progress, fmt.Sprintf("%d/%d", r, n)) }}, &fakeLinks{})
	go func() { // the "kernel" creates the VFs a little later, one by one
		for i := 0; i < 2; i++ {
			time.Sleep(120 * time.Millisecond)
			f.addVF("0000:01:00.0", i, fmt.Sprintf("0000:01:10.%d", 2*i), "", "")
		}
	}()
	if err := h.SetNumVFs(context.Background(), "0000:01:00.0", 2); err != nil {
		t.Fatal(err)
	}
	if got := f.read("devices/pci0000:00/0000:01:00.0/sriov_numvfs"); got != "2" {
		t.Errorf("numvfs file: %q", got)
	}
	if len(progress) < 2 || progress[0] != "0/2" || progress[len(progress)-1] != "2/2" {
		t.Errorf("progress: %v", progress)
	}
}

// The outcome of a numvfs write: refused (not written), or written but not confirmed (the wait for the
// VFs timed out or was cancelled), which callers must undo like a done write.
func TestSetNumVFsOutcome(t *testing.T) {
	for _, c := range []struct {
		name    string
		setup   func(f *fakeSysfs, h *Host) context.Context
		outcome host.Outcome
		is      error
		text    string
	}{
		{"timeout", func(f *fakeSysfs, h *Host) context.Context { return context.Background() },
			host.Unconfirmed, syscall.ETIMEDOUT, "0 of 1 VFs ready"},
		{"cancelled", func(f *fakeSysfs, h *Host) context.Context {
			// Cancelled once the write is made, during the wait (a timer could fire during the write itself
			// on a loaded machine, which is the other unconfirmed case).
			ctx, cancel := context.WithCancel(context.Background())
			h.write = func(path, v string) error {
				defer time.AfterFunc(20*time.Millisecond, cancel)
				return writeSysfs(path, v)
			}
			return ctx
		}, host.Unconfirmed, context.Canceled, "waiting for VFs"},
		{"refused", func(f *fakeSysfs, h *Host) context.Context {
			h.write = func(string, string) error { return syscall.ERANGE }
			return context.Background()
		}, host.NotWritten, host.ErrOutOfRange, "numerical result out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("eth0", "0000:01:00.0", 7, 0)
			var last int
			h, _ := newHost(Options{SysfsRoot: f.root, WaitTimeout: 300 * time.Millisecond, Progress: func(r, _ int) { last = r }}, &fakeLinks{})
			err := h.SetNumVFs(c.setup(f, h), "eth0", 1)
			if got := host.OutcomeOf(err); got != c.outcome || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v (%v), want %v, %v and %q", err, got, c.outcome, c.is, c.text)
			}
			if c.outcome == host.Unconfirmed && last != -1 {
				t.Errorf("last progress call %d, want -1 after a failed wait", last)
			}
		})
	}
}

// Removing VFs that vfio-pci hands to a VM blocks the sriov_numvfs write in the kernel until the VM lets
// go: the write is bounded, and the error says why and which VFs.
func TestSetNumVFsBlockedByVFIO(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 2)
	f.mkdir("bus/pci/drivers/vfio-pci")
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "vfio-pci", "")
	f.addVF("0000:01:00.0", 1, "0000:01:10.2", "igbvf", "eth1")
	h, _ := newHost(Options{SysfsRoot: f.root, WaitTimeout: 200 * time.Millisecond}, &fakeLinks{})
	release := make(chan struct{})
	defer close(release)
	h.write = func(string, string) error { <-release; return nil }
	start := time.Now()
	err := h.SetNumVFs(context.Background(), "eth0", 0)
	if host.OutcomeOf(err) != host.Unconfirmed || !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("got %v, want an unconfirmed ETIMEDOUT", err)
	}
	for _, want := range []string{"still pending", "VF 0 (0000:01:10.0)", "vfio-pci", "VM"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "0000:01:10.2") {
		t.Errorf("%q names a VF igbvf holds", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestUnknownPF(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 0)
	h, _ := newHost(Options{SysfsRoot: f.root}, &fakeLinks{})
	err := h.SetVFTrust(context.Background(), "eth9", 0, true)
	if !errors.Is(err, host.ErrNotFound) || !strings.Contains(err.Error(), "eth0") {
		t.Fatalf("got %v", err)
	}
}

func TestSetterErrorsKeepKernelWording(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 1)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "", "")
	nl := &fakeLinks{fail: map[string]error{
		"state": syscall.EOPNOTSUPP,
		"vlan":  fmt.Errorf("%w: %s", syscall.EPROTONOSUPPORT, "proto refused by driver"),
		"rate":  syscall.EINVAL,
	}}
	h, _ := newHost(Options{SysfsRoot: f.root}, nl)
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		want *host.Error
		text string
	}{
		{h.SetVFLinkState(ctx, "eth0", 0, sriov.LinkStateEnable), host.ErrNotSupported, "set vf 0 link state on eth0: operation not supported"},
		{h.SetVFVLAN(ctx, "eth0", 0, 100, 0, sriov.VLANProto8021AD), host.ErrNotSupported, "(proto refused by driver)"},
		{h.SetVFRate(ctx, "eth0", 0, 10, 0), host.ErrInvalid, "invalid argument"},
	} {
		if !errors.Is(c.err, c.want) || !strings.Contains(c.err.Error(), c.text) {
			t.Errorf("got %v, want kind %v and %q", c.err, c.want.Kind, c.text)
		}
	}
	if err := h.SetVFMAC(ctx, "eth0", 0, "02:00:00:00:00:01"); err != nil {
		t.Error(err)
	}
	if nl.calls[len(nl.calls)-1] != "mac 10 0 02:00:00:00:00:01" {
		t.Error(nl.calls)
	}
}

func TestBindVF(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 1)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "igbvf", "eth1")
	h, _ := newHost(Options{SysfsRoot: f.root, WaitTimeout: 100 * time.Millisecond}, &fakeLinks{})
	ctx := context.Background()
	vf := "devices/pci0000:00/0000:01:10.0"

	// Same driver: nothing written.
	if err := h.BindVF(ctx, "eth0", 0, "igbvf"); err != nil {
		t.Fatal(err)
	}
	if got := f.read("bus/pci/drivers/igbvf/unbind"); got != "" {
		t.Errorf("idempotent bind wrote unbind: %q", got)
	}
	// vfio-pci not loaded.
	err := h.BindVF(ctx, "eth0", 0, "vfio-pci")
	if !errors.Is(err, host.ErrNotFound) || !strings.Contains(err.Error(), "modprobe vfio-pci") {
		t.Errorf("got %v", err)
	}
	// vfio-pci loaded, no IOMMU group.
	f.mkdir("bus/pci/drivers/vfio-pci")
	err = h.BindVF(ctx, "eth0", 0, "vfio-pci")
	if !errors.Is(err, host.ErrNotSupported) || !strings.Contains(err.Error(), "IOMMU") {
		t.Errorf("got %v", err)
	}
	// With an IOMMU group: override, unbind and probe are written; the fake kernel does not bind, so the
	// backend reports the probe failure.
	f.link("../../../kernel/iommu_groups/7", vf+"/iommu_group")
	err = h.BindVF(ctx, "eth0", 0, "vfio-pci")
	if err == nil || !strings.Contains(err.Error(), "did not bind") {
		t.Errorf("got %v", err)
	}
	if got := f.read("bus/pci/drivers/igbvf/unbind"); got != "0000:01:10.0" {
		t.Errorf("unbind: %q", got)
	}
	if got := f.read("bus/pci/drivers_probe"); got != "0000:01:10.0" {
		t.Errorf("drivers_probe: %q", got)
	}
	if got := f.read(vf + "/driver_override"); got != "" {
		t.Errorf("driver_override after a failed bind: %q, want it back as it was", got)
	}
	// Unbind ("").
	if err := h.BindVF(ctx, "eth0", 0, ""); err != nil {
		t.Errorf("unbind: %v", err)
	}
	// No such VF.
	if err := h.BindVF(ctx, "eth0", 3, "igbvf"); !errors.Is(err, host.ErrNotFound) {
		t.Errorf("got %v", err)
	}
}

func TestNoNetlinkCallWithoutVFs(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 0)
	nl := &fakeLinks{err: errors.New("must not be called")}
	h, _ := newHost(Options{SysfsRoot: f.root}, nl)
	if _, err := h.Observe(context.Background()); err != nil || len(nl.calls) != 0 {
		t.Fatalf("err %v calls %v", err, nl.calls)
	}
}

type fakeTail struct {
	lines  []string
	marked int
}

func (f *fakeTail) Mark() { f.marked++ }
func (f *fakeTail) Lines(match string) []string {
	var out []string
	for _, l := range f.lines {
		if m, ok := recordMentioning("6,1,1,-;"+l, match); ok {
			out = append(out, m)
		}
	}
	return out
}

func TestKernelLogQuotedOnFailure(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 1)
	f.addVF("0000:01:00.0", 0, "0000:01:10.0", "", "")
	tail := &fakeTail{lines: []string{"igb 0000:01:00.0: VF 0 refused it", "igb 0000:02:00.0: other device"}}
	h, _ := newHost(Options{SysfsRoot: f.root}, &fakeLinks{fail: map[string]error{"trust": syscall.EINVAL}})
	h.klog = tail
	err := h.SetVFTrust(context.Background(), "eth0", 0, true)
	if !errors.Is(err, host.ErrInvalid) || !strings.HasSuffix(err.Error(), "(VF 0 refused it)") || tail.marked != 1 {
		t.Fatalf("got %v (marked %d)", err, tail.marked)
	}
	if err := h.SetVFSpoofCheck(context.Background(), "eth0", 0, true); err != nil || tail.marked != 2 {
		t.Fatalf("got %v (marked %d)", err, tail.marked)
	}
}

func TestMapErr(t *testing.T) {
	for _, c := range []struct {
		in   error
		kind host.Kind
		text string
	}{
		{syscall.EBUSY, host.KindBusy, "op: device or resource busy"},
		{fmt.Errorf("%w: %s", syscall.EOPNOTSUPP, "VF trust unsupported"), host.KindNotSupported, "op: operation not supported (VF trust unsupported)"},
		{fmt.Errorf("tc filter on eth0: %w: %s", syscall.EEXIST, "Filter already exists"), host.KindExists, "op: file exists (tc filter on eth0: file exists: Filter already exists)"},
		{fmt.Errorf("tc filter on eth0: %w", syscall.EEXIST), host.KindExists, "op: file exists"},
		{&os.PathError{Op: "write", Path: "/sys/class/net/eth0/device/sriov_numvfs", Err: syscall.EBUSY}, host.KindBusy, "op: device or resource busy"},
		{errors.New("malformed netlink answer"), host.KindFailed, "op: failed (malformed netlink answer)"},
		{host.Errorf("", syscall.EINVAL, "bad MAC"), host.KindInvalid, "op: invalid argument (bad MAC)"},
	} {
		err := mapErr("op", c.in)
		if host.KindOfError(err) != c.kind || err.Error() != c.text {
			t.Errorf("mapErr(%v) = %v (%v), want %q (%v)", c.in, err, host.KindOfError(err), c.text, c.kind)
		}
	}
	if mapErr("op", nil) != nil {
		t.Error("nil is not an error")
	}
}

// A refused sriov_numvfs write quotes the driver's log ("4 VFs already enabled..."): the path in the
// write's error must not stand in for the driver's words.
func TestNumVFsRefusalQuotesKernelLog(t *testing.T) {
	f := newFakeSysfs(t)
	f.addPF("eth0", "0000:01:00.0", 7, 4)
	h, _ := newHost(Options{SysfsRoot: f.root}, &fakeLinks{})
	tail := &fakeTail{lines: []string{"igb 0000:01:00.0: 4 VFs already enabled. Disable before enabling 2 VFs"}}
	h.klog = tail
	h.write = func(path, _ string) error { return &os.PathError{Op: "write", Path: path, Err: syscall.EBUSY} }
	err := h.SetNumVFs(context.Background(), "eth0", 2)
	if !errors.Is(err, host.ErrBusy) || host.OutcomeOf(err) != host.NotWritten ||
		err.Error() != "set numvfs 2 on eth0: device or resource busy (4 VFs already enabled. Disable before enabling 2 VFs)" {
		t.Fatalf("got %v", err)
	}
}

// A batch the kernel refuses part way: the groups before the refused one stay applied, the VF is read
// back for the caller, and the error names the refused group the way its single setter would.
func TestSetVFAttrsPartialRefusal(t *testing.T) {
	mac, on := "02:00:00:00:00:10", true
	a := host.VFAttrs{MAC: &mac, VLAN: &host.VFVLAN{VLAN: 100}, Trust: &on}
	for _, c := range []struct {
		name      string
		fail      map[string]error
		wantErr   string // "" = success
		wantAfter *sriov.VFConfig
	}{
		{"all applied", nil, "", nil},
		{"trust refused", map[string]error{"trust": syscall.EOPNOTSUPP}, "set vf 0 trust on eth0: operation not supported",
			&sriov.VFConfig{MAC: mac, VLAN: 100}},
		{"mac refused", map[string]error{"mac": syscall.EINVAL}, "set vf 0 mac on eth0: invalid argument",
			&sriov.VFConfig{MAC: sriov.ZeroMAC}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("eth0", "0000:01:00.0", 7, 1)
			f.addVF("0000:01:00.0", 0, "0000:01:10.0", "", "")
			nl := &fakeLinks{fail: c.fail, infos: map[int][]vfInfo{}}
			h, _ := newHost(Options{SysfsRoot: f.root}, nl)
			e, err := h.resolvePF("test", "eth0")
			if err != nil {
				t.Fatal(err)
			}
			nl.infos[e.ifindex] = []vfInfo{{ID: 0, Config: sriov.VFConfig{MAC: sriov.ZeroMAC}}}
			after, err := h.SetVFAttrs(context.Background(), "eth0", 0, a)
			if c.wantErr == "" {
				if err != nil || after != nil {
					t.Fatalf("got %v, %+v", err, after)
				}
				if got := nl.infos[e.ifindex][0].Config; got.MAC != mac || got.VLAN != 100 || !got.Trust {
					t.Fatalf("VF now %+v", got)
				}
				return
			}
			if err == nil || err.Error() != c.wantErr {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if after == nil || *after != *c.wantAfter {
				t.Fatalf("read back %+v, want %+v", after, c.wantAfter)
			}
			if n := len(nl.calls); n != 2 || !strings.HasPrefix(nl.calls[0], "attrs") || !strings.HasPrefix(nl.calls[1], "get") {
				t.Fatalf("calls %v: want one batch, one read back", nl.calls)
			}
		})
	}
}
