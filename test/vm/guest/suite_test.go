//go:build vmguest

package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func showJSON(t *testing.T) *sriov.PF {
	t.Helper()
	out := mustRun(t, "--json", "show", pf)
	var st sriov.Host
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	if len(st.PFs) != 1 {
		t.Fatalf("show --json %s: %d PFs", pf, len(st.PFs))
	}
	return &st.PFs[0]
}

// TestNumVFs: 0 -> 4, 4 -> 4, 4 -> 2 (EBUSY, --force), 8 (ERANGE), 4 -> 0, on the real igb driver.
func TestNumVFs(t *testing.T) {
	setNumVFs(t, 0)
	start := time.Now()
	mustRun(t, "pf", "set", pf, "--numvfs", "4")
	t.Logf("numvfs 0 -> 4 took %s", time.Since(start).Round(time.Millisecond))
	if got := readSys(pfDev("sriov_numvfs")); got != "4" {
		t.Fatalf("sriov_numvfs %s, want 4", got)
	}
	for i := 0; i < 4; i++ {
		vf := pfDev(fmt.Sprintf("virtfn%d", i))
		if linkName(vf) == "" || linkName(vf+"/physfn") != linkName("class/net/"+pf+"/device") {
			t.Errorf("virtfn%d -> %q, physfn -> %q", i, linkName(vf), linkName(vf+"/physfn"))
		}
		if d := linkName(vf + "/driver"); d != "igbvf" {
			t.Errorf("VF %d driver %q, want igbvf", i, d)
		}
	}
	// The backend waited for the VFs: every one has its netdev at once.
	p := showJSON(t)
	for _, v := range p.VFs {
		if v.Netdev == "" {
			t.Errorf("VF %d has no netdev right after pf set returned", v.ID)
		}
	}

	out := mustRun(t, "pf", "set", pf, "--numvfs", "4")
	if !strings.Contains(out, "no changes") {
		t.Errorf("4 -> 4: %q", out)
	}

	_, stderr, code := run(t, "pf", "set", pf, "--numvfs", "2")
	if code != 2 || !strings.Contains(stderr, "--force") {
		t.Errorf("4 -> 2 without --force: exit %d %q", code, stderr)
	}
	h := kernelHost(t)
	err := h.SetNumVFs(context.Background(), pf, 2)
	if !errors.Is(err, host.ErrBusy) || !errors.Is(err, syscall.EBUSY) {
		t.Errorf("kernel 4 -> 2: %v, want EBUSY", err)
	}
	t.Logf("kernel answer 4 -> 2: %v", err)
	if err == nil || !strings.Contains(err.Error(), "4 VFs already enabled") {
		t.Errorf("kernel 4 -> 2 does not quote igb's log: %v", err)
	}

	_, stderr, code = run(t, "pf", "set", pf, "--numvfs", "8")
	if code != 2 || !strings.Contains(stderr, "0-7") {
		t.Errorf("8: exit %d %q", code, stderr)
	}
	err = h.SetNumVFs(context.Background(), pf, 8)
	if !errors.Is(err, host.ErrOutOfRange) || !errors.Is(err, syscall.ERANGE) {
		t.Errorf("kernel 8: %v, want ERANGE", err)
	}
	t.Logf("kernel answer 8: %v", err)

	start = time.Now()
	mustRun(t, "pf", "set", pf, "--numvfs", "2", "--force")
	t.Logf("numvfs 4 -> 0 -> 2 took %s", time.Since(start).Round(time.Millisecond))
	if got := readSys(pfDev("sriov_numvfs")); got != "2" {
		t.Errorf("after --force: sriov_numvfs %s", got)
	}
	if p := showJSON(t); p.NumVFs != 2 || len(p.VFs) != 2 {
		t.Errorf("after --force: show says numvfs %d with %d VFs", p.NumVFs, len(p.VFs))
	}
	start = time.Now()
	mustRun(t, "pf", "set", pf, "--numvfs", "0")
	t.Logf("numvfs 2 -> 0 took %s", time.Since(start).Round(time.Millisecond))
	if _, err := os.Lstat("/sys/" + pfDev("virtfn0")); err == nil {
		t.Error("virtfn0 still there after numvfs 0")
	}
}

