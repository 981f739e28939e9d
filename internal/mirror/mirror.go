// Package mirror makes mirror groups: the same flows delivered to several VFs of one PF (a probe and the
// VNF, say). It plans a group as change operations from the observed PF and its NIC profile, refuses
// before touching anything where the chosen strategy cannot work on that NIC, applies the plan with
// rollback, and checks with the embedded-switch model (package eswitch) that the group's MAC reaches every
// member before it reports success. Groups are recorded durably (store.go) with each member's prior
// settings, so that deleting a group restores them.
//
// Strategies:
//   - same-mac, for NICs in legacy (VEB) mode whose switch delivers a shared MAC to every VF that has it
//     (igb, ice): the shared MAC on every member, spoof check off, trust and a second MAC write where the
//     profile asks for them, and a VF driver reload where the driver applies an admin MAC only then (igb);
//   - switchdev-tc, for NICs in switchdev mode (mlx5, ice): one offloaded mirror rule (tc flower dst_mac +
//     mirred on the representors) that copies frames to the MAC to every member.
package mirror

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Strategies (as the policy file and --strategy spell them).
const (
	StrategyAuto        = "auto"
	StrategySameMAC     = "same-mac"
	StrategySwitchdevTC = "switchdev-tc"
)

// ParseStrategy checks a --strategy value ("" means auto).
func ParseStrategy(field, s string) (string, error) {
	switch s {
	case "":
		return StrategyAuto, nil
	case StrategyAuto, StrategySameMAC, StrategySwitchdevTC:
		return s, nil
	}
	return "", &sriov.FieldError{Field: field, Value: s, Allowed: "allowed auto, same-mac or switchdev-tc"}
}

// Request asks for a mirror group.
type Request struct {
	Name     string
	PF       string // netdev name or PCI address
	VFs      []int
	MAC      string // "" = keep the first member's MAC, else a MAC derived from the group's name
	Strategy string // auto, same-mac or switchdev-tc
	// PolicyGroups are the groups of the stored desired policy (mirrors: applied with apply -f): their
	// names and VFs are taken as much as recorded groups' are.
	PolicyGroups []Group
}

// Member is one member VF with the settings it had before the group was made.
type Member struct {
	VF         int    `json:"vf"`
	MAC        string `json:"mac"`
	SpoofCheck bool   `json:"spoofchk"`
	Trust      bool   `json:"trust"`
	Driver     string `json:"driver"`
}

// Group states.
const (
	StateApplying = "applying" // recorded before the host is touched; a crash leaves it for delete
	StateActive   = "active"
)

// Group sources.
const (
	SourceCLI    = "mirror create"
	SourcePolicy = "policy"
)

// Group is a mirror group as recorded.
type Group struct {
	Name     string `json:"name"`
	PF       string `json:"pf"`
	VFs      []int  `json:"vfs"`
	MAC      string `json:"mac"`
	Strategy string `json:"strategy"`
	State    string `json:"state"`
	// Source is "mirror create", or "policy" for a group of the stored desired state (not recorded here).
	Source  string `json:"source"`
	Created string `json:"created,omitempty"`
	// Health, filled by Health (mirror list), says whether the group still works on the host now.
	Health string   `json:"health,omitempty"`
	Prior  []Member `json:"prior"`
}

// Plan is what creating (or deleting) a group does.
type Plan struct {
	Group Group
	Ops   []change.Op
	// Commands are the equivalent iproute2/tc commands, for people to read.
	Commands []string
	Notes    []string
	// Prediction is the model's answer, on the state the plan leads to, for a frame from the wire to the
	// group's MAC.
	Prediction eswitch.Result
}

// RefusedError says a strategy cannot work on a NIC, before anything was touched, and what can.
type RefusedError struct {
	PF, Driver, Strategy string
	Why                  string
	Instead              string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("mirror on %s (%s): %s cannot work: %s", e.PF, e.Driver, e.Strategy, e.Why)
	if e.Instead != "" {
		msg += "; " + e.Instead
	}
	return msg + " (nothing was changed)"
}

