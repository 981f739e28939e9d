package mirror

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// The policy file's `mirrors:` entries reach plan and apply through this contributor: a same-mac group
// becomes desired VF settings (the shared MAC, spoof check off, trust where the NIC needs it; the planner
// adds igb's VF driver reload), a switchdev-tc group an offloaded rule operation. Where the strategy
// cannot work on the NIC, or the switch model, run on the state the plan leads to, does not show the
// group's MAC reaching every member, the plan gets a problem and apply touches nothing.
//
// Contributor is the mirror groups' plan.Contributor; recorded are the groups made with `mirror create`
// (Store.List), which the plan must neither overlap nor break.
func Contributor(recorded []Group) plan.Contributor {
	var mu sync.Mutex
	pending := map[*plan.Builder][]policyGroup{} // Desire's groups, until Check of the same build
	return plan.Contributor{
		Name: "mirrors",
		Desire: func(b *plan.Builder) {
			groups := desire(b, recorded)
			mu.Lock()
			pending[b] = groups
			mu.Unlock()
		},
		Check: func(b *plan.Builder) {
			mu.Lock()
			groups := pending[b]
			delete(pending, b)
			mu.Unlock()
			check(b, groups)
			protect(b, recorded)
			sharedMACs(b, groups, recorded)
		},
	}
}

// policyGroup is one mirrors: entry being planned.
type policyGroup struct {
	g      Group
	t      *plan.Target
	prof   *nicprofile.Profile
	field  string
	line   int
	source string
}

func desire(b *plan.Builder, recorded []Group) []policyGroup {
	var out []policyGroup
	for i, m := range b.Policy.Mirrors {
		field := fmt.Sprintf("mirrors[%d]", i)
		source := fmt.Sprintf("%s (mirror %s), line %d", field, m.Name, m.Line)
		t := b.Target(m.PF, field+".pf", m.Line)
		if t == nil {
			continue
		}
		pf := t.PF
		prof := nicprofile.ForDriver(pf.Driver)
		for _, r := range recorded {
			if (r.PF == pf.Name || r.PF == pf.PCIAddress) && r.Name != m.Name && overlaps(r.VFs, m.VFIDs) {
				b.Problemf(plan.ProblemInvalid, pf.Name, -1, field+".vfs", m.Line, "%s: VFs %s overlap mirror group %s made with `mirror create`; delete it first", source, joinIDs(m.VFIDs), r.Name)
			}
		}
		strategy, err := Resolve(pf, prof, m.Strategy)
		if err != nil {
			b.Problemf(plan.ProblemUnsupported, pf.Name, -1, field+".strategy", m.Line, "%s: %v", source, err)
			continue
		}
		g := Group{Name: m.Name, PF: pf.Name, VFs: slices.Clone(m.VFIDs), MAC: m.MAC, Strategy: strategy, State: StateActive, Source: SourcePolicy}
		pg := policyGroup{g: g, t: t, prof: prof, field: field, line: m.Line, source: source}
		if g.MAC == "" {
			g.MAC = defaultMAC(pg, strategy)
			pg.g.MAC = g.MAC
		}
		if g.MAC == "" {
			b.Problemf(plan.ProblemInvalid, pf.Name, g.VFs[0], field+".mac", m.Line, "%s: VF %d's MAC is not visible to the host: give the mirror a mac", source, g.VFs[0])
			continue
		}
		if strategy == StrategySameMAC {
			off := false
			s := sriov.VFSettings{MAC: &g.MAC, SpoofCheck: &off}
			if prof.SameMACNeedsTrust {
				on := true
				s.Trust = &on
			}
			for _, id := range g.VFs {
				t.Set(id, s, nil, source, m.Line)
			}
		}
		out = append(out, pg)
	}
	return out
}

// defaultMAC is the MAC a policy mirror without one gets: the first member's MAC as the policy or the
// host has it (switchdev-tc: as the switch sees it), else one derived from the group's name.
func defaultMAC(pg policyGroup, strategy string) string {
	first := pg.g.VFs[0]
	if vt := pg.t.VFs[first]; vt != nil && vt.Settings.MAC != nil && *vt.Settings.MAC != sriov.ZeroMAC {
		return *vt.Settings.MAC
	}
	v := pg.t.PF.VF(first)
	if pg.t.NumVFs != pg.t.PF.NumVFs {
		v = nil // the VFs are recreated: their current MACs are gone
	}
	switch {
	case v != nil && v.MAC != sriov.ZeroMAC && v.MAC != "":
		return v.MAC
	case strategy == StrategySwitchdevTC:
		if v != nil && v.Netdev != "" {
			return v.NetdevMAC
		}
		return ""
	}
	return DerivedMAC(pg.t.PF.Name, pg.g.Name)
}