// TestShowMatchesSysfsAndIP compares show --json with sysfs and with `ip -d link show`.
func TestShowMatchesSysfsAndIP(t *testing.T) {
	setNumVFs(t, 4)
	mustRun(t, "vf", "set", pf, "0", "--mac", "02:00:00:00:00:10", "--vlan", "100", "--qos", "3", "--trust", "on", "--max-tx-rate", "100")
	mustRun(t, "vf", "set", pf, "1", "--spoofchk", "off", "--vlan", "200")
	p := showJSON(t)
	dev := "class/net/" + pf + "/device"
	for _, c := range [][3]string{
		{"pciAddress", p.PCIAddress, linkName(dev)},
		{"driver", p.Driver, linkName(dev + "/driver")},
		{"vendorId", "0x" + p.VendorID, readSys(dev + "/vendor")},
		{"deviceId", "0x" + p.DeviceID, readSys(dev + "/device")},
		{"totalVfs", fmt.Sprint(p.TotalVFs), readSys(dev + "/sriov_totalvfs")},
		{"numVfs", fmt.Sprint(p.NumVFs), readSys(dev + "/sriov_numvfs")},
		{"mac", p.MAC, readSys("class/net/" + pf + "/address")},
		{"mtu", fmt.Sprint(p.MTU), readSys("class/net/" + pf + "/mtu")},
		{"operState", p.OperState, readSys("class/net/" + pf + "/operstate")},
	} {
		if c[1] != c[2] {
			t.Errorf("PF %s: show says %q, sysfs %q", c[0], c[1], c[2])
		}
	}
	if p.Driver != "igb" || p.TotalVFs != 7 || p.VendorID != "8086" || p.DeviceID != "10c9" || p.EswitchMode != "" || p.VFInfoTruncated {
		t.Errorf("PF: %+v", p)
	}
	ip := ipShow(t)
	if len(p.VFs) != 4 || len(ip) != 4 {
		t.Fatalf("show has %d VFs, ip %d", len(p.VFs), len(ip))
	}
	for _, v := range p.VFs {
		vf := fmt.Sprintf("%s/virtfn%d", dev, v.ID)
		if v.PCIAddress != linkName(vf) || v.Driver != linkName(vf+"/driver") {
			t.Errorf("VF %d: show %s %s, sysfs %s %s", v.ID, v.PCIAddress, v.Driver, linkName(vf), linkName(vf+"/driver"))
		}
		ents, _ := os.ReadDir("/sys/" + vf + "/net")
		if len(ents) != 1 || ents[0].Name() != v.Netdev || readSys(vf+"/net/"+v.Netdev+"/address") != v.NetdevMAC {
			t.Errorf("VF %d: netdev %q mac %q, sysfs %v", v.ID, v.Netdev, v.NetdevMAC, ents)
		}
		compareWithIP(t, v, ip[v.ID])
	}
	v0 := p.VF(0)
	if v0.MAC != "02:00:00:00:00:10" || v0.VLAN != 100 || v0.QoS != 3 || !v0.Trust || v0.MaxTxRateMbps != 100 {
		t.Errorf("VF 0 read back: %+v", v0.VFConfig)
	}
	if v1 := p.VF(1); v1.SpoofCheck || v1.VLAN != 200 {
		t.Errorf("VF 1 read back: %+v", v1.VFConfig)
	}
	// PCI layout of the 82576: offset 128, stride 2 -> VFs at 01:10.0, .2, .4, .6 when the PF is 01:00.0.
	t.Logf("PF %s VFs %s %s %s %s", p.PCIAddress, p.VFs[0].PCIAddress, p.VFs[1].PCIAddress, p.VFs[2].PCIAddress, p.VFs[3].PCIAddress)
	// Human output too.
	out := mustRun(t, "show", pf)
	if !strings.Contains(out, "igb 8086:10c9") || !strings.Contains(out, "02:00:00:00:00:10") {
		t.Errorf("show:\n%s", out)
	}
}