// IsRefused reports whether err is a RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Resolve picks the strategy for a request on pf: switchdev-tc in switchdev mode, else same-mac where
// the NIC delivers a shared MAC to every VF; otherwise it refuses and says what would work.
func Resolve(pf *sriov.PF, prof *nicprofile.Profile, strategy string) (string, error) {
	switchdev := pf.EswitchMode == "switchdev"
	refuse := func(strategy, why string) error {
		return &RefusedError{PF: pf.Name, Driver: pf.Driver, Strategy: strategy, Why: why, Instead: instead(pf, prof)}
	}
	switch strategy {
	case StrategySwitchdevTC:
		if !prof.Switchdev {
			return "", refuse(strategy, fmt.Sprintf("%s has no switchdev mode (no VF representors to put tc rules on)", prof.Driver))
		}
		if !switchdev {
			return "", refuse(strategy, fmt.Sprintf("the eswitch is in %s mode, not switchdev", modeName(pf.EswitchMode)))
		}
		return strategy, nil
	case StrategySameMAC:
		if switchdev {
			return "", refuse(strategy, "in switchdev mode the eswitch forwards by offloaded tc rules, not by VF MAC filters")
		}
	case StrategyAuto, "":
		if switchdev {
			return StrategySwitchdevTC, nil
		}
	default:
		return "", &sriov.FieldError{Field: "strategy", Value: strategy, Allowed: "allowed auto, same-mac or switchdev-tc"}
	}
	switch prof.DuplicateMAC {
	case nicprofile.DuplicateMACAllReceive:
		return StrategySameMAC, nil
	case nicprofile.DuplicateMACRefused:
		why := fmt.Sprintf("%s refuses a MAC already used by another VF", prof.Driver)
		if r := prof.DuplicateMACRefusal; r != nil {
			why += fmt.Sprintf(" (%s: %q)", r.Errno, r.Message)
		}
		return "", refuse(StrategySameMAC, why)
	default:
		return "", refuse(StrategySameMAC, fmt.Sprintf("%s accepts a shared MAC but which VF receives its frames is hardware-defined (duplicateMac %s), so the group could not be checked to work", prof.Driver, prof.DuplicateMAC))
	}
}

func instead(pf *sriov.PF, prof *nicprofile.Profile) string {
	switch {
	case pf.EswitchMode == "switchdev":
		return "use --strategy switchdev-tc (tc mirred on the VF representors)"
	case prof.Switchdev:
		return fmt.Sprintf("use --strategy switchdev-tc: put the eswitch in switchdev mode first (with 0 VFs: `devlink dev eswitch set pci/%s mode switchdev`), then recreate the VFs", pf.PCIAddress)
	case prof.DuplicateMAC == nicprofile.DuplicateMACAllReceive:
		return "use --strategy same-mac"
	}
	return fmt.Sprintf("%s has no switchdev mode, so switchdev-tc cannot work either: no strategy of sriovctl mirrors VFs on this NIC", prof.Driver)
}

func vlanName(v int) string {
	if v == 0 {
		return "none (flat)"
	}
	return fmt.Sprint(v)
}

func modeName(m string) string {
	if m == "" {
		return "legacy"
	}
	return m
}

// DerivedMAC is the MAC a group gets when none is given and its first member has none: locally
// administered, unicast, stable for a PF and group name.
func DerivedMAC(pf, name string) string {
	sum := sha256.Sum256([]byte("sriovctl-mirror/" + pf + "/" + name))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}

