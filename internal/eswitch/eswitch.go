// Package eswitch is a model of a NIC's embedded switch, computed from observed host state (one sriov.PF)
// and the NIC's profile. Given a frame entering at a port (the wire, the PF or a VF) it predicts, step by
// step, whether the frame is dropped and why, or which ports receive it and with which VLAN tag. It does
// no I/O: `sriovctl trace` prints its answer, and mirror groups check with it that their MAC's traffic
// reaches every member before they report success.
//
// Legacy (VEB) mode rules (docs/mirroring.md states them for users):
//   - unicast goes by destination MAC and VLAN to the port whose MAC filter matches (each VF's effective
//     MAC: the admin MAC, or the VF's own netdev MAC when it has none or is trusted to change it); on a NIC
//     whose VF driver must be reloaded for an admin MAC (igb), the netdev drops frames to the admin MAC
//     until the reload;
//   - several VFs with the same MAC: every one receives (all-receive), or the NIC is unpredictable
//     (unknown: the model names only the lowest VF and says so);
//   - broadcast and multicast go to every port of the VLAN, the wire included for frames from a VF or PF;
//   - unknown unicast from a VF or the PF leaves on the wire; from the wire it is dropped, or, on NICs
//     with unmatchedToPf (igb), goes to the PF (the default pool) if its VLAN passes the NIC's VLAN
//     filter; a frame to a VF's MAC that the VF's VLAN filter refuses counts as unknown, except from
//     inside a NIC with localVlanMissDrops (igb), which drops it;
//   - a VF with a port VLAN has its untagged frames tagged on the way in, may not send tagged frames, and
//     receives only that VLAN, untagged; a flat VF receives untagged frames only (the VLANs its guest may
//     have joined are not visible to the host);
//   - spoof check drops a VF's frames whose source MAC is not its MAC;
//   - a VF whose link state is disable sends and receives nothing;
//   - the PF and the wire are trunks: they carry every VLAN and see the tag.
//
// Switchdev mode: frames whose destination matches an offloaded mirror rule go to the rule's VFs; others
// go to the ingress port's representor on the host, where software decides (not modelled further).
package eswitch

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Port names as trace prints them: "wire", "pf", "vf:N".
const (
	PortWire = "wire"
	PortPF   = "pf"
)

// VFPort names VF id's port.
func VFPort(id int) string { return "vf:" + strconv.Itoa(id) }

// ParsePort reads wire, pf or vf:N; vf is -1 unless the port is a VF.
func ParsePort(s string) (port string, vf int, err error) {
	switch s {
	case PortWire, PortPF:
		return s, -1, nil
	}
	if rest, ok := strings.CutPrefix(s, "vf:"); ok {
		if id, err := strconv.Atoi(rest); err == nil && id >= 0 {
			return VFPort(id), id, nil
		}
	}
	return "", -1, &sriov.FieldError{Field: "--from", Value: s, Allowed: "want wire, pf or vf:N (e.g. vf:2)"}
}

// Verdicts.
const (
	Delivered = "delivered"
	Dropped   = "dropped"
)

// Causes say, for programs, why a frame was dropped or a port was left out.
const (
	CauseSpoofCheck     = "spoof-check"
	CauseVLANMismatch   = "vlan-mismatch"
	CauseLinkDisabled   = "link-disabled"
	CauseNoMatchingPort = "no-matching-port"
	CauseTaggedOnPVID   = "tagged-on-port-vlan"
	CauseNoSuchPort     = "no-such-port"
	CauseReloadPending  = "vf-driver-reload-pending"
	CauseLinkDown       = "pf-link-down"
)

// Frame is one Ethernet frame entering the switch.
type Frame struct {
	From string // wire, pf or vf:N
	Src  string // source MAC; "" = the ingress port's own MAC
	Dst  string // destination MAC
	VLAN int    // 802.1Q tag as sent, 0 = untagged
}

// Receiver is a port that gets a copy, with the VLAN tag it sees (0 = untagged).
type Receiver struct {
	Port string `json:"port"`
	VLAN int    `json:"vlan"`
}

// Result is the model's prediction. Its JSON form is what `sriovctl trace --json` prints.
type Result struct {
	Verdict   string     `json:"verdict"`
	Reason    string     `json:"reason"`
	Receivers []Receiver `json:"receivers"`
	Steps     []string   `json:"steps"`
	// Cause is the machine form of Reason when dropped.
	Cause string `json:"-"`
	// Uncertain is set when the NIC's behaviour is unknown for this frame (duplicate MAC on ixgbe...).
	Uncertain bool `json:"-"`
}

