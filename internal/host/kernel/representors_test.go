package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// devlinkPortMsg lays out one DEVLINK_CMD_PORT_GET answer as the kernel does: genlmsghdr, then bus
// and device names, port index, flavour, netdev, and for pcivf ports controller, pfnum, vfnum, external.
func devlinkPortMsg(bus, dev string, index, flavour int, netdev string, ifindex int, controller, pfnum, vfnum int, external bool) []byte {
	b := []byte{5, 1, 0, 0} // cmd PORT_GET (new), version 1
	attr := func(typ uint16, v []byte) {
		h := make([]byte, 4)
		binary.NativeEndian.PutUint16(h[0:2], uint16(4+len(v)))
		binary.NativeEndian.PutUint16(h[2:4], typ)
		b = append(b, h...)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	u16 := func(n int) []byte { return binary.NativeEndian.AppendUint16(nil, uint16(n)) }
	u32 := func(n int) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(n)) }
	attr(devlinkAttrBusName, append([]byte(bus), 0))
	attr(devlinkAttrDevName, append([]byte(dev), 0))
	attr(devlinkAttrPortIndex, u32(index))
	attr(4, u16(2)) // port type eth
	if netdev != "" {
		attr(devlinkAttrPortNetdevIfidx, u32(ifindex))
		attr(devlinkAttrPortNetdevName, append([]byte(netdev), 0))
	}
	attr(devlinkAttrPortFlavour, u16(flavour))
	if flavour == devlinkPortFlavourPCIVF {
		attr(devlinkAttrPortControllerNo, u32(controller))
		attr(devlinkAttrPortPCIPFNumber, u16(pfnum))
		attr(devlinkAttrPortPCIVFNumber, u16(vfnum))
		ext := byte(0)
		if external {
			ext = 1
		}
		attr(devlinkAttrPortExternal, []byte{ext})
	}
	return b
}