// PlanCreate plans a group on the observed pf. existing are the groups already recorded (a VF belongs to
// one group, a name is used once). It returns a *RefusedError when the strategy cannot work on this NIC,
// a *sriov.FieldError for bad input, and never touches the host.
func PlanCreate(pf *sriov.PF, prof *nicprofile.Profile, req Request, existing []Group) (*Plan, error) {
	if prof == nil {
		prof = nicprofile.ForDriver(pf.Driver)
	}
	ids := slices.Clone(req.VFs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) < 2 {
		return nil, &sriov.FieldError{Field: "--vfs", Value: joinIDs(req.VFs), Allowed: "a mirror group needs at least 2 distinct VFs"}
	}
	for _, g := range existing {
		if g.Name == req.Name {
			return nil, &sriov.FieldError{Field: "NAME", Value: req.Name, Allowed: fmt.Sprintf("a mirror group %s already exists (on %s, VFs %s)", g.Name, g.PF, joinIDs(g.VFs))}
		}
		if g.PF == pf.Name || g.PF == pf.PCIAddress {
			for _, id := range ids {
				if slices.Contains(g.VFs, id) {
					return nil, &sriov.FieldError{Field: "--vfs", Value: joinIDs(req.VFs), Allowed: fmt.Sprintf("VF %d is already in mirror group %s; a VF belongs to one group", id, g.Name)}
				}
			}
		}
	}
	members := make([]sriov.VF, 0, len(ids))
	for _, id := range ids {
		if err := sriov.ValidateVFID("--vfs", id, pf.NumVFs); err != nil {
			return nil, err
		}
		v := pf.VF(id)
		if v == nil {
			return nil, &sriov.FieldError{Field: "--vfs", Value: fmt.Sprint(id), Allowed: "the host does not report this VF"}
		}
		if v.LinkState == sriov.LinkStateDisable {
			return nil, &sriov.FieldError{Field: "--vfs", Value: fmt.Sprint(id), Allowed: fmt.Sprintf("VF %d's link state is disable: it would receive nothing", id)}
		}
		if len(members) > 0 && v.VLAN != members[0].VLAN {
			return nil, &sriov.FieldError{Field: "--vfs", Value: joinIDs(req.VFs), Allowed: fmt.Sprintf("members must share a port VLAN: VF %d has %s, VF %d has %s",
				members[0].ID, vlanName(members[0].VLAN), v.ID, vlanName(v.VLAN))}
		}
		members = append(members, *v)
	}
	strategy, err := Resolve(pf, prof, req.Strategy)
	if err != nil {
		return nil, err
	}
	g := Group{Name: req.Name, PF: pf.Name, VFs: ids, MAC: req.MAC, Strategy: strategy, State: StateApplying, Source: SourceCLI}
	for _, v := range members {
		g.Prior = append(g.Prior, Member{VF: v.ID, MAC: v.MAC, SpoofCheck: v.SpoofCheck, Trust: v.Trust, Driver: v.Driver})
	}
	if g.MAC == "" {
		// Keep the first member's MAC (the VNF's, typically), so that its traffic is what gets mirrored.
		first := members[0]
		switch {
		case strategy == StrategySwitchdevTC:
			g.MAC = eswitch.VFMAC(first, prof).Filter
		case first.MAC != sriov.ZeroMAC && first.MAC != "":
			g.MAC = first.MAC
		default:
			g.MAC = DerivedMAC(pf.Name, req.Name)
		}
		if g.MAC == "" {
			return nil, &sriov.FieldError{Field: "--mac", Value: "", Allowed: fmt.Sprintf("VF %d's MAC is not visible to the host: give the MAC to mirror with --mac", first.ID)}
		}
	}
	if err := checkMACFree(pf, prof, g); err != nil {
		return nil, err
	}
	plan := &Plan{Group: g}
	after := clonePF(pf)
	switch strategy {
	case StrategySameMAC:
		planSameMAC(plan, pf, prof, members, after)
	case StrategySwitchdevTC:
		planSwitchdevTC(plan, pf, after)
	}
	plan.Prediction = Check(after, prof, g)
	return plan, nil
}

// checkMACFree refuses a group MAC that a port outside the group already receives on: the group would
// swallow that port's traffic (or the PF's).
func checkMACFree(pf *sriov.PF, prof *nicprofile.Profile, g Group) error {
	if strings.EqualFold(pf.MAC, g.MAC) {
		return &sriov.FieldError{Field: "--mac", Value: g.MAC, Allowed: fmt.Sprintf("it is the PF %s's own MAC; pick another", pf.Name)}
	}
	for _, v := range pf.VFs {
		if slices.Contains(g.VFs, v.ID) {
			continue
		}
		if m := eswitch.VFMAC(v, prof); strings.EqualFold(m.Filter, g.MAC) || strings.EqualFold(v.MAC, g.MAC) {
			return &sriov.FieldError{Field: "--mac", Value: g.MAC, Allowed: fmt.Sprintf("VF %d, not a member, already has it; pick another or add VF %d to the group", v.ID, v.ID)}
		}
	}
	return nil
}