func check(b *plan.Builder, groups []policyGroup) {
	for _, pg := range groups {
		g := pg.g
		pf := pg.t.PF
		after := predictedPF(pg.t, pg.prof)
		if g.Strategy == StrategySwitchdevTC {
			rule := sriov.MirrorRule{Name: g.Name, MAC: g.MAC, VFs: g.VFs}
			ops := ruleOps(pf, rule, "policy "+pg.source)
			b.AddOps(ops...)
			after.MirrorRules = append(slices.DeleteFunc(after.MirrorRules, func(r sriov.MirrorRule) bool { return r.Named(g.Name) }), rule)
			if len(ops) > 0 {
				b.Note("%s: mirror %s offloads a tc rule on %s's representors: %s", pf.Name, g.Name, pf.Name, strings.Join(TCCommands(pf, rule), "; "))
			}
		}
		var vlans []int
		for _, id := range g.VFs {
			if v := after.VF(id); v != nil && !slices.Contains(vlans, v.VLAN) {
				vlans = append(vlans, v.VLAN)
			}
		}
		if len(vlans) > 1 {
			b.Problemf(plan.ProblemInvalid, pf.Name, -1, pg.field+".vfs", pg.line, "%s: the members must share a port VLAN; the plan leaves them in VLANs %v", pg.source, vlans)
			continue
		}
		r := Check(after, pg.prof, g)
		if miss := Missing(r, g); len(miss) > 0 {
			b.Problemf(plan.ProblemRefused, pf.Name, -1, pg.field, pg.line, "%s: the switch model predicts frames to %s would not reach VF %s: %s", pg.source, g.MAC, joinIDs(miss), r.Reason)
			continue
		}
		b.Note("%s: mirror %s (%s): the switch model predicts frames from the wire to %s reach VFs %s", pf.Name, g.Name, g.Strategy, g.MAC, joinIDs(g.VFs))
	}
}

// protect refuses plans that would break a group made with `mirror create`: writes to a member's MAC,
// spoof check, trust or driver, or a VF count change of its PF (which destroys every VF). With --force
// the plan goes ahead and says which groups break.
func protect(b *plan.Builder, recorded []Group) {
	for _, g := range recorded {
		pf := b.Host.FindPF(g.PF)
		if pf == nil {
			continue
		}
		var hits []string
		for _, o := range b.Plan.Ops {
			if o.PF != pf.Name {
				continue
			}
			switch {
			case o.Kind == change.KindNumVFs && o.From.NumVFs > 0:
				hits = append(hits, o.Describe())
			case slices.Contains(g.VFs, o.VF) && slices.Contains([]change.Kind{change.KindMAC, change.KindSpoofCheck, change.KindTrust, change.KindDriver}, o.Kind):
				if pf.VF(o.VF) == nil {
					// The member is gone already (reboot, PF reset) and this plan creates it afresh: the
					// group is broken before the plan, which takes nothing from it. Refusing would keep
					// `sriovctl restore` from bringing the host back at boot.
					continue
				}
				hits = append(hits, o.Describe())
			}
		}
		if len(hits) == 0 {
			continue
		}
		if b.Opts.Force {
			b.Note("%s: --force: the plan breaks mirror group %s (%s); `mirror delete %s` restores its members' earlier settings", pf.Name, g.Name, strings.Join(hits, "; "), g.Name)
			continue
		}
		b.Problemf(plan.ProblemRefused, pf.Name, -1, "", 0, "the plan would break mirror group %s (made with `mirror create`, VFs %s): %s; delete the group first, or use --force",
			g.Name, joinIDs(g.VFs), strings.Join(hits, "; "))
	}
}

// ruleOps installs rule, replacing a different rule of the same name; none when it is already there.
func ruleOps(pf *sriov.PF, rule sriov.MirrorRule, reason string) []change.Op {
	var ops []change.Op
	for _, r := range pf.MirrorRules {
		if !r.Named(rule.Name) {
			continue
		}
		if strings.EqualFold(r.MAC, rule.MAC) && slices.Equal(r.VFs, rule.VFs) {
			return nil
		}
		old := r
		ops = append(ops, change.Op{Kind: change.KindMirrorRule, PF: pf.Name, VF: -1, From: change.Value{Rule: &old}, Reason: reason})
	}
	nr := rule
	return append(ops, change.Op{Kind: change.KindMirrorRule, PF: pf.Name, VF: -1, To: change.Value{Rule: &nr}, Reason: reason})
}

