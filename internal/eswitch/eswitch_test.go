package eswitch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

const (
	pfMAC  = "52:54:00:12:34:56"
	macA   = "02:00:00:00:00:0a"
	macB   = "02:00:00:00:00:0b"
	macC   = "02:00:00:00:00:0c"
	shared = "02:00:00:00:00:aa"
	bcast  = "ff:ff:ff:ff:ff:ff"
	mcast  = "01:00:5e:00:00:01"
	other  = "02:00:00:00:00:99"
)

// vf builds a VF bound to its netdev driver whose netdev carries the admin MAC.
func vf(id int, mac string, opts ...func(*sriov.VF)) sriov.VF {
	v := sriov.VF{ID: id, Netdev: "eth0v" + string(rune('0'+id)), Driver: "vfdrv", VFConfig: sriov.DefaultVFConfig(), NetdevMAC: mac}
	v.MAC = mac
	for _, o := range opts {
		o(&v)
	}
	return v
}

func pvid(n int) func(*sriov.VF)      { return func(v *sriov.VF) { v.VLAN = n } }
func spoof(on bool) func(*sriov.VF)   { return func(v *sriov.VF) { v.SpoofCheck = on } }
func trust(on bool) func(*sriov.VF)   { return func(v *sriov.VF) { v.Trust = on } }
func netdev(m string) func(*sriov.VF) { return func(v *sriov.VF) { v.NetdevMAC = m } }
func disabled() func(*sriov.VF) {
	return func(v *sriov.VF) { v.LinkState = sriov.LinkStateDisable }
}
func vfio() func(*sriov.VF) {
	return func(v *sriov.VF) { v.Netdev, v.NetdevMAC, v.Driver = "", "", "vfio-pci" }
}

func pfWith(profile string, vfs ...sriov.VF) *sriov.PF {
	prof, _ := nicprofile.ByName(profile)
	return &sriov.PF{Name: "eth0", Driver: prof.Driver, MAC: pfMAC, OperState: "up", NumVFs: len(vfs), VFs: vfs}
}

func recv(ports ...any) []Receiver {
	out := []Receiver{}
	for i := 0; i < len(ports); i += 2 {
		out = append(out, Receiver{Port: ports[i].(string), VLAN: ports[i+1].(int)})
	}
	return out
}

type tcase struct {
	name    string
	pf      *sriov.PF
	frame   Frame
	verdict string
	cause   string
	recv    []Receiver
	uncert  bool
}

func run(t *testing.T, profile string, cases []tcase) {
	t.Helper()
	prof, _ := nicprofile.ByName(profile)
	for _, c := range cases {
		t.Run(profile+"/"+c.name, func(t *testing.T) {
			r := New(c.pf, prof).Trace(c.frame)
			if r.Verdict != c.verdict || r.Cause != c.cause || r.Uncertain != c.uncert {
				t.Fatalf("verdict %q cause %q uncertain %v, want %q %q %v\nsteps:\n  %s", r.Verdict, r.Cause, r.Uncertain,
					c.verdict, c.cause, c.uncert, strings.Join(r.Steps, "\n  "))
			}
			want := c.recv
			if want == nil {
				want = []Receiver{}
			}
			if !reflect.DeepEqual(r.Receivers, want) {
				t.Fatalf("receivers %v, want %v\nsteps:\n  %s", r.Receivers, want, strings.Join(r.Steps, "\n  "))
			}
			if r.Reason == "" || len(r.Steps) < 2 || !strings.Contains(r.Steps[0], "prediction") {
				t.Fatalf("reason %q steps %q: want a reason and steps that say it is a prediction", r.Reason, r.Steps)
			}
		})
	}
}