func planSameMAC(plan *Plan, pf *sriov.PF, prof *nicprofile.Profile, members []sriov.VF, after *sriov.PF) {
	g := plan.Group
	var flags, macs, resets, unbinds, binds []change.Op
	reason := "mirror " + g.Name
	for _, v := range members {
		want := v.VFConfig
		want.MAC, want.SpoofCheck = g.MAC, false
		if prof.SameMACNeedsTrust {
			want.Trust = true
		}
		for _, o := range change.Diff(pf.Name, v, want, reason) {
			if o.Kind == change.KindMAC {
				macs = append(macs, o)
			} else {
				flags = append(flags, o)
			}
		}
		if prof.SameMACReset {
			resets = append(resets, change.Op{Kind: change.KindMAC, PF: pf.Name, VF: v.ID, From: change.Value{MAC: g.MAC}, To: change.Value{MAC: g.MAC}, Reason: reason + ": set the MAC once more (" + prof.Name + ")"})
		}
		netdevStale := v.Netdev != "" && !strings.EqualFold(v.NetdevMAC, g.MAC)
		if prof.MACNeedsVFReload && netdevStale {
			if r := change.ReloadOps(pf.Name, v, prof.VFDriver, reason+": reload the VF driver so its netdev takes the MAC"); len(r) == 2 {
				if prof.RebindReportsVFMAC && v.MAC == sriov.ZeroMAC {
					// An undo binds the driver last; igb then reports its own MAC, and this write (run
					// last by the undo) clears it again, as the planner does.
					unbinds = append(unbinds, change.KeepMACClear(pf.Name, v.ID, pf.Driver, prof.VFDriver, reason+": "))
				}
				unbinds, binds = append(unbinds, r[0]), append(binds, r[1])
			}
		}
		a := after.VF(v.ID)
		a.VFConfig = want
		if v.Netdev != "" && (!prof.MACNeedsVFReload || v.Driver == prof.VFDriver) {
			a.NetdevMAC = g.MAC
		}
	}
	// The MACs are written while the reloaded members are unbound and the driver binds after them, so an
	// undo (newest first) also writes the old MACs back before it binds the driver again.
	plan.Ops = slices.Concat(flags, unbinds, macs, resets, binds)
	for _, o := range plan.Ops {
		plan.Commands = append(plan.Commands, ipCommand(o, pf))
	}
	plan.Notes = append(plan.Notes, fmt.Sprintf("%s delivers a MAC shared by several VFs to every one of them (duplicateMac %s)", prof.Driver, prof.DuplicateMAC))
	if prof.MACNeedsVFReload {
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s applies an admin MAC to a bound VF netdev only after a VF driver reload (%q): members bound to %s are reloaded", prof.Driver, prof.MACNotice, prof.VFDriver))
	}
}

// ipCommand renders an operation as the iproute2/sysfs command that does the same.
func ipCommand(o change.Op, pf *sriov.PF) string {
	v := o.To
	switch o.Kind {
	case change.KindMAC:
		return fmt.Sprintf("ip link set %s vf %d mac %s", o.PF, o.VF, v.MAC)
	case change.KindSpoofCheck:
		return fmt.Sprintf("ip link set %s vf %d spoofchk %s", o.PF, o.VF, onOff(v.On))
	case change.KindTrust:
		return fmt.Sprintf("ip link set %s vf %d trust %s", o.PF, o.VF, onOff(v.On))
	case change.KindDriver:
		addr := "VF"
		if vf := pf.VF(o.VF); vf != nil {
			addr = vf.PCIAddress
		}
		if v.Driver == "" {
			return fmt.Sprintf("echo %s > /sys/bus/pci/drivers/%s/unbind", addr, o.From.Driver)
		}
		return fmt.Sprintf("echo %s > /sys/bus/pci/drivers/%s/bind", addr, v.Driver)
	case change.KindMirrorRule:
		if v.Rule == nil && o.From.Rule != nil {
			return strings.Join(TCDelCommands(pf, *o.From.Rule), "\n")
		}
		if v.Rule != nil {
			return strings.Join(TCCommands(pf, *v.Rule), "\n")
		}
	}
	return o.Describe()
}