// Reached reports whether port received the frame.
func (r Result) Reached(port string) bool {
	for _, rc := range r.Receivers {
		if rc.Port == port {
			return true
		}
	}
	return false
}

// Switch is the embedded switch of one PF.
type Switch struct {
	pf   *sriov.PF
	prof *nicprofile.Profile
}

// New models pf's switch with the NIC profile prof (nil: the profile of the PF's driver).
func New(pf *sriov.PF, prof *nicprofile.Profile) *Switch {
	if prof == nil {
		prof = nicprofile.ForDriver(pf.Driver)
	}
	return &Switch{pf: pf, prof: prof}
}

// Switchdev reports whether the PF's eswitch is in switchdev mode.
func (s *Switch) Switchdev() bool { return s.pf.EswitchMode == "switchdev" }

// MAC is a VF's effective MAC as the switch sees it.
type MAC struct {
	// Filter is the MAC the switch delivers to the VF and, with spoof check, requires as source ("" if
	// the host cannot know it).
	Filter string
	// Netdev is the MAC the VF's netdev carries, when it has one.
	Netdev string
	// NetdevDrops: the netdev carries another MAC than Filter, so it drops unicast frames to Filter.
	NetdevDrops bool
	Note        string
}

// VFMAC works out a VF's effective MAC from its admin MAC, its netdev's MAC and trust.
func VFMAC(v sriov.VF, prof *nicprofile.Profile) MAC {
	admin := v.MAC
	if admin == sriov.ZeroMAC {
		admin = ""
	}
	netdev := ""
	if v.Netdev != "" {
		netdev = v.NetdevMAC
	}
	m := MAC{Netdev: netdev}
	switch {
	case admin == "" && netdev == "":
		m.Note = fmt.Sprintf("VF %d has no admin MAC and no netdev on the host: the MAC its guest uses is not visible, so no unicast reaches it in the model", v.ID)
	case admin == "":
		m.Filter = netdev
		m.Note = fmt.Sprintf("VF %d has no admin MAC; its netdev %s uses %s", v.ID, v.Netdev, netdev)
	case netdev == "" || strings.EqualFold(netdev, admin):
		m.Filter = admin
		m.Note = fmt.Sprintf("VF %d has MAC %s", v.ID, admin)
	case v.Trust:
		m.Filter = netdev
		m.Note = fmt.Sprintf("VF %d is trusted and its netdev %s changed its MAC to %s (admin MAC %s)", v.ID, v.Netdev, netdev, admin)
	default:
		m.Filter, m.NetdevDrops = admin, true
		if prof != nil && prof.MACNeedsVFReload {
			m.Note = fmt.Sprintf("VF %d has admin MAC %s but its netdev %s still carries %s: %s needs a VF driver reload (%q)", v.ID, admin, v.Netdev, netdev, prof.Driver, prof.MACNotice)
		} else {
			m.Note = fmt.Sprintf("VF %d has admin MAC %s but its netdev %s carries %s; untrusted, it cannot use its own MAC", v.ID, admin, v.Netdev, netdev)
		}
	}
	return m
}

// trace accumulates a prediction.
type trace struct {
	r Result
}

func (t *trace) step(format string, args ...any) {
	t.r.Steps = append(t.r.Steps, fmt.Sprintf(format, args...))
}

func (t *trace) drop(cause, format string, args ...any) Result {
	t.r.Verdict, t.r.Cause, t.r.Reason = Dropped, cause, fmt.Sprintf(format, args...)
	t.step("dropped: %s", t.r.Reason)
	t.r.Receivers = []Receiver{}
	return t.r
}

func (t *trace) deliver(recv []Receiver, reason string) Result {
	if len(recv) == 0 {
		return t.drop(CauseNoMatchingPort, "%s", reason)
	}
	t.r.Verdict, t.r.Reason, t.r.Receivers = Delivered, reason, recv
	names := make([]string, len(recv))
	for i, rc := range recv {
		names[i] = rc.Port
		if rc.VLAN != 0 {
			names[i] += fmt.Sprintf(" (tagged %d)", rc.VLAN)
		} else {
			names[i] += " (untagged)"
		}
	}
	t.step("delivered to %s", strings.Join(names, ", "))
	return t.r
}

func vlanText(v int) string {
	if v == 0 {
		return "untagged"
	}
	return fmt.Sprintf("VLAN %d", v)
}

