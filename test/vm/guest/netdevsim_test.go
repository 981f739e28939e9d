//go:build vmguest

package guest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/rawframe"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// The netdevsim tests run the CLI on the kernel's netdevsim driver (built by run.sh for the guest
// kernel): a second real SR-IOV driver next to igb, with devlink switchdev mode, VF representors and up
// to 256 VFs, but no VF devices and no datapath of its own. Each test makes its own device and removes
// it, so the igb tests never see it.

// nsim is one netdevsim device with one port.
type nsim struct {
	id  int
	dev string // netdevsimID: its "PCI address" in show --json
	pf  string // the PF netdev
}

var nsimSeq = 10

// newNsim creates a netdevsim device whose VF maximum (debugfs max_vfs) is maxVFs, brings its PF up and
// removes it when the test ends.
func newNsim(t *testing.T, maxVFs int) *nsim {
	t.Helper()
	nsimSeq++
	n := &nsim{id: nsimSeq, dev: fmt.Sprintf("netdevsim%d", nsimSeq)}
	if err := os.WriteFile("/sys/bus/netdevsim/new_device", []byte(fmt.Sprintf("%d 1", n.id)), 0); err != nil {
		t.Fatalf("netdevsim new_device: %v (module not loaded?)", err)
	}
	t.Cleanup(func() {
		os.WriteFile("/sys/bus/netdevsim/del_device", []byte(fmt.Sprint(n.id)), 0)
	})
	deadline := time.Now().Add(10 * time.Second)
	for n.pf == "" && time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/sys/bus/netdevsim/devices/" + n.dev + "/net")
		for _, e := range ents {
			if readSys("class/net/"+e.Name()+"/phys_port_name") == "p1" {
				n.pf = e.Name()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n.pf == "" {
		t.Fatalf("%s has no PF netdev", n.dev)
	}
	if err := os.WriteFile(n.debugfs("max_vfs"), []byte(fmt.Sprint(maxVFs)), 0); err != nil {
		t.Fatalf("max_vfs %d: %v (debugfs mounted?)", maxVFs, err)
	}
	ifUp(t, n.pf)
	t.Logf("netdevsim %s: PF %s, max_vfs %d", n.dev, n.pf, maxVFs)
	return n
}

func (n *nsim) debugfs(f string) string {
	return filepath.Join("/sys/kernel/debug/netdevsim", n.dev, f)
}

// show runs show --json on the netdevsim PF.
func (n *nsim) show(t *testing.T) *sriov.PF {
	t.Helper()
	var st sriov.Host
	out := mustRun(t, "--json", "show", n.pf)
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.PFs) != 1 {
		t.Fatalf("show --json %s: %v\n%s", n.pf, err, out)
	}
	return &st.PFs[0]
}

// reps maps VF ids to representor netdevs by sysfs phys_port_name (independent of the backend).
func (n *nsim) reps() map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/sys/bus/netdevsim/devices/" + n.dev + "/net")
	for _, e := range ents {
		var vf int
		if _, err := fmt.Sscanf(readSys("class/net/"+e.Name()+"/phys_port_name"), "pf0vf%d", &vf); err == nil {
			out[vf] = e.Name()
		}
	}
	return out
}

func nsimProfile(t *testing.T) *nicprofile.Profile {
	p, ok := nicprofile.ByName("netdevsim")
	if !ok {
		t.Fatal("no netdevsim NIC profile")
	}
	return p
}