func planSwitchdevTC(plan *Plan, pf *sriov.PF, after *sriov.PF) {
	g := plan.Group
	rule := sriov.MirrorRule{Name: g.Name, MAC: g.MAC, VFs: g.VFs}
	plan.Ops = []change.Op{{Kind: change.KindMirrorRule, PF: pf.Name, VF: -1, To: change.Value{Rule: &rule}, Reason: "mirror " + g.Name}}
	plan.Commands = TCCommands(pf, rule)
	after.MirrorRules = append(after.MirrorRules, rule)
	plan.Notes = append(plan.Notes,
		"switchdev-tc leaves the members' MACs as they are: members whose netdev does not carry "+g.MAC+" see the copies only in promiscuous mode (a probe usually is)",
		fmt.Sprintf("the rule's tc filters carry handle %#x (from the group's name); `mirror delete` removes them", sriov.MirrorRuleHandle(g.Name)))
}

// TCCommands renders a mirror rule as the tc commands that install it: on every ingress representor (the
// uplink, which is the PF's netdev, and each VF's), frames to the MAC are mirrored to every member's
// representor except the one they came from.
func TCCommands(pf *sriov.PF, r sriov.MirrorRule) []string {
	var cmds []string
	ingress := []string{eswitch.PortPF}
	for _, v := range pf.VFs {
		ingress = append(ingress, eswitch.VFPort(v.ID))
	}
	for _, port := range ingress {
		dev := eswitch.Representor(pf.Name, port)
		var acts []string
		for _, id := range r.VFs {
			if eswitch.VFPort(id) == port {
				continue
			}
			acts = append(acts, "action mirred egress mirror dev "+eswitch.Representor(pf.Name, eswitch.VFPort(id)))
		}
		if len(acts) == 0 {
			continue
		}
		cmds = append(cmds, fmt.Sprintf("tc qdisc add dev %s ingress 2>/dev/null || true", dev),
			fmt.Sprintf("tc filter add dev %s ingress protocol all prio 1 handle %#x flower dst_mac %s %s", dev, sriov.MirrorRuleHandle(r.Name), r.MAC, strings.Join(acts, " ")))
	}
	return cmds
}

// TCDelCommands renders the removal of a mirror rule.
func TCDelCommands(pf *sriov.PF, r sriov.MirrorRule) []string {
	var cmds []string
	for _, port := range append([]string{eswitch.PortPF}, vfPorts(pf)...) {
		cmds = append(cmds, fmt.Sprintf("tc filter del dev %s ingress protocol all prio 1 handle %#x flower", eswitch.Representor(pf.Name, port), sriov.MirrorRuleHandle(r.Name)))
	}
	return cmds
}

func vfPorts(pf *sriov.PF) []string {
	var ports []string
	for _, v := range pf.VFs {
		ports = append(ports, eswitch.VFPort(v.ID))
	}
	return ports
}

// Check asks the switch model whether frames to the group's MAC reach every member: from the wire (in
// the members' VLAN) — the frame a mirror exists for. The result is the wire prediction; it is
// delivered only if every member receives.
func Check(pf *sriov.PF, prof *nicprofile.Profile, g Group) eswitch.Result {
	vlan := 0
	if v := pf.VF(g.VFs[0]); v != nil {
		vlan = v.VLAN
	}
	sw := eswitch.New(pf, prof)
	r := sw.Trace(eswitch.Frame{From: eswitch.PortWire, Dst: g.MAC, VLAN: vlan})
	return r
}

// Health asks the model whether g still works on the observed host st: "ok", or what broke (a reboot or
// a PF reset destroys VFs and their MACs; someone may have changed a member).
func Health(st *sriov.Host, g Group) string {
	pf := st.FindPF(g.PF)
	switch {
	case pf == nil:
		return "broken: PF " + g.PF + " is gone"
	case g.MAC == "":
		return "" // a policy group whose MAC the planner picks: plan/status say
	}
	for _, id := range g.VFs {
		if pf.VF(id) == nil {
			return fmt.Sprintf("broken: VF %d is gone (reboot or VF count change?)", id)
		}
	}
	r := Check(pf, nicprofile.ForDriver(pf.Driver), g)
	if miss := Missing(r, g); len(miss) > 0 {
		return fmt.Sprintf("broken: the model says frames to %s miss VF %s (%s)", g.MAC, joinIDs(miss), r.Reason)
	}
	return "ok"
}