// rulesEveryProfile are the rules whose outcome does not depend on the NIC.
func rulesEveryProfile(profile string) []tcase {
	return []tcase{
		{name: "unicast from wire to VF", pf: pfWith(profile, vf(0, macA), vf(1, macB)),
			frame: Frame{From: "wire", Dst: macB}, verdict: Delivered, recv: recv("vf:1", 0)},
		{name: "unicast from VF to VF stays inside", pf: pfWith(profile, vf(0, macA), vf(1, macB)),
			frame: Frame{From: "vf:0", Dst: macB}, verdict: Delivered, recv: recv("vf:1", 0)},
		{name: "unicast from PF to VF", pf: pfWith(profile, vf(0, macA)),
			frame: Frame{From: "pf", Dst: macA}, verdict: Delivered, recv: recv("vf:0", 0)},
		{name: "unicast to PF MAC from VF", pf: pfWith(profile, vf(0, macA)),
			frame: Frame{From: "vf:0", Dst: pfMAC}, verdict: Delivered, recv: recv("pf", 0)},
		{name: "unknown unicast from VF leaves on the wire", pf: pfWith(profile, vf(0, macA)),
			frame: Frame{From: "vf:0", Dst: other}, verdict: Delivered, recv: recv("wire", 0)},
		{name: "broadcast from VF floods VLAN and wire", pf: pfWith(profile, vf(0, macA), vf(1, macB), vf(2, macC, pvid(100))),
			frame: Frame{From: "vf:0", Dst: bcast}, verdict: Delivered, recv: recv("pf", 0, "vf:1", 0, "wire", 0)},
		{name: "broadcast from wire floods VLAN, not back to wire", pf: pfWith(profile, vf(0, macA), vf(1, macB, pvid(100))),
			frame: Frame{From: "wire", Dst: bcast, VLAN: 100}, verdict: Delivered, recv: recv("pf", 100, "vf:1", 0)},
		{name: "multicast from PF floods", pf: pfWith(profile, vf(0, macA), vf(1, macB)),
			frame: Frame{From: "pf", Dst: mcast}, verdict: Delivered, recv: recv("vf:0", 0, "vf:1", 0, "wire", 0)},
		{name: "port VLAN tags on the way in", pf: pfWith(profile, vf(0, macA, pvid(100)), vf(1, macB, pvid(100))),
			frame: Frame{From: "vf:0", Dst: other}, verdict: Delivered, recv: recv("wire", 100)},
		{name: "port VLAN VF to VF same VLAN untagged on both ends", pf: pfWith(profile, vf(0, macA, pvid(100)), vf(1, macB, pvid(100))),
			frame: Frame{From: "vf:0", Dst: macB}, verdict: Delivered, recv: recv("vf:1", 0)},
		{name: "port VLAN VF refuses tagged frames", pf: pfWith(profile, vf(0, macA, pvid(100))),
			frame: Frame{From: "vf:0", Dst: other, VLAN: 200}, verdict: Dropped, cause: CauseTaggedOnPVID},
		{name: "unknown unicast from PF leaves on the wire", pf: pfWith(profile, vf(0, macA)),
			frame: Frame{From: "pf", Dst: other, VLAN: 7}, verdict: Delivered, recv: recv("wire", 7)},
		{name: "port VLAN VF gets its VLAN from wire untagged", pf: pfWith(profile, vf(0, macA, pvid(100))),
			frame: Frame{From: "wire", Dst: macA, VLAN: 100}, verdict: Delivered, recv: recv("vf:0", 0)},
		{name: "spoof check drops foreign source", pf: pfWith(profile, vf(0, macA), vf(1, macB)),
			frame: Frame{From: "vf:0", Src: other, Dst: macB}, verdict: Dropped, cause: CauseSpoofCheck},
		{name: "spoof check passes own source", pf: pfWith(profile, vf(0, macA), vf(1, macB)),
			frame: Frame{From: "vf:0", Src: macA, Dst: macB}, verdict: Delivered, recv: recv("vf:1", 0)},
		{name: "spoof check off passes foreign source", pf: pfWith(profile, vf(0, macA, spoof(false)), vf(1, macB)),
			frame: Frame{From: "vf:0", Src: other, Dst: macB}, verdict: Delivered, recv: recv("vf:1", 0)},
		{name: "link disable: sends nothing", pf: pfWith(profile, vf(0, macA, disabled()), vf(1, macB)),
			frame: Frame{From: "vf:0", Dst: macB}, verdict: Dropped, cause: CauseLinkDisabled},
		{name: "link disable: receives nothing", pf: pfWith(profile, vf(0, macA, disabled())),
			frame: Frame{From: "wire", Dst: macA}, verdict: Dropped, cause: CauseLinkDisabled},
		{name: "link disable: left out of broadcast", pf: pfWith(profile, vf(0, macA, disabled()), vf(1, macB)),
			frame: Frame{From: "wire", Dst: bcast}, verdict: Delivered, recv: recv("pf", 0, "vf:1", 0)},
		{name: "trusted VF uses its own MAC", pf: pfWith(profile, vf(0, macA, trust(true), netdev(macC))),
			frame: Frame{From: "wire", Dst: macC}, verdict: Delivered, recv: recv("vf:0", 0)},
		{name: "trusted VF passes spoof check with its own MAC", pf: pfWith(profile, vf(0, macA, trust(true), netdev(macC)), vf(1, macB)),
			frame: Frame{From: "vf:0", Dst: macB}, verdict: Delivered, recv: recv("vf:1", 0)},
		{name: "untrusted VF with another netdev MAC fails spoof check", pf: pfWith(profile, vf(0, macA, netdev(macC)), vf(1, macB)),
			frame: Frame{From: "vf:0", Dst: macB}, verdict: Dropped, cause: CauseSpoofCheck},
		{name: "admin MAC not on netdev: netdev drops", pf: pfWith(profile, vf(0, macA, netdev(macC))),
			frame: Frame{From: "wire", Dst: macA}, verdict: Dropped, cause: CauseReloadPending},
		{name: "vfio VF receives on its admin MAC", pf: pfWith(profile, vf(0, macA, vfio())),
			frame: Frame{From: "wire", Dst: macA}, verdict: Delivered, recv: recv("vf:0", 0)},
		{name: "VF without admin MAC uses netdev MAC", pf: pfWith(profile, vf(0, sriov.ZeroMAC, netdev(macC))),
			frame: Frame{From: "wire", Dst: macC}, verdict: Delivered, recv: recv("vf:0", 0)},
		{name: "no such VF", pf: pfWith(profile, vf(0, macA)),
			frame: Frame{From: "vf:5", Dst: macA}, verdict: Dropped, cause: CauseNoSuchPort},
		{name: "PF link down: nothing from the wire", pf: func() *sriov.PF { p := pfWith(profile, vf(0, macA)); p.OperState = "down"; return p }(),
			frame: Frame{From: "wire", Dst: macA}, verdict: Dropped, cause: CauseLinkDown},
	}
}