// TestNetdevsimNumVFs: discovery without sriov_totalvfs (the limit from debugfs max_vfs), VFs without
// PCI functions, the numvfs rules, and the over-maximum answer (ENOMEM, as the profile says; the CLI
// refuses it first from the published limit).
func TestNetdevsimNumVFs(t *testing.T) {
	n := newNsim(t, 4)
	p := n.show(t)
	if p.Driver != "netdevsim" || p.PCIAddress != n.dev || p.TotalVFs != 4 || p.NumVFs != 0 || !p.VFsHaveNoDevice || p.EswitchMode != "legacy" {
		t.Fatalf("PF: %+v", p)
	}
	mustRun(t, "pf", "set", n.pf, "--numvfs", "4")
	p = n.show(t)
	if p.NumVFs != 4 || len(p.VFs) != 4 || readSys("bus/netdevsim/devices/"+n.dev+"/sriov_numvfs") != "4" {
		t.Fatalf("after numvfs 4: %+v", p)
	}
	for i, v := range p.VFs {
		if v.ID != i || v.PCIAddress != "" || v.Driver != "" || v.Netdev != "" || v.Representor != "" {
			t.Errorf("VF %d: %+v (a netdevsim VF has no device fields)", i, v)
		}
		if want := nsimProfile(t).FreshVFConfig(); v.VFConfig != want {
			t.Errorf("fresh VF %d: %+v, the profile says %+v", i, v.VFConfig, want)
		}
	}
	if out := mustRun(t, "pf", "set", n.pf, "--numvfs", "4"); !strings.Contains(out, "no changes") {
		t.Errorf("4 -> 4: %q", out)
	}
	if _, stderr, code := run(t, "pf", "set", n.pf, "--numvfs", "2"); code != 2 || !strings.Contains(stderr, "--force") {
		t.Errorf("4 -> 2 without --force: exit %d %q", code, stderr)
	}
	h := kernelHost(t)
	ctx := context.Background()
	if err := h.SetNumVFs(ctx, n.pf, 2); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("kernel 4 -> 2: %v, want EBUSY", err)
	}
	// Above the maximum while VFs exist: netdevsim checks busy first.
	if err := h.SetNumVFs(ctx, n.pf, 5); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("kernel 4 -> 5: %v, want EBUSY", err)
	}
	if _, stderr, code := run(t, "pf", "set", n.pf, "--numvfs", "5"); code != 2 || !strings.Contains(stderr, "0-4") {
		t.Errorf("5: exit %d %q, want a usage error naming 0-4", code, stderr)
	}
	mustRun(t, "pf", "set", n.pf, "--numvfs", "0")
	err := h.SetNumVFs(ctx, n.pf, 5)
	want := nsimProfile(t).TooManyVFs
	if want == nil || !errors.Is(err, want.ErrnoValue()) {
		t.Errorf("kernel 0 -> 5: %v, profile says %+v", err, want)
	}
	t.Logf("kernel answer 0 -> 5: %v", err)
	mustRun(t, "pf", "set", n.pf, "--numvfs", "2")
	if _, stderr, code := run(t, "vf", "bind", n.pf, "0", "vfio-pci"); code != 1 || !strings.Contains(stderr, "no PCI function") {
		t.Errorf("bind a netdevsim VF: exit %d %q", code, stderr)
	}
}