func TestParseDevlinkPorts(t *testing.T) {
	msgs := [][]byte{
		devlinkPortMsg("netdevsim", "netdevsim10", 0, devlinkPortFlavourPhysical, "eth0", 3, 0, 0, 0, false),
		devlinkPortMsg("netdevsim", "netdevsim10", 129, devlinkPortFlavourPCIVF, "eth2", 5, 0, 0, 1, false),
	}
	got, err := parseDevlinkPorts(msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []devlinkPort{
		{Bus: "netdevsim", Dev: "netdevsim10", Index: 0, Flavour: 0, PFNum: -1, VFNum: -1, Netdev: "eth0", Ifindex: 3},
		{Bus: "netdevsim", Dev: "netdevsim10", Index: 129, Flavour: 4, PFNum: 0, VFNum: 1, Netdev: "eth2", Ifindex: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ports\n got %+v\nwant %+v", got, want)
	}
	if _, err := parseDevlinkPorts([][]byte{{1, 2}}); err == nil {
		t.Fatal("a message shorter than its genl header parsed")
	}
}

func TestVFRepresentors(t *testing.T) {
	vf := func(bus, dev string, pf, n int, netdev string) devlinkPort {
		return devlinkPort{Bus: bus, Dev: dev, Flavour: devlinkPortFlavourPCIVF, PFNum: pf, VFNum: n, Netdev: netdev}
	}
	ports := []devlinkPort{
		{Bus: "pci", Dev: "0000:3b:00.0", Flavour: devlinkPortFlavourPhysical, PFNum: -1, VFNum: -1, Netdev: "ens4f0np0"},
		vf("pci", "0000:3b:00.0", 0, 0, "ens4f0_0"),
		vf("pci", "0000:3b:00.0", 0, 1, "ens4f0_1"),
		vf("pci", "0000:3b:00.0", 0, 2, ""),         // no netdev (yet)
		vf("pci", "0000:3b:00.1", 1, 0, "ens4f1_0"), // the other PF's instance
		{Bus: "pci", Dev: "0000:3b:00.0", Flavour: devlinkPortFlavourPCIVF, Controller: 1, External: true, PFNum: 0, VFNum: 5, Netdev: "ext0"},
		vf("netdevsim", "netdevsim10", 0, 0, "eth1"),
	}
	tests := []struct {
		bus, dev string
		pfNum    int
		want     map[int]string
	}{
		{"pci", "0000:3b:00.0", -1, map[int]string{0: "ens4f0_0", 1: "ens4f0_1"}},
		{"pci", "0000:3b:00.1", -1, map[int]string{0: "ens4f1_0"}},
		{"pci", "0000:3b:00.1", 0, map[int]string{}},
		{"netdevsim", "netdevsim10", -1, map[int]string{0: "eth1"}},
		{"pci", "0000:01:00.0", -1, map[int]string{}},
	}
	for _, tt := range tests {
		if got := vfRepresentors(ports, tt.bus, tt.dev, tt.pfNum); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s/%s pf %d: %v, want %v", tt.bus, tt.dev, tt.pfNum, got, tt.want)
		}
	}
}

// sysNetdev adds a netdev with optional phys_switch_id and phys_port_name to a fake sysfs.
func sysNetdev(t *testing.T, root, name, switchID, portName string) {
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

// TestRepresentors: devlink's pcivf ports first; the sysfs names (phys_switch_id + pf<N>vf<M>) only
// when devlink lists none, with mlx5's (p0 / pf0vfM) and netdevsim's (p1 / pf0vfM) numbering; a PF that
// devlink does not report in switchdev mode has none, whatever its phys_switch_id says (netdevsim has
// one in legacy mode too).
func TestRepresentors(t *testing.T) {
	root := t.TempDir()
	sysNetdev(t, root, "ens4f0", "aabbcc", "p0")
	sysNetdev(t, root, "ens4f0_0", "aabbcc", "pf0vf0")
	sysNetdev(t, root, "ens4f0_1", "aabbcc", "pf0vf1")
	sysNetdev(t, root, "ens4f1_0", "aabbcc", "pf1vf0") // the other PF's VF on the same switch
	sysNetdev(t, root, "eth9", "ddeeff", "pf0vf3")     // another switch
	sysNetdev(t, root, "eth0", "112233", "p1")         // netdevsim uplink
	sysNetdev(t, root, "eth1", "112233", "pf0vf0")
	sysNetdev(t, root, "eth2", "112233", "pf0vf1")
	sysNetdev(t, root, "eth3", "112233", "pf0sf7") // an SF, not a VF
	mlx := pfEntry{name: "ens4f0", bus: "pci", addr: "0000:3b:00.0"}
	nsim := pfEntry{name: "eth0", bus: "netdevsim", addr: "netdevsim10"}
	modes := map[string]string{"pci/0000:3b:00.0": "switchdev", "netdevsim/netdevsim10": "switchdev"}
	tests := []struct {
		name  string
		pf    pfEntry
		modes map[string]string
		ports []devlinkPort
		want  map[int]string
		errno syscall.Errno
	}{
		{"devlink ports", nsim, modes, []devlinkPort{{Bus: "netdevsim", Dev: "netdevsim10", Flavour: 4, PFNum: 0, VFNum: 1, Netdev: "renamed1"}},
			map[int]string{1: "renamed1"}, 0},
		{"sysfs fallback, mlx5 numbering", mlx, modes, nil, map[int]string{0: "ens4f0_0", 1: "ens4f0_1"}, 0},
		{"sysfs fallback, netdevsim numbering", nsim, modes, nil, map[int]string{0: "eth1", 1: "eth2"}, 0},
		{"legacy", nsim, map[string]string{"netdevsim/netdevsim10": "legacy"}, nil, nil, syscall.EOPNOTSUPP},
		{"no devlink eswitch", nsim, map[string]string{"netdevsim/netdevsim10": ""}, nil, nil, syscall.EOPNOTSUPP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{sys: root, nl: &fakeLinks{modes: tt.modes, ports: tt.ports}}
			reps, err := h.representors("test", tt.pf)
			if tt.errno != 0 {
				if !errors.Is(err, tt.errno) || !errors.Is(err, host.ErrNotSupported) || !strings.Contains(err.Error(), "switchdev") {
					t.Fatalf("error %v, want %v naming switchdev", err, tt.errno)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(reps, tt.want) {
				t.Fatalf("representors %v (%v), want %v", reps, err, tt.want)
			}
		})
	}
}

// addNetdevsim lays out a netdevsim device as the kernel does: /sys/devices/netdevsimID on bus
// netdevsim with sriov_numvfs only (no sriov_totalvfs, vendor, device), its PF netdev eth0 (p1), VF
// representors eth1.. (pf0vfN) whose device is the same, and max_vfs in debugfs.
func addNetdevsim(f *fakeSysfs, id, maxVFs, numVFs int, reps int) string {
	dev := fmt.Sprintf("devices/netdevsim%d", id)
	f.mkdir("bus/netdevsim/drivers/netdevsim")
	f.link("../../../bus/netdevsim", dev+"/subsystem")
	f.link("../../../bus/netdevsim/drivers/netdevsim", dev+"/driver")
	f.write(dev+"/sriov_numvfs", fmt.Sprintf("%d\n", numVFs))
	f.write(fmt.Sprintf("kernel/debug/netdevsim/netdevsim%d/max_vfs", id), fmt.Sprintf("%d\n", maxVFs))
	netdev := func(name, port string, ifindex int) {
		f.write(dev+"/net/"+name+"/ifindex", fmt.Sprintf("%d\n", ifindex))
		f.write(dev+"/net/"+name+"/address", "be:ef:00:00:00:0"+fmt.Sprint(ifindex%10)+"\n")
		f.write(dev+"/net/"+name+"/phys_port_name", port+"\n")
		f.write(dev+"/net/"+name+"/phys_switch_id", "0a0b0c\n")
		f.link("../../"+dev+"/net/"+name, "class/net/"+name)
		f.link("../../../netdevsim"+fmt.Sprint(id), dev+"/net/"+name+"/device")
	}
	netdev("eth0", "p1", 3)
	for i := range reps {
		netdev(fmt.Sprintf("eth%d", i+1), fmt.Sprintf("pf0vf%d", i), 4+i)
	}
	return dev
}

// TestObserveNetdevsim: a PF whose device has sriov_numvfs but no sriov_totalvfs is discovered (its
// representors are not PFs), its limit read from debugfs max_vfs, its VFs from IFLA_VFINFO_LIST with no
// PCI address, driver or netdev, each with its representor from the devlink port dump.
func TestObserveNetdevsim(t *testing.T) {
	f := newFakeSysfs(t)
	addNetdevsim(f, 10, 256, 2, 2)
	nl := &fakeLinks{
		infos: map[int][]vfInfo{3: {{1, cfg("02:00:00:00:00:02", 0), nil}, {0, cfg("02:00:00:00:00:01", 100), nil}}},
		modes: map[string]string{"netdevsim/netdevsim10": "switchdev"},
		ports: []devlinkPort{
			{Bus: "netdevsim", Dev: "netdevsim10", Flavour: 0, PFNum: -1, VFNum: -1, Netdev: "eth0"},
			{Bus: "netdevsim", Dev: "netdevsim10", Flavour: 4, PFNum: 0, VFNum: 0, Netdev: "eth1"},
			{Bus: "netdevsim", Dev: "netdevsim10", Flavour: 4, PFNum: 0, VFNum: 1, Netdev: "eth2"},
		},
	}
	h, err := newHost(Options{SysfsRoot: f.root}, nl)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PFs) != 1 {
		t.Fatalf("want the netdevsim PF only (not its representors), got %+v", st.PFs)
	}
	p := st.PFs[0]
	if p.Name != "eth0" || p.PCIAddress != "netdevsim10" || p.Driver != "netdevsim" || p.TotalVFs != 256 || p.NumVFs != 2 ||
		p.VendorID != "" || p.DeviceID != "" || p.EswitchMode != "switchdev" || !p.VFsHaveNoDevice || len(p.VFs) != 2 {
		t.Fatalf("PF: %+v", p)
	}
	for i, v := range p.VFs {
		if v.ID != i || v.PCIAddress != "" || v.Driver != "" || v.Netdev != "" || v.Representor != fmt.Sprintf("eth%d", i+1) {
			t.Errorf("VF %d: %+v", i, v)
		}
	}
	if p.VFs[0].MAC != "02:00:00:00:00:01" || p.VFs[0].VLAN != 100 || p.VFs[1].MAC != "02:00:00:00:00:02" {
		t.Errorf("VF configuration: %+v", p.VFs)
	}

	// Without debugfs the limit is unknown (0), not invented.
	if err := os.RemoveAll(filepath.Join(f.root, "kernel/debug")); err != nil {
		t.Fatal(err)
	}
	nl.modes = nil
	st, err = h.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p := st.PFs[0]; p.TotalVFs != 0 || p.EswitchMode != "legacy" || p.VFs[0].Representor != "" {
		t.Fatalf("without debugfs, in legacy: %+v", p)
	}
}

// TestNetdevsimNumVFsAndBind: writing sriov_numvfs on a PF whose VFs have no PCI functions does not wait
// for virtfnN links that never come; binding such a VF is refused as not supported.
func TestNetdevsimNumVFsAndBind(t *testing.T) {
	f := newFakeSysfs(t)
	dev := addNetdevsim(f, 10, 4, 0, 0)
	h, err := newHost(Options{SysfsRoot: f.root, WaitTimeout: 200 * time.Millisecond}, &fakeLinks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetNumVFs(context.Background(), "eth0", 4); err != nil {
		t.Fatalf("numvfs 4: %v", err)
	}
	if got := f.read(dev + "/sriov_numvfs"); got != "4" {
		t.Fatalf("sriov_numvfs %q", got)
	}
	err = h.BindVF(context.Background(), "netdevsim10", 0, "vfio-pci")
	if !errors.Is(err, host.ErrNotSupported) || !strings.Contains(err.Error(), "no PCI function") {
		t.Fatalf("bind: %v", err)
	}
}

func TestSetEswitchMode(t *testing.T) {
	tests := []struct {
		name, mode string
		modes      map[string]string
		fail       error
		calls      []string
		errno      syscall.Errno
	}{
		{"to switchdev", "switchdev", nil, nil, []string{"eswitch netdevsim/netdevsim10 switchdev"}, 0},
		{"already", "legacy", nil, nil, nil, 0},
		{"bad mode", "hybrid", nil, nil, nil, syscall.EINVAL},
		{"no devlink eswitch", "switchdev", map[string]string{"netdevsim/netdevsim10": ""}, nil, nil, syscall.EOPNOTSUPP},
		{"driver refuses", "switchdev", nil, fmt.Errorf("%w: VFs exist", syscall.EBUSY), []string{"eswitch netdevsim/netdevsim10 switchdev"}, syscall.EBUSY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			addNetdevsim(f, 10, 4, 0, 0)
			nl := &fakeLinks{modes: tt.modes}
			if tt.fail != nil {
				nl.fail = map[string]error{"eswitch": tt.fail}
			}
			h, err := newHost(Options{SysfsRoot: f.root}, nl)
			if err != nil {
				t.Fatal(err)
			}
			err = h.SetEswitchMode(context.Background(), "eth0", tt.mode)
			if tt.errno == 0 && err != nil || tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Fatalf("error %v, want errno %v", err, tt.errno)
			}
			if !reflect.DeepEqual(nl.calls, tt.calls) {
				t.Fatalf("calls %v, want %v", nl.calls, tt.calls)
			}
		})
	}
}

// TestRuleHandle: a rule read back by handle ("tc-<handle>") is deleted by that handle; any other name
// is hashed as when the rule was installed.
func TestRuleHandle(t *testing.T) {
	h := sriov.MirrorRuleHandle("tap")
	tests := []struct {
		name string
		want uint32
	}{
		{"tap", h},
		{sriov.MirrorRuleNameOf(h), h},
		{"tc-xyz", sriov.MirrorRuleHandle("tc-xyz")},
		{"tc-0000000g", sriov.MirrorRuleHandle("tc-0000000g")},
	}
	for _, tt := range tests {
		if got := ruleHandle(tt.name); got != tt.want {
			t.Errorf("ruleHandle(%q) = %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

// TestParseRepPort checks parseRepPort against the regexp it replaces, and what it takes apart.
func TestParseRepPort(t *testing.T) {
	re := regexp.MustCompile(`^(?:c\d+)?pf(\d+)(vf|sf)(\d+)$`)
	for _, s := range []string{"", "p0", "pf0vf3", "pf1vf12", "c1pf0vf3", "pf0sf1", "c12pf3sf45", "pf0", "pf0vf", "pfvf1",
		"pf0vf3x", "xpf0vf3", "c pf0vf3", "cpf0vf3", "pf0xf3", "pf0VF3", "pf0vf-1", "pf01vf003", "c1", "vf0", "pf0vf3 "} {
		p, ok := parseRepPort(s)
		m := re.FindStringSubmatch(s)
		if ok != (m != nil) {
			t.Errorf("parseRepPort(%q) ok = %v, the regexp says %v", s, ok, m != nil)
			continue
		}
		if !ok {
			continue
		}
		if want := (repPort{controller: strings.HasPrefix(s, "c"), pf: atoi(m[1]), kind: m[2], index: atoi(m[3])}); p != want {
			t.Errorf("parseRepPort(%q) = %+v, want %+v", s, p, want)
		}
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