// TestVFAttributes sets every VF attribute through sriovctl and reads it back from show --json and ip;
// what igb refuses must come back as a clear error of the right kind, and the raw driver answer (through
// the kernel backend, skipping sriovctl's own prediction) must match the igb NIC profile.
func TestVFAttributes(t *testing.T) {
	setNumVFs(t, 0)
	setNumVFs(t, 4)
	accepted := []struct {
		args  []string
		check func(c sriov.VFConfig) bool
	}{
		{[]string{"--mac", "02:00:00:00:00:20"}, func(c sriov.VFConfig) bool { return c.MAC == "02:00:00:00:00:20" }},
		{[]string{"--mac", "00:00:00:00:00:00"}, func(c sriov.VFConfig) bool { return c.MAC == sriov.ZeroMAC }},
		{[]string{"--vlan", "100"}, func(c sriov.VFConfig) bool { return c.VLAN == 100 && c.QoS == 0 }},
		{[]string{"--vlan", "100", "--qos", "3"}, func(c sriov.VFConfig) bool { return c.VLAN == 100 && c.QoS == 3 }},
		{[]string{"--vlan", "0", "--qos", "0"}, func(c sriov.VFConfig) bool { return c.VLAN == 0 && c.QoS == 0 }},
		{[]string{"--spoofchk", "off"}, func(c sriov.VFConfig) bool { return !c.SpoofCheck }},
		{[]string{"--spoofchk", "on"}, func(c sriov.VFConfig) bool { return c.SpoofCheck }},
		{[]string{"--trust", "on"}, func(c sriov.VFConfig) bool { return c.Trust }},
		{[]string{"--trust", "off"}, func(c sriov.VFConfig) bool { return !c.Trust }},
		{[]string{"--max-tx-rate", "100"}, func(c sriov.VFConfig) bool { return c.MaxTxRateMbps == 100 }},
		{[]string{"--max-tx-rate", "200"}, func(c sriov.VFConfig) bool { return c.MaxTxRateMbps == 200 }},
		{[]string{"--max-tx-rate", "0"}, func(c sriov.VFConfig) bool { return c.MaxTxRateMbps == 0 }},
	}
	for _, a := range accepted {
		mustRun(t, append([]string{"vf", "set", pf, "3"}, a.args...)...)
		p := showJSON(t)
		v := p.VF(3)
		if !a.check(v.VFConfig) {
			t.Errorf("vf set %v: read back %+v", a.args, v.VFConfig)
		}
		compareWithIP(t, *v, ipShow(t)[3])
	}

	// Refusals through the CLI: exit 1 and the kind in words.
	refused := []struct {
		args []string
		text string
	}{
		{[]string{"--state", "enable"}, "not supported"},
		{[]string{"--state", "disable"}, "not supported"},
		{[]string{"--vlan", "100", "--vlan-proto", "802.1ad"}, "not supported"},
		{[]string{"--min-tx-rate", "10"}, "invalid argument"},
		{[]string{"--max-tx-rate", "2000"}, "invalid argument"},
		{[]string{"--query-rss", "on"}, "not supported"},
	}
	before := showJSON(t).VF(3).VFConfig
	for _, r := range refused {
		_, stderr, code := run(t, append([]string{"vf", "set", pf, "3"}, r.args...)...)
		if code != 1 || !strings.Contains(stderr, r.text) || !strings.Contains(stderr, "igb") {
			t.Errorf("vf set %v: exit %d %q, want exit 1 with %q naming igb", r.args, code, stderr, r.text)
		}
	}
	if after := showJSON(t).VF(3).VFConfig; after != before {
		t.Errorf("refused settings changed the VF: %+v -> %+v", before, after)
	}
	// sriovctl refuses these itself (exit 2) although igb would take vlan 4095.
	for _, args := range [][]string{{"--vlan", "4095"}, {"--mac", "01:00:5e:00:00:01"}} {
		if _, _, code := run(t, append([]string{"vf", "set", pf, "3"}, args...)...); code != 2 {
			t.Errorf("vf set %v: exit %d, want 2", args, code)
		}
	}

	// Raw driver answers against the igb profile.
	h := kernelHost(t)
	prof, _ := nicprofile.ByName("igb")
	ctx := context.Background()
	raw := []struct {
		attr nicprofile.Attr
		call func() error
	}{
		{nicprofile.AttrLinkState, func() error { return h.SetVFLinkState(ctx, pf, 3, sriov.LinkStateEnable) }},
		{nicprofile.AttrVLANProto8021AD, func() error { return h.SetVFVLAN(ctx, pf, 3, 100, 0, sriov.VLANProto8021AD) }},
		{nicprofile.AttrMinTxRate, func() error { return h.SetVFRate(ctx, pf, 3, 10, 0) }},
		{nicprofile.AttrQueryRSS, func() error { return h.SetVFQueryRSS(ctx, pf, 3, true) }},
		{nicprofile.AttrTrust, func() error { return h.SetVFTrust(ctx, pf, 3, false) }},
		{nicprofile.AttrSpoofCheck, func() error { return h.SetVFSpoofCheck(ctx, pf, 3, true) }},
		{nicprofile.AttrMAC, func() error { return h.SetVFMAC(ctx, pf, 3, sriov.ZeroMAC) }},
		{nicprofile.AttrVLAN, func() error { return h.SetVFVLAN(ctx, pf, 3, 0, 0, sriov.VLANProto8021Q) }},
		{nicprofile.AttrMaxTxRate, func() error { return h.SetVFRate(ctx, pf, 3, 0, 0) }},
	}
	for _, r := range raw {
		err := r.call()
		t.Logf("raw %s: %v", r.attr, err)
		want, refusedByProfile := prof.Refusal(r.attr)
		switch {
		case refusedByProfile && !errors.Is(err, want.ErrnoValue()):
			t.Errorf("raw %s: igb answered %v; profile says %s", r.attr, err, want.Errno)
		case !refusedByProfile && err != nil:
			t.Errorf("raw %s: igb refused (%v); profile says it is supported", r.attr, err)
		}
	}
	// Values igb itself takes or refuses.
	if err := h.SetVFVLAN(ctx, pf, 3, 4095, 0, sriov.VLANProto8021Q); (err == nil) != prof.AcceptsVLAN4095 {
		t.Errorf("raw vlan 4095: %v; profile acceptsVlan4095=%v", err, prof.AcceptsVLAN4095)
	}
	_ = h.SetVFVLAN(ctx, pf, 3, 0, 0, sriov.VLANProto8021Q)
	if err := h.SetVFRate(ctx, pf, 3, 0, 2000); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("raw max rate 2000: %v, want EINVAL", err)
	}
	if err := h.SetVFMAC(ctx, pf, 3, "01:00:5e:00:00:01"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("raw multicast MAC: %v, want EINVAL", err)
	}
	if err := h.SetVFTrust(ctx, pf, 7, true); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("raw VF 7 of 4: %v, want EINVAL", err)
	}
	// Two VFs may share a MAC on igb.
	if err := h.SetVFMAC(ctx, pf, 2, "02:00:00:00:00:33"); err != nil {
		t.Error(err)
	}
	if err := h.SetVFMAC(ctx, pf, 3, "02:00:00:00:00:33"); (err == nil) != (prof.DuplicateMAC != nicprofile.DuplicateMACRefused) {
		t.Errorf("same MAC on two VFs: %v; profile duplicateMac=%s", err, prof.DuplicateMAC)
	}
}