// TestUnmatchedPerProfile: frames no VF takes, and frames to a VF's MAC that its VLAN filter refuses.
// Generic VEB: unknown unicast (dropped from the wire, out on the wire from inside). igb (observed on
// QEMU's 82576): from the wire the PF, the default pool, gets it if its VLAN passes the NIC's VLAN filter;
// from a VF, a frame to a VF's MAC in another VLAN is dropped inside the NIC.
func TestUnmatchedPerProfile(t *testing.T) {
	for _, prof := range nicprofile.All() {
		pf := func() *sriov.PF { return pfWith(prof.Name, vf(0, macA, pvid(100)), vf(1, macB)) }
		cases := []tcase{
			{name: "wire: unknown MAC", pf: pf(), frame: Frame{From: "wire", Dst: other}, verdict: Dropped, cause: CauseNoMatchingPort},
			{name: "wire: VF's MAC, wrong VLAN", pf: pf(), frame: Frame{From: "wire", Dst: macA}, verdict: Dropped, cause: CauseVLANMismatch},
			{name: "wire: flat VF's MAC tagged in a used VLAN", pf: pf(), frame: Frame{From: "wire", Dst: macB, VLAN: 100}, verdict: Dropped, cause: CauseVLANMismatch},
			{name: "wire: unknown MAC in an unused VLAN", pf: pf(), frame: Frame{From: "wire", Dst: other, VLAN: 200}, verdict: Dropped, cause: CauseNoMatchingPort},
			{name: "VF: VF's MAC, wrong VLAN", pf: pf(), frame: Frame{From: "vf:1", Dst: macA}, verdict: Delivered, recv: recv("wire", 0)},
		}
		if prof.UnmatchedToPF {
			for i := 0; i < 3; i++ {
				cases[i].verdict, cases[i].cause = Delivered, ""
				cases[i].recv = recv("pf", cases[i].frame.VLAN)
			}
		}
		if prof.LocalVLANMissDrops {
			cases[4].verdict, cases[4].cause, cases[4].recv = Dropped, CauseVLANMismatch, nil
		}
		run(t, prof.Name, cases)
	}
}

func sharedMAC(profile string) *sriov.PF {
	return pfWith(profile, vf(0, shared, spoof(false)), vf(1, shared, spoof(false)), vf(2, macC))
}

func TestRulesEveryProfile(t *testing.T) {
	for _, p := range nicprofile.Names() {
		run(t, p, rulesEveryProfile(p))
	}
}