// TestNetdevsimVFAttributes: every VF attribute set with the CLI and read back by show --json and by
// `ip -d link show`; then the driver's raw answer to each attribute, in legacy and switchdev mode,
// against what the netdevsim profile predicts.
func TestNetdevsimVFAttributes(t *testing.T) {
	n := newNsim(t, 4)
	mustRun(t, "pf", "set", n.pf, "--numvfs", "2")
	mustRun(t, "vf", "set", n.pf, "0", "--mac", "02:00:00:00:00:10", "--vlan", "100", "--qos", "3", "--spoofchk", "off",
		"--trust", "on", "--state", "disable", "--min-tx-rate", "10", "--max-tx-rate", "100", "--query-rss", "on")
	mustRun(t, "vf", "set", n.pf, "1", "--vlan", "200", "--vlan-proto", "802.1ad", "--state", "enable")
	p := n.show(t)
	want0 := sriov.VFConfig{MAC: "02:00:00:00:00:10", VLAN: 100, QoS: 3, VLANProto: sriov.VLANProto8021Q, SpoofCheck: false, Trust: true,
		LinkState: sriov.LinkStateDisable, MinTxRateMbps: 10, MaxTxRateMbps: 100, QueryRSS: true}
	if got := p.VF(0).VFConfig; got != want0 {
		t.Errorf("VF 0 reads back %+v, want %+v", got, want0)
	}
	if v := p.VF(1); v.VLAN != 200 || v.VLANProto != sriov.VLANProto8021AD || v.LinkState != sriov.LinkStateEnable {
		t.Errorf("VF 1 reads back %+v", v)
	}
	ip := ipShowOf(t, n.pf)
	for _, v := range p.VFs {
		compareWithIP(t, v, ip[v.ID])
	}

	h := kernelHost(t)
	ctx := context.Background()
	prof := nsimProfile(t)
	type attr struct {
		a   nicprofile.Attr
		set func(vf int) error
	}
	attrs := []attr{
		{nicprofile.AttrMAC, func(vf int) error { return h.SetVFMAC(ctx, n.pf, vf, "02:00:00:00:01:01") }},
		{nicprofile.AttrVLAN, func(vf int) error { return h.SetVFVLAN(ctx, n.pf, vf, 10, 1, sriov.VLANProto8021Q) }},
		{nicprofile.AttrVLANProto8021AD, func(vf int) error { return h.SetVFVLAN(ctx, n.pf, vf, 10, 1, sriov.VLANProto8021AD) }},
		{nicprofile.AttrSpoofCheck, func(vf int) error { return h.SetVFSpoofCheck(ctx, n.pf, vf, true) }},
		{nicprofile.AttrTrust, func(vf int) error { return h.SetVFTrust(ctx, n.pf, vf, false) }},
		{nicprofile.AttrLinkState, func(vf int) error { return h.SetVFLinkState(ctx, n.pf, vf, sriov.LinkStateAuto) }},
		{nicprofile.AttrMinTxRate, func(vf int) error { return h.SetVFRate(ctx, n.pf, vf, 5, 0) }},
		{nicprofile.AttrMaxTxRate, func(vf int) error { return h.SetVFRate(ctx, n.pf, vf, 0, 50) }},
		{nicprofile.AttrQueryRSS, func(vf int) error { return h.SetVFQueryRSS(ctx, n.pf, vf, false) }},
	}
	for _, mode := range []string{"legacy", "switchdev"} {
		if err := h.SetEswitchMode(ctx, n.pf, mode); err != nil {
			t.Fatalf("eswitch %s: %v", mode, err)
		}
		for _, a := range attrs {
			err := a.set(1)
			r, refused := prof.RefusalIn(a.a, mode)
			switch {
			case refused && !errors.Is(err, r.ErrnoValue()):
				t.Errorf("%s %s: driver says %v, profile predicts %s", mode, a.a, err, r.Errno)
			case !refused && err != nil:
				t.Errorf("%s %s: driver refuses (%v), profile predicts it accepts", mode, a.a, err)
			default:
				t.Logf("%s %s: %v (profile: refused=%v)", mode, a.a, err, refused)
			}
		}
	}
	// The CLI predicts the switchdev refusal from the profile too: either way, exit 1 and nothing changed.
	before := n.show(t).VF(0).VFConfig
	if _, stderr, code := run(t, "vf", "set", n.pf, "0", "--max-tx-rate", "200"); code != 1 || !strings.Contains(stderr, "not supported") {
		t.Errorf("max-tx-rate in switchdev: exit %d %q", code, stderr)
	}
	if after := n.show(t).VF(0).VFConfig; after != before {
		t.Errorf("a refused rate changed VF 0: %+v -> %+v", before, after)
	}
}