// TestVFIOBindAndBack binds a VF to vfio-pci (QEMU's intel-iommu gives each VF an IOMMU group) and
// back to igbvf.
func TestVFIOBindAndBack(t *testing.T) {
	setNumVFs(t, 2)
	vf := pfDev("virtfn1")
	if _, err := os.Lstat("/sys/" + vf + "/iommu_group"); err != nil {
		t.Fatalf("VF 1 has no IOMMU group: %v (is intel-iommu on?)", err)
	}
	mustRun(t, "vf", "bind", pf, "1", "vfio-pci")
	if d := linkName(vf + "/driver"); d != "vfio-pci" {
		t.Fatalf("after bind: driver %q", d)
	}
	if v := showJSON(t).VF(1); v.Driver != "vfio-pci" || v.Netdev != "" {
		t.Errorf("show after bind: driver %q netdev %q", v.Driver, v.Netdev)
	}
	if _, err := os.Stat("/dev/vfio/" + linkName(vf+"/iommu_group")); err != nil {
		t.Errorf("no /dev/vfio group node: %v", err)
	}
	out := mustRun(t, "vf", "bind", pf, "1", "vfio-pci")
	if !strings.Contains(out, "no changes") {
		t.Errorf("second bind: %q", out)
	}
	mustRun(t, "vf", "bind", pf, "1", "default")
	if d := linkName(vf + "/driver"); d != "igbvf" {
		t.Fatalf("after bind back: driver %q", d)
	}
	if v := showJSON(t).VF(1); v.Driver != "igbvf" || v.Netdev == "" {
		t.Errorf("show after bind back: driver %q netdev %q", v.Driver, v.Netdev)
	}
	// Unbound and bound again through "none".
	mustRun(t, "vf", "bind", pf, "1", "none")
	if d := linkName(vf + "/driver"); d != "" {
		t.Errorf("after none: driver %q", d)
	}
	mustRun(t, "vf", "bind", pf, "1", "igbvf")
	if _, stderr, code := run(t, "vf", "bind", pf, "1", "no-such-driver"); code != 1 || !strings.Contains(stderr, "not loaded") {
		t.Errorf("unknown driver: exit %d %q", code, stderr)
	}
}