// Trace predicts what the switch does with f.
func (s *Switch) Trace(f Frame) Result {
	t := &trace{r: Result{Receivers: []Receiver{}, Steps: []string{}}}
	p := s.pf
	mode := "legacy (VEB)"
	if s.Switchdev() {
		mode = "switchdev"
	}
	t.step("model of %s (%s, profile %s), eswitch %s: a prediction from observed state, not a capture", p.Name, p.Driver, s.prof.Name, mode)
	port, inVF, err := ParsePort(f.From)
	if err != nil {
		return t.drop(CauseNoSuchPort, "%v", err)
	}
	dst := strings.ToLower(f.Dst)
	src := strings.ToLower(f.Src)
	vlan := f.VLAN
	wireUp := p.OperState != "down"
	var in *sriov.VF
	switch port {
	case PortWire:
		if src == "" {
			src = "(external)"
		}
		t.step("frame enters from the wire: %s -> %s, %s", src, dst, vlanText(vlan))
		if !wireUp {
			return t.drop(CauseLinkDown, "the PF %s's link is %s: nothing enters from the wire", p.Name, p.OperState)
		}
	case PortPF:
		if src == "" {
			src = p.MAC
		}
		t.step("frame enters from the PF %s: %s -> %s, %s", p.Name, src, dst, vlanText(vlan))
	default:
		in = p.VF(inVF)
		if in == nil {
			return t.drop(CauseNoSuchPort, "the PF %s has no VF %d (it has %d VFs)", p.Name, inVF, p.NumVFs)
		}
		m := VFMAC(*in, s.prof)
		if src == "" {
			src = m.Netdev
			if src == "" {
				src = m.Filter
			}
		}
		t.step("frame enters from VF %d: %s -> %s, %s", in.ID, src, dst, vlanText(vlan))
		if in.LinkState == sriov.LinkStateDisable {
			return t.drop(CauseLinkDisabled, "VF %d's link state is disable: it sends and receives nothing", in.ID)
		}
		if in.SpoofCheck {
			switch {
			case m.Filter == "":
				t.step("spoof check on, but VF %d's MAC is not known to the host: not judged", in.ID)
			case src != m.Filter:
				t.step("%s", m.Note)
				return t.drop(CauseSpoofCheck, "spoof check: VF %d may only send from %s; the source is %s (turn spoofchk off, or trust it to change its MAC)", in.ID, m.Filter, src)
			default:
				t.step("spoof check on: the source %s is VF %d's MAC: passes", src, in.ID)
			}
		} else {
			t.step("spoof check off on VF %d: any source MAC passes", in.ID)
		}
		if in.VLAN != 0 {
			if vlan != 0 {
				return t.drop(CauseTaggedOnPVID, "VF %d has port VLAN %d: it may only send untagged frames, this one is tagged %d", in.ID, in.VLAN, vlan)
			}
			vlan = in.VLAN
			t.step("VF %d has port VLAN %d: the frame is tagged %d in the switch", in.ID, in.VLAN, vlan)
		}
	}
	if s.Switchdev() {
		return s.traceSwitchdev(t, port, in, dst, vlan)
	}
	if sriov.IsMulticast(dst) {
		return s.flood(t, port, in, dst, vlan, wireUp)
	}
	return s.unicast(t, port, in, dst, vlan, wireUp)
}

// accepts says whether VF v receives a frame of the switch's VLAN vlan, with the tag it sees, or why not.
func accepts(v *sriov.VF, vlan int) (seen int, cause, why string) {
	if v.LinkState == sriov.LinkStateDisable {
		return 0, CauseLinkDisabled, fmt.Sprintf("VF %d's link state is disable", v.ID)
	}
	if v.VLAN != 0 {
		if vlan != v.VLAN {
			return 0, CauseVLANMismatch, fmt.Sprintf("VF %d only receives its port VLAN %d; the frame is %s", v.ID, v.VLAN, vlanText(vlan))
		}
		return 0, "", fmt.Sprintf("VF %d: port VLAN %d matches; the tag is stripped on the way out", v.ID, v.VLAN)
	}
	if vlan != 0 {
		return 0, CauseVLANMismatch, fmt.Sprintf("VF %d is flat (no port VLAN) and receives untagged frames; the frame is tagged %d (VLANs its guest joined are not visible to the host)", v.ID, vlan)
	}
	return 0, "", fmt.Sprintf("VF %d: flat, untagged frame", v.ID)
}