func TestDuplicateMACPerProfile(t *testing.T) {
	for _, prof := range nicprofile.All() {
		var cases []tcase
		switch prof.DuplicateMAC {
		case nicprofile.DuplicateMACAllReceive:
			cases = []tcase{
				{name: "shared MAC from wire reaches both", pf: sharedMAC(prof.Name), frame: Frame{From: "wire", Dst: shared},
					verdict: Delivered, recv: recv("vf:0", 0, "vf:1", 0)},
				{name: "shared MAC from third VF reaches both", pf: sharedMAC(prof.Name), frame: Frame{From: "vf:2", Dst: shared},
					verdict: Delivered, recv: recv("vf:0", 0, "vf:1", 0)},
				{name: "shared MAC from PF reaches both, PF no copy", pf: sharedMAC(prof.Name), frame: Frame{From: "pf", Dst: shared},
					verdict: Delivered, recv: recv("vf:0", 0, "vf:1", 0)},
				{name: "shared MAC from a member reaches the other", pf: sharedMAC(prof.Name), frame: Frame{From: "vf:0", Dst: shared},
					verdict: Delivered, recv: recv("vf:1", 0)},
			}
		default:
			cases = []tcase{
				{name: "shared MAC: only the lowest, uncertain", pf: sharedMAC(prof.Name), frame: Frame{From: "wire", Dst: shared},
					verdict: Delivered, recv: recv("vf:0", 0), uncert: true},
			}
		}
		run(t, prof.Name, cases)
	}
}

func TestIGBReloadPending(t *testing.T) {
	// igb: admin MAC set while igbvf is bound; the netdev keeps the old MAC until the VF driver reloads.
	p := pfWith("igb", vf(0, shared, spoof(false), netdev(macA)), vf(1, shared, spoof(false)), vf(2, macC))
	r := New(p, nil).Trace(Frame{From: "wire", Dst: shared})
	if !reflect.DeepEqual(r.Receivers, recv("vf:1", 0)) || !strings.Contains(strings.Join(r.Steps, "\n"), "reload") {
		t.Fatalf("receivers %v steps %q: want only vf:1 and a step naming the reload", r.Receivers, r.Steps)
	}
	// The old MAC no longer has a filter: unknown unicast from the wire.
	// (igb hands unicast no VF takes to the PF, its default pool.)
	r = New(p, nil).Trace(Frame{From: "wire", Dst: macA})
	if !reflect.DeepEqual(r.Receivers, recv("pf", 0)) {
		t.Fatalf("old MAC: %v, want only the PF (default pool)", r.Receivers)
	}
}

func TestSwitchdevMirrorRule(t *testing.T) {
	p := pfWith("mlx5", vf(0, macA), vf(1, macB), vf(2, macC))
	p.EswitchMode = "switchdev"
	p.MirrorRules = []sriov.MirrorRule{{Name: "tap", MAC: macA, VFs: []int{0, 1}}}
	r := New(p, nil).Trace(Frame{From: "wire", Dst: macA})
	if r.Verdict != Delivered || !reflect.DeepEqual(r.Receivers, recv("vf:0", 0, "vf:1", 0)) {
		t.Fatalf("rule: %s %v", r.Verdict, r.Receivers)
	}
	r = New(p, nil).Trace(Frame{From: "vf:2", Dst: macB})
	if !reflect.DeepEqual(r.Receivers, recv("pf", 0)) || !strings.Contains(r.Reason, "representor eth0_2") {
		t.Fatalf("no rule: %v %q", r.Receivers, r.Reason)
	}
	p.VFs[1].LinkState = sriov.LinkStateDisable
	r = New(p, nil).Trace(Frame{From: "vf:2", Dst: macA})
	if !reflect.DeepEqual(r.Receivers, recv("vf:0", 0)) {
		t.Fatalf("disabled member: %v", r.Receivers)
	}
}

func TestJSONShape(t *testing.T) {
	r := New(sharedMAC("igb"), nil).Trace(Frame{From: "wire", Dst: shared})
	b, _ := json.Marshal(r)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for k := range m {
		keys = append(keys, k)
	}
	if len(m) != 4 || m["verdict"] != "delivered" || m["reason"] == nil || m["receivers"] == nil || m["steps"] == nil {
		t.Fatalf("JSON keys %v: want exactly verdict, reason, receivers, steps: %s", keys, b)
	}
	dropped := New(pfWith("ixgbe"), nil).Trace(Frame{From: "wire", Dst: other})
	b, _ = json.Marshal(dropped)
	if !strings.Contains(string(b), `"receivers":[]`) {
		t.Fatalf("dropped frame JSON must carry an empty receivers list: %s", b)
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{"wire": "wire", "pf": "pf", "vf:3": "vf:3", "vf:03": "vf:3"} {
		if got, _, err := ParsePort(in); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "vf", "vf:-1", "vf:x", "eth0", "VF:1"} {
		if _, _, err := ParsePort(bad); err == nil {
			t.Errorf("ParsePort(%q): want an error", bad)
		}
	}
}