// TestNetdevsim256VFs: the large-PF netlink path on a real kernel: 256 VFs on one PF listed whole by
// show --json, a policy setting every one of them applied, re-applied with 0 writes, and planned.
func TestNetdevsim256VFs(t *testing.T) {
	const count = 256
	n := newNsim(t, count)
	start := time.Now()
	mustRun(t, "pf", "set", n.pf, "--numvfs", fmt.Sprint(count))
	t.Logf("numvfs 0 -> %d took %s", count, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	p := n.show(t)
	t.Logf("show --json of %d VFs took %s", count, time.Since(start).Round(time.Millisecond))
	if p.NumVFs != count || len(p.VFs) != count || p.VFInfoTruncated {
		t.Fatalf("show --json: numvfs %d, %d VFs listed, truncated %v", p.NumVFs, len(p.VFs), p.VFInfoTruncated)
	}
	for i, v := range p.VFs {
		if v.ID != i || v.LinkState == "" || v.VLANProto == "" || v.MAC == "" {
			t.Fatalf("VF %d incomplete: %+v", i, v)
		}
	}
	var y strings.Builder
	fmt.Fprintf(&y, "pfs:\n  - name: %s\n    numVfs: %d\n    vfs:\n", n.pf, count)
	for i := range count {
		fmt.Fprintf(&y, "      - ids: \"%d\"\n        mac: \"02:00:00:01:%02x:%02x\"\n        vlan: %d\n        trust: %v\n",
			i, i>>8, i&0xff, 1+i, i%2 == 0)
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := "--state-dir=" + filepath.Join(dir, "state")
	start = time.Now()
	out := mustRun(t, sd, "plan", "-f", policy)
	t.Logf("plan of %d VFs took %s", count, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "(0 disruptive)") {
		t.Fatalf("plan:\n%.2000s", out)
	}
	start = time.Now()
	out = mustRun(t, sd, "apply", "-f", policy)
	t.Logf("apply to %d VFs took %s", count, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "apply: done:") {
		t.Fatalf("apply:\n%.2000s", out)
	}
	p = n.show(t)
	for i, v := range p.VFs {
		if v.MAC != fmt.Sprintf("02:00:00:01:%02x:%02x", i>>8, i&0xff) || v.VLAN != 1+i || v.Trust != (i%2 == 0) {
			t.Fatalf("VF %d not at the policy: %+v", i, v)
		}
	}
	if out := mustRun(t, sd, "apply", "-f", policy); !strings.Contains(out, "0 writes") {
		t.Fatalf("second apply:\n%.2000s", out)
	}
	if out := mustRun(t, sd, "plan", "-f", policy); !strings.Contains(out, "no changes") {
		t.Fatalf("plan after apply:\n%.2000s", out)
	}
	mustRun(t, "pf", "set", n.pf, "--numvfs", "0")
}

// TestNetdevsimEswitch: eswitch mode through devlink with `pf set --eswitch-mode` (through 0 VFs with
// --force, VFs and settings back) and the backend, read back by show from devlink (the PF has a
// phys_switch_id in legacy mode too), representors per VF from devlink's pcivf ports, and netdevsim's
// fall back to legacy when its VFs go to 0.
func TestNetdevsimEswitch(t *testing.T) {
	n := newNsim(t, 4)
	if readSys("class/net/"+n.pf+"/phys_switch_id") == "" {
		t.Fatal("netdevsim PF without phys_switch_id in legacy mode: the premise of this test changed")
	}
	mustRun(t, "pf", "set", n.pf, "--numvfs", "3")
	h := kernelHost(t)
	ctx := context.Background()
	if p := n.show(t); p.EswitchMode != "legacy" || p.VFs[0].Representor != "" {
		t.Fatalf("legacy: %+v", p)
	}
	mustRun(t, "vf", "set", n.pf, "1", "--vlan", "100", "--trust", "on", "--mac", "02:00:00:00:00:11")
	if _, stderr, code := run(t, "pf", "set", n.pf, "--eswitch-mode", "switchdev"); code != 2 || !strings.Contains(stderr, "--force") {
		t.Fatalf("eswitch mode with VFs, without --force: exit %d %q", code, stderr)
	}
	// Through 0 VFs (as drivers other than netdevsim require), and back with VF 1's settings.
	mustRun(t, "pf", "set", n.pf, "--eswitch-mode", "switchdev", "--force")
	p := n.show(t)
	if v := p.VF(1); p.NumVFs != 3 || v.VLAN != 100 || !v.Trust || v.MAC != "02:00:00:00:00:11" {
		t.Fatalf("after pf set --eswitch-mode switchdev --force: numvfs %d, VF 1 %+v", p.NumVFs, v)
	}
	reps := n.reps()
	if p.EswitchMode != "switchdev" || len(reps) != 3 {
		t.Fatalf("switchdev: mode %q, representors in sysfs %v", p.EswitchMode, reps)
	}
	for _, v := range p.VFs {
		if v.Representor == "" || v.Representor != reps[v.ID] {
			t.Errorf("VF %d: representor %q, sysfs says %q", v.ID, v.Representor, reps[v.ID])
		}
	}
	if err := h.SetEswitchMode(ctx, n.pf, "bogus"); !errors.Is(err, host.ErrInvalid) {
		t.Errorf("bogus mode: %v", err)
	}
	mustRun(t, "pf", "set", n.pf, "--numvfs", "0")
	if p := n.show(t); p.EswitchMode != "legacy" {
		t.Errorf("numvfs 0 in switchdev: mode %q, want netdevsim's fall back to legacy", p.EswitchMode)
	}
	mustRun(t, "pf", "set", n.pf, "--numvfs", "2")
	if err := h.SetEswitchMode(ctx, n.pf, "switchdev"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "pf", "set", n.pf, "--eswitch-mode", "legacy", "--force")
	if p, r := n.show(t), n.reps(); p.EswitchMode != "legacy" || len(r) != 0 || p.VFs[0].Representor != "" || p.NumVFs != 2 {
		t.Errorf("back to legacy: mode %q, representors %v", p.EswitchMode, r)
	}

	// Through a policy: the planner orders VFs to 0, the mode, VFs back, settings back (disruptive).
	dir := t.TempDir()
	policy := filepath.Join(dir, "eswitch.yaml")
	y := fmt.Sprintf("pfs:\n  - name: %s\n    eswitchMode: switchdev\n    vfs:\n      - ids: \"0\"\n        vlan: 42\n", n.pf)
	if err := os.WriteFile(policy, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := "--state-dir=" + filepath.Join(dir, "state")
	if out := mustRun(t, sd, "plan", "-f", policy); !strings.Contains(out, "eswitchMode legacy -> switchdev") || !strings.Contains(out, "(1 disruptive)") {
		t.Fatalf("plan:\n%s", out)
	}
	mustRun(t, sd, "apply", "-f", policy, "--yes")
	if p := n.show(t); p.EswitchMode != "switchdev" || p.NumVFs != 2 || p.VF(0).VLAN != 42 || p.VF(0).Representor == "" {
		t.Fatalf("after apply: %+v", p)
	}
	if out := mustRun(t, sd, "apply", "-f", policy); !strings.Contains(out, "0 writes") {
		t.Fatalf("second apply:\n%s", out)
	}
}

// TestNetdevsimMirror: mirror create --strategy switchdev-tc on real representors: tc rules on the
// uplink and every representor, read back by show and mirror list, removed by mirror delete; frames pushed
// into a representor's or the uplink's ingress (netdevsim never receives: a dummy device redirects into
// it) reach every member's representor, as trace predicts.
func TestNetdevsimMirror(t *testing.T) {
	n := newNsim(t, 4)
	mustRun(t, "pf", "set", n.pf, "--numvfs", "3")
	if err := kernelHost(t).SetEswitchMode(context.Background(), n.pf, "switchdev"); err != nil {
		t.Fatal(err)
	}
	reps := n.reps()
	for _, r := range reps {
		ifUp(t, r)
	}
	state := "--state-dir=" + t.TempDir()
	const mac = "02:00:00:00:aa:01"
	mustRun(t, state, "mirror", "create", "tap", "--pf", n.pf, "--vfs", "0,1", "--mac", mac, "--strategy", "switchdev-tc")
	p := n.show(t)
	if len(p.MirrorRules) != 1 || p.MirrorRules[0].MAC != mac || !slices.Equal(p.MirrorRules[0].VFs, []int{0, 1}) {
		t.Fatalf("show: mirror rules %+v", p.MirrorRules)
	}
	if out := mustRun(t, state, "mirror", "list"); !strings.Contains(out, "tap") {
		t.Errorf("mirror list:\n%s", out)
	}
	// The rule lives on the uplink and on each representor (the real ones, found through devlink).
	for _, dev := range []string{n.pf, reps[0], reps[1], reps[2]} {
		if flowers(t, dev) == 0 {
			t.Errorf("no flower filter on %s", dev)
		}
	}

	ports := map[string]string{"wire": n.pf}
	for id, r := range reps {
		ports[fmt.Sprintf("vf:%d", id)] = r
	}
	inj := newInjector(t)
	for _, from := range []string{"vf:2", "vf:0", "wire"} {
		t.Run("from "+from, func(t *testing.T) {
			predicted := tracePorts(t, n.pf, from, mac)
			got := inj.pushAndCapture(t, ports, from, mac)
			t.Logf("into %s's ingress: trace predicts %v, representors captured %v", from, predicted, got)
			if !slices.Equal(got, predicted) {
				t.Errorf("captured on %v; trace predicted %v", got, predicted)
			}
		})
	}

	mustRun(t, state, "mirror", "delete", "tap")
	if p := n.show(t); len(p.MirrorRules) != 0 {
		t.Errorf("after delete: %+v", p.MirrorRules)
	}
	for _, dev := range []string{n.pf, reps[0], reps[1], reps[2]} {
		if c := flowers(t, dev); c != 0 {
			t.Errorf("%d flower filters left on %s", c, dev)
		}
	}
}

// flowers counts the flower filters on dev's ingress.
func flowers(t *testing.T, dev string) int {
	t.Helper()
	l, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := netlink.FilterList(l, netlink.HANDLE_INGRESS)
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("filters of %s: %v", dev, err)
	}
	c := 0
	for _, f := range fs {
		if _, ok := f.(*netlink.Flower); ok {
			c++
		}
	}
	return c
}

// tracePorts is what `sriovctl trace` predicts for a frame from port from to dst: the receiving ports,
// sorted. Only VF ports can be captured on netdevsim (its uplink never puts frames on a wire on 6.1).
func tracePorts(t *testing.T, pf, from, dst string) []string {
	t.Helper()
	var pred struct {
		Verdict   string `json:"verdict"`
		Reason    string `json:"reason"`
		Receivers []struct {
			Port string `json:"port"`
		} `json:"receivers"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "--json", "trace", "--pf", pf, "--from", from, "--dst", dst)), &pred); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range pred.Receivers {
		if strings.HasPrefix(r.Port, "vf:") {
			out = append(out, r.Port)
		}
	}
	sort.Strings(out)
	return out
}

// injector is a dummy netdev whose egress is redirected into another netdev's ingress (tc clsact +
// matchall + mirred ingress redirect): frames sent on it arrive at that netdev as if received.
type injector struct {
	link netlink.Link
}

func newInjector(t *testing.T) *injector {
	t.Helper()
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "nsinj0"}}
	if err := netlink.LinkAdd(d); err != nil {
		t.Fatalf("dummy: %v", err)
	}
	t.Cleanup(func() { netlink.LinkDel(d) })
	l, err := netlink.LinkByName("nsinj0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := netlink.QdiscAdd(q); err != nil {
		t.Fatalf("clsact on the injector: %v", err)
	}
	return &injector{link: l}
}

// into points the injector at dev's ingress.
func (in *injector) into(t *testing.T, dev string) {
	t.Helper()
	target, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	a := netlink.NewMirredAction(target.Attrs().Index)
	a.MirredAction = netlink.TCA_INGRESS_REDIR
	a.Attrs().Action = netlink.TC_ACT_STOLEN
	f := &netlink.MatchAll{FilterAttrs: netlink.FilterAttrs{LinkIndex: in.link.Attrs().Index, Parent: netlink.HANDLE_MIN_EGRESS,
		Priority: 1, Handle: 1, Protocol: unix.ETH_P_ALL}, Actions: []netlink.Action{a}}
	netlink.FilterDel(f) // the previous target's
	if err := netlink.FilterAdd(f); err != nil {
		t.Fatalf("matchall mirred ingress redirect to %s: %v", dev, err)
	}
}

// pushAndCapture pushes 3 marked frames into ports[from]'s ingress and returns, sorted, the other VF
// ports whose representor saw at least one of them (a copy shows as outgoing on it).
func (in *injector) pushAndCapture(t *testing.T, ports map[string]string, from, dst string) []string {
	t.Helper()
	in.into(t, ports[from])
	nonce := make([]byte, 8)
	rand.Read(nonce)
	marker := []byte("sriovctl-nsim-" + hex.EncodeToString(nonce))
	caps := map[string]*rawframe.Capture{}
	for port, dev := range ports {
		if port == from {
			continue
		}
		c, err := rawframe.Listen(dev, marker)
		if err != nil {
			t.Fatal(err)
		}
		caps[port] = c
	}
	frame, err := rawframe.Build(dst, "02:00:00:00:ee:01", 0, marker)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := rawframe.Send(in.link.Attrs().Name, frame); err != nil {
			t.Fatalf("send on the injector: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	var got []string
	for port, c := range caps {
		i, o := c.Stop()
		t.Logf("%s (%s): %d in, %d out", port, ports[port], i, o)
		if i+o > 0 && strings.HasPrefix(port, "vf:") {
			got = append(got, port)
		}
	}
	sort.Strings(got)
	return got
}