// predictedPF is the PF as the plan leaves it: the target's VF count and settings, and netdevs that carry
// their admin MAC (the planner reloads igb's VF driver after a MAC change).
func predictedPF(t *plan.Target, prof *nicprofile.Profile) *sriov.PF {
	pf := clonePF(t.PF)
	if t.NumVFs != pf.NumVFs {
		pf.NumVFs, pf.VFs, pf.MirrorRules = t.NumVFs, nil, nil
		for id := 0; id < t.NumVFs; id++ {
			v := sriov.VF{ID: id, VFConfig: sriov.DefaultVFConfig(), Driver: prof.VFDriver}
			if old := t.PF.VF(id); old != nil {
				v = *old // the planner restores surviving VFs' settings and drivers
			}
			pf.VFs = append(pf.VFs, v)
		}
	}
	for id, vt := range t.VFs {
		v := pf.VF(id)
		if v == nil {
			continue
		}
		v.VFConfig = vt.Settings.ApplyTo(v.VFConfig)
		if vt.Driver != nil {
			v.Driver = *vt.Driver
		}
		if v.Driver == prof.VFDriver && v.Driver != "" {
			if v.Netdev == "" {
				v.Netdev = fmt.Sprintf("%sv%d", pf.Name, id)
			}
			if v.MAC != sriov.ZeroMAC {
				v.NetdevMAC = v.MAC
			}
		} else {
			v.Netdev, v.NetdevMAC = "", ""
		}
	}
	return pf
}

func overlaps(a, b []int) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// sharedMACs notes VFs that the plan leaves sharing a unicast MAC outside any mirror group, on NICs that
// accept it: their switch delivers frames to that MAC to every one of them, which is the mirroring trick
// when meant and a copy-paste error otherwise. (NICs that refuse a shared MAC get a problem from the
// planner instead.) Only MACs the plan writes are looked at, so a host as it was is not nagged about.
func sharedMACs(b *plan.Builder, groups []policyGroup, recorded []Group) {
	for _, t := range b.Targets() {
		prof := nicprofile.ForDriver(t.PF.Driver)
		if prof.DuplicateMAC == nicprofile.DuplicateMACRefused {
			continue
		}
		written := map[string]bool{}
		for _, vt := range t.VFs {
			if m := vt.Settings.MAC; m != nil && *m != sriov.ZeroMAC {
				written[strings.ToLower(*m)] = true
			}
		}
		if len(written) == 0 {
			continue
		}
		holders := map[string][]int{}
		for _, v := range predictedPF(t, prof).VFs {
			if m := strings.ToLower(v.MAC); written[m] {
				holders[m] = append(holders[m], v.ID)
			}
		}
		macs := make([]string, 0, len(holders))
		for m := range holders {
			macs = append(macs, m)
		}
		slices.Sort(macs)
		for _, m := range macs {
			ids := holders[m]
			if len(ids) < 2 || inMirrorGroup(t.PF, m, ids, groups, recorded) {
				continue
			}
			b.Note("%s", SharedMACNote(t.PF, prof, m, ids))
		}
	}
}

// SharedMACNote says that VFs ids of pf share MAC mac outside any mirror group, and what pf's NIC does
// with that, for a note of plan or vf set.
func SharedMACNote(pf *sriov.PF, prof *nicprofile.Profile, mac string, ids []int) string {
	ids = slices.Sorted(slices.Values(ids))
	what := "delivers frames to it to each of them"
	if prof.DuplicateMAC != nicprofile.DuplicateMACAllReceive {
		what = "accepts that, but which of them receives its frames is hardware-defined"
	}
	return fmt.Sprintf("%s: VFs %s share MAC %s outside any mirror group: %s %s; give each VF its own MAC unless that is meant (a mirrors: entry, or `sriovctl mirror create`, says so)", pf.Name, joinIDs(ids), strings.ToLower(mac), pf.Driver, what)
}

// SharedMACVFs lists the VFs of pf other than vf that have MAC mac, when pf's NIC accepts a shared MAC
// and no mirror group of groups on pf holds them all with vf; nil otherwise (nothing to note).
func SharedMACVFs(pf *sriov.PF, prof *nicprofile.Profile, vf int, mac string, groups []Group) []int {
	if mac == "" || mac == sriov.ZeroMAC || prof.DuplicateMAC == nicprofile.DuplicateMACRefused {
		return nil
	}
	ids := []int{vf}
	for _, v := range pf.VFs {
		if v.ID != vf && strings.EqualFold(v.MAC, mac) {
			ids = append(ids, v.ID)
		}
	}
	if len(ids) < 2 || inMirrorGroup(pf, strings.ToLower(mac), ids, nil, groups) {
		return nil
	}
	return ids
}

// inMirrorGroup reports whether one mirror group of pf (from the policy or made with `mirror create`)
// with MAC mac holds every VF of ids.
func inMirrorGroup(pf *sriov.PF, mac string, ids []int, groups []policyGroup, recorded []Group) bool {
	covers := func(g Group) bool {
		if !strings.EqualFold(g.MAC, mac) {
			return false
		}
		for _, id := range ids {
			if !slices.Contains(g.VFs, id) {
				return false
			}
		}
		return true
	}
	for _, pg := range groups {
		if pg.t.PF.Name == pf.Name && covers(pg.g) {
			return true
		}
	}
	for _, g := range recorded {
		if (g.PF == pf.Name || g.PF == pf.PCIAddress) && covers(g) {
			return true
		}
	}
	return false
}