func (s *Switch) flood(t *trace, port string, in *sriov.VF, dst string, vlan int, wireUp bool) Result {
	kind := "multicast"
	if dst == "ff:ff:ff:ff:ff:ff" {
		kind = "broadcast"
	}
	t.step("%s (%s): flooded to every port of that VLAN except the one it came from (multicast group membership is not modelled: every port counts as joined)", kind, vlanText(vlan))
	var recv []Receiver
	if port != PortPF {
		recv = append(recv, Receiver{Port: PortPF, VLAN: vlan})
	}
	firstCause, firstWhy := "", ""
	for i := range s.pf.VFs {
		v := &s.pf.VFs[i]
		if in != nil && v.ID == in.ID {
			continue
		}
		seen, cause, why := accepts(v, vlan)
		if cause != "" {
			t.step("not to VF %d: %s", v.ID, why)
			if firstCause == "" {
				firstCause, firstWhy = cause, why
			}
			continue
		}
		recv = append(recv, Receiver{Port: VFPort(v.ID), VLAN: seen})
	}
	if port != PortWire {
		if wireUp {
			t.step("frames from inside the NIC also leave on the wire")
			recv = append(recv, Receiver{Port: PortWire, VLAN: vlan})
		} else {
			t.step("not to the wire: the PF's link is %s", s.pf.OperState)
		}
	}
	if len(recv) == 0 && firstCause != "" {
		return t.drop(firstCause, "%s", firstWhy)
	}
	return t.deliver(recv, fmt.Sprintf("%s flooded (%s)", kind, vlanText(vlan)))
}

func (s *Switch) unicast(t *trace, port string, in *sriov.VF, dst string, vlan int, wireUp bool) Result {
	t.step("unicast: look up %s (%s) among the PF's and VFs' MAC filters", dst, vlanText(vlan))
	var recv []Receiver
	firstCause, firstWhy := "", ""
	excluded := func(cause, why string) {
		t.step("left out: %s", why)
		if firstCause == "" {
			firstCause, firstWhy = cause, why
		}
	}
	if strings.EqualFold(s.pf.MAC, dst) && port != PortPF {
		t.step("the PF %s has MAC %s (it carries every VLAN)", s.pf.Name, dst)
		recv = append(recv, Receiver{Port: PortPF, VLAN: vlan})
	}
	var owners []*sriov.VF
	poolTook := false // a VF's MAC and VLAN filters took the frame (even if its netdev then drops it)
	for i := range s.pf.VFs {
		v := &s.pf.VFs[i]
		m := VFMAC(*v, s.prof)
		if m.Filter == "" || !strings.EqualFold(m.Filter, dst) {
			continue
		}
		owners = append(owners, v)
		t.step("%s", m.Note)
		if in != nil && v.ID == in.ID {
			t.step("VF %d sent the frame: the switch does not send it back to its source port", v.ID)
			continue
		}
		seen, cause, why := accepts(v, vlan)
		if cause == CauseLinkDisabled {
			poolTook = true // its filters still claim the frame
		}
		if cause != "" {
			excluded(cause, why)
			continue
		}
		poolTook = true
		if m.NetdevDrops {
			excluded(CauseReloadPending, fmt.Sprintf("VF %d: the frame reaches its queue but its netdev %s carries %s and drops it", v.ID, v.Netdev, m.Netdev))
			continue
		}
		recv = append(recv, Receiver{Port: VFPort(v.ID), VLAN: seen})
	}
	var nVF int
	for _, r := range recv {
		if r.Port != PortPF {
			nVF++
		}
	}
	if len(owners) > 1 {
		ids := make([]string, len(owners))
		for i, v := range owners {
			ids[i] = strconv.Itoa(v.ID)
		}
		switch s.prof.DuplicateMAC {
		case nicprofile.DuplicateMACAllReceive:
			t.step("VFs %s share %s; %s delivers to every VF with the MAC (duplicateMac all-receive)", strings.Join(ids, ", "), dst, s.prof.Name)
		default:
			t.r.Uncertain = true
			t.step("VFs %s share %s; on %s which one receives is not known (duplicateMac %s): the model names only the lowest", strings.Join(ids, ", "), dst, s.prof.Name, s.prof.DuplicateMAC)
			recv = keepFirstVF(recv)
			nVF = min(nVF, 1)
		}
	}
	if len(recv) > 0 {
		return t.deliver(recv, fmt.Sprintf("unicast to %s (%s)", dst, vlanText(vlan)))
	}
	if port == PortWire && s.prof.UnmatchedToPF && !poolTook {
		if vlan != 0 && !s.vlanInUse(vlan) {
			t.step("%s: VLAN %d is no VF's VLAN, so the NIC's VLAN filter drops the frame", s.prof.Name, vlan)
		} else {
			if firstWhy != "" {
				t.step("no VF takes it (%s)", firstWhy)
			}
			t.step("%s: unicast from the wire that no VF takes goes to the NIC's default pool, the PF", s.prof.Name)
			return t.deliver([]Receiver{{Port: PortPF, VLAN: vlan}}, fmt.Sprintf("no VF takes %s (%s): the PF, the default pool, gets it", dst, vlanText(vlan)))
		}
	}
	if port != PortWire && s.prof.LocalVLANMissDrops && firstCause == CauseVLANMismatch {
		t.step("%s: the MAC belongs to a VF of this NIC, so the frame is switched inside the NIC (not sent on the wire), where that VF's VLAN filter drops it", s.prof.Name)
		return t.drop(firstCause, "%s", firstWhy)
	}
	if port == PortWire {
		if firstCause != "" {
			return t.drop(firstCause, "%s", firstWhy)
		}
		return t.drop(CauseNoMatchingPort, "no port has MAC %s (%s)", dst, vlanText(vlan))
	}
	if !wireUp {
		return t.drop(CauseLinkDown, "%s is not local and the PF's link is %s", dst, s.pf.OperState)
	}
	t.step("no local port takes %s (%s): unknown unicast leaves on the wire", dst, vlanText(vlan))
	return t.deliver([]Receiver{{Port: PortWire, VLAN: vlan}}, fmt.Sprintf("unknown unicast %s leaves on the wire", dst))
}