// Missing lists the members a prediction does not reach.
func Missing(r eswitch.Result, g Group) []int {
	var miss []int
	for _, id := range g.VFs {
		if !r.Reached(eswitch.VFPort(id)) || r.Uncertain {
			miss = append(miss, id)
		}
	}
	return miss
}

// PlanDelete plans restoring every member's prior MAC, spoof check and trust (and the VF driver reload
// that makes a netdev take the restored MAC), or removing the group's offloaded rule.
func PlanDelete(pf *sriov.PF, prof *nicprofile.Profile, g Group) *Plan {
	if prof == nil {
		prof = nicprofile.ForDriver(pf.Driver)
	}
	plan := &Plan{Group: g}
	reason := "mirror delete " + g.Name
	if g.Strategy == StrategySwitchdevTC {
		for _, r := range pf.MirrorRules {
			if r.Named(g.Name) {
				rule := r
				plan.Ops = append(plan.Ops, change.Op{Kind: change.KindMirrorRule, PF: pf.Name, VF: -1, From: change.Value{Rule: &rule}, Reason: reason})
			}
		}
		if len(plan.Ops) == 0 {
			plan.Notes = append(plan.Notes, fmt.Sprintf("the offloaded rule %s is already gone from %s", g.Name, pf.Name))
		}
	}
	var flags, macs, unbinds, binds, pins []change.Op
	for _, m := range g.Prior {
		v := pf.VF(m.VF)
		if v == nil {
			plan.Notes = append(plan.Notes, fmt.Sprintf("VF %d no longer exists: nothing to restore", m.VF))
			continue
		}
		want := v.VFConfig
		want.MAC, want.SpoofCheck, want.Trust = m.MAC, m.SpoofCheck, m.Trust
		for _, o := range change.Diff(pf.Name, *v, want, reason) {
			if o.Kind == change.KindMAC {
				macs = append(macs, o)
			} else {
				flags = append(flags, o)
			}
		}
		if m.Driver != v.Driver && (m.Driver != "" || v.Driver == "") {
			// The member's recorded driver (a crash between unbind and rebind left it without one).
			binds = append(binds, change.Op{Kind: change.KindDriver, PF: pf.Name, VF: m.VF, From: change.Value{Driver: v.Driver},
				To: change.Value{Driver: m.Driver}, Reason: reason + ": bind the member's driver from before the group"})
			if m.MAC == sriov.ZeroMAC && m.Driver == prof.VFDriver && prof.RebindReportsVFMAC {
				pins = append(pins, change.KeepMACClear(pf.Name, m.VF, pf.Driver, prof.VFDriver, reason+": "))
			}
		} else if prof.MACNeedsVFReload && !strings.EqualFold(v.MAC, m.MAC) {
			reload := change.ReloadOps(pf.Name, *v, prof.VFDriver, reason+": reload the VF driver so its netdev takes the restored MAC")
			if len(reload) == 2 {
				unbinds, binds = append(unbinds, reload[0]), append(binds, reload[1])
			}
			if len(reload) > 0 && m.MAC == sriov.ZeroMAC && prof.RebindReportsVFMAC {
				// igb (observed, as in the planner): binding igbvf to a VF without an admin MAC makes the PF
				// report igbvf's own MAC as the admin MAC; clearing it again after the bind restores it.
				pins = append(pins, change.KeepMACClear(pf.Name, m.VF, pf.Driver, prof.VFDriver, reason+": "))
			}
		}
	}
	// MACs first (spoof check comes back on only once each VF has its own MAC again), written while the
	// reloaded members are unbound, so that an undo writes the group's MAC back before binding again.
	plan.Ops = slices.Concat(plan.Ops, unbinds, macs, binds, pins, flags)
	for _, o := range plan.Ops {
		plan.Commands = append(plan.Commands, ipCommand(o, pf))
	}
	return plan
}

func clonePF(pf *sriov.PF) *sriov.PF {
	c := *pf
	c.VFs = slices.Clone(pf.VFs)
	c.MirrorRules = slices.Clone(pf.MirrorRules)
	return &c
}

func joinIDs(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