// TestAdminMACReload: igb applies an admin MAC to a bound VF netdev only after igbvf is reloaded;
// sriovctl says so and --reload-vf-driver does it.
func TestAdminMACReload(t *testing.T) {
	setNumVFs(t, 0)
	setNumVFs(t, 3)
	vf := pfDev("virtfn2")
	netdev := func() (string, string) {
		ents, _ := os.ReadDir("/sys/" + vf + "/net")
		if len(ents) == 0 {
			return "", ""
		}
		return ents[0].Name(), readSys(vf + "/net/" + ents[0].Name() + "/address")
	}
	name, before := netdev()
	if name == "" {
		t.Fatal("VF 2 has no netdev")
	}
	const mac = "02:00:00:00:00:22"
	_, stderr, code := run(t, "vf", "set", pf, "2", "--mac", mac)
	if code != 0 || !strings.Contains(stderr, "--reload-vf-driver") {
		t.Errorf("vf set --mac: exit %d, stderr %q: want a hint to --reload-vf-driver", code, stderr)
	}
	if _, now := netdev(); now != before {
		t.Logf("netdev MAC changed without reload (%s -> %s): igb applied the admin MAC at once", before, now)
	} else {
		t.Logf("netdev %s keeps %s until reload, as observed on igb", name, now)
	}
	v := showJSON(t).VF(2)
	if v.MAC != mac {
		t.Errorf("admin MAC %q", v.MAC)
	}
	mustRun(t, "vf", "set", pf, "2", "--reload-vf-driver")
	_, after := netdev()
	if after != mac {
		t.Errorf("after --reload-vf-driver the netdev has %q, want %s", after, mac)
	}
	if v := showJSON(t).VF(2); v.NetdevMAC != mac || v.Driver != "igbvf" {
		t.Errorf("show after reload: %+v", v)
	}
	// MAC and reload in one go on another VF.
	mustRun(t, "vf", "set", pf, "1", "--mac", "02:00:00:00:00:21", "--reload-vf-driver")
	if v := showJSON(t).VF(1); v.NetdevMAC != "02:00:00:00:00:21" {
		t.Errorf("mac + reload: netdev MAC %q", v.NetdevMAC)
	}
}