// vlanInUse reports whether some VF has port VLAN v (the NIC's global VLAN filter then passes it).
func (s *Switch) vlanInUse(v int) bool {
	for _, vf := range s.pf.VFs {
		if vf.VLAN == v {
			return true
		}
	}
	return false
}

func keepFirstVF(recv []Receiver) []Receiver {
	out := recv[:0:0]
	seenVF := false
	for _, r := range recv {
		if r.Port != PortPF {
			if seenVF {
				continue
			}
			seenVF = true
		}
		out = append(out, r)
	}
	return out
}

// Representor names the host netdev that represents a port in switchdev mode: the PF's netdev is the
// uplink representor, VF n's is PF_n (the naming udev rules commonly give mlx5 and ice representors).
func Representor(pf string, port string) string {
	if id, ok := strings.CutPrefix(port, "vf:"); ok {
		return pf + "_" + id
	}
	return pf
}

func (s *Switch) traceSwitchdev(t *trace, port string, in *sriov.VF, dst string, vlan int) Result {
	t.step("switchdev mode: offloaded tc rules decide; the rest goes to the representor %s on the host", Representor(s.pf.Name, port))
	for _, rule := range s.pf.MirrorRules {
		if !strings.EqualFold(rule.MAC, dst) {
			continue
		}
		t.step("rule %s (tc flower dst_mac %s, mirred to %d VF representors) matches", rule.Name, rule.MAC, len(rule.VFs))
		var recv []Receiver
		firstCause, firstWhy := "", ""
		ids := append([]int(nil), rule.VFs...)
		sort.Ints(ids)
		for _, id := range ids {
			v := s.pf.VF(id)
			switch {
			case v == nil:
				t.step("not to VF %d: it does not exist", id)
			case in != nil && v.ID == in.ID:
				t.step("VF %d sent the frame: not mirrored back to it", id)
			case v.LinkState == sriov.LinkStateDisable:
				t.step("not to VF %d: its link state is disable", id)
				if firstCause == "" {
					firstCause, firstWhy = CauseLinkDisabled, fmt.Sprintf("VF %d's link state is disable", id)
				}
			default:
				seen := vlan
				if v.VLAN != 0 && v.VLAN == vlan {
					seen = 0
				}
				recv = append(recv, Receiver{Port: VFPort(id), VLAN: seen})
			}
		}
		if len(recv) == 0 && firstCause != "" {
			return t.drop(firstCause, "%s", firstWhy)
		}
		return t.deliver(recv, fmt.Sprintf("mirror rule %s", rule.Name))
	}
	if port == PortPF {
		return t.deliver([]Receiver{{Port: PortWire, VLAN: vlan}}, "no offloaded rule: the PF (uplink representor) sends it on the wire")
	}
	return t.deliver([]Receiver{{Port: PortPF, VLAN: vlan}},
		fmt.Sprintf("no offloaded rule matches: the frame goes to the representor %s on the host, where software (bridge, OVS) decides; not modelled further", Representor(s.pf.Name, port)))
}
