// Package plan turns a policy and an observed host into the ordered host writes that make the host match
// the policy, each with its reason, without touching the host: Build is a pure function of its inputs.
//
// What it plans, per PF the policy names (PFs it does not name are not touched; attributes it does not
// name are left as they are):
//   - which PF each pfs entry means: by netdev name, PCI address, or match (policy.PF.Find), which
//     must select exactly one PF (none: ProblemNoMatch; several: ProblemInvalid naming them).
//   - the PF's MTU, as its own operation ordered before the PF's VFs are created (and before a resize
//     or an eswitch mode change): several drivers bound a VF's MTU by the PF's.
//   - the VF count. The kernel resizes an enabled PF only through 0, which destroys every VF and its
//     configuration, so a resize is two numvfs operations, the first marked Disruptive and carrying the
//     destroyed VFs (PriorVFs); the VFs that survive the resize get their previous settings (and driver)
//     back unless the policy says otherwise. Plan.Resizes says which VFs are restored and which removed.
//   - each VF's attributes, one operation per attribute group (change.Diff), and its driver
//     (change.KindDriver). On NICs whose admin MAC reaches the VF netdev only after a VF driver reload
//     (igb), a MAC change on a VF bound to its netdev driver is followed by an unbind and a bind, and the
//     plan says so in Notes. On NICs that refuse duplicate MACs (mlx5), MACs that move from one VF to
//     another are first cleared, so that no intermediate state holds a MAC twice.
//   - Problems: what the host would refuse, found before anything is touched: PFs that do not exist, VF
//     counts above sriov_totalvfs, VF ids beyond the VF count, settings the NIC's driver refuses (from
//     its nicprofile), invalid combinations (a QoS without a VLAN, min rate above max). A plan with
//     problems must not be applied.
//
// # Extension point
//
// Other features add their own checks and operations with a Contributor, passed for each build in
// Options.Contributors (there is no global registry: what Build does depends on its arguments only):
//
//   - Desire runs after the policy's pfs entries became Targets and before any operation is computed. It
//     may name more desired VF settings with Builder.Target and Target.Set (mirror groups set a shared MAC,
//     pools a driver), which conflict-check against the policy's own settings, and may report problems.
//   - Check runs after the operations are computed. It may inspect Plan.Ops and Plan.Resizes (pools refuse
//     to remove VFs that are assigned unless Options.Force), append operations with Builder.AddOps and
//     report problems with Builder.Problemf.
//
// Contributors run in the order given. Operations they add
// must be change.Op values that change.Execute can perform and change.UndoOps can undo, since apply
// journals and rolls back whatever the plan holds.
package plan

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Problem kinds.
const (
	// ProblemInvalid: the policy does not fit this host (no such PF, VF id or count out of range, a
	// combination of values the kernel refuses). Input error: exit 2.
	ProblemInvalid = "invalid"
	// ProblemUnsupported: the NIC's driver refuses the setting (from its profile). Exit 1.
	ProblemUnsupported = "unsupported"
	// ProblemRefused: a contributor refuses the plan (pools: assigned VFs would be removed). Exit 1.
	ProblemRefused = "refused"
	// ProblemNoMatch: a pfs entry selects its PF by match and no PF of this host matches. The policy may
	// be right for other hosts: it is this host's state, not bad input. Exit 1.
	ProblemNoMatch = "nomatch"
)

// Problem is something that stops the plan from being applied.
type Problem struct {
	Kind string `json:"kind"`
	PF   string `json:"pf,omitempty"`
	// VF is the VF concerned, -1 for the PF itself or the policy as a whole.
	VF int `json:"vf"`
	// Field is the policy path (pfs[0].vfs[1].linkState) when the problem comes from a policy entry.
	Field string `json:"field,omitempty"`
	Line  int    `json:"line,omitempty"`
	Msg   string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	switch {
	case p.PF != "" && p.VF >= 0:
		fmt.Fprintf(&b, "%s vf %d: ", p.PF, p.VF)
	case p.PF != "":
		b.WriteString(p.PF + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Resize describes one numvfs change of an enabled PF: every VF is destroyed by going through 0;
// Restored VFs get their previous settings back, Removed ones are gone.
type Resize struct {
	PF       string `json:"pf"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	Restored []int  `json:"restored,omitempty"`
	Removed  []int  `json:"removed,omitempty"`
}

// Plan is the ordered host writes that bring the host to the policy.
type Plan struct {
	Ops      []change.Op `json:"ops"`
	Problems []Problem   `json:"problems,omitempty"`
	// Notes explain operations a reader would not expect (igb VF driver reloads).
	Notes   []string `json:"notes,omitempty"`
	Resizes []Resize `json:"resizes,omitempty"`
}

// Disruptive counts the operations that destroy VFs.
func (p *Plan) Disruptive() int {
	n := 0
	for _, o := range p.Ops {
		if o.Disruptive {
			n++
		}
	}
	return n
}

// Summary is "no changes", "1 change (M disruptive)" or "N changes (M disruptive)".
func (p *Plan) Summary() string {
	switch len(p.Ops) {
	case 0:
		return "no changes"
	case 1:
		return fmt.Sprintf("1 change (%d disruptive)", p.Disruptive())
	}
	return fmt.Sprintf("%d changes (%d disruptive)", len(p.Ops), p.Disruptive())
}

// InvalidInput reports whether any problem is an input error (the policy does not fit the host).
func (p *Plan) InvalidInput() bool {
	for _, pr := range p.Problems {
		if pr.Kind == ProblemInvalid {
			return true
		}
	}
	return false
}

// PFs lists the PFs the operations write, in plan order.
func (p *Plan) PFs() []string {
	var names []string
	seen := map[string]bool{}
	for _, o := range p.Ops {
		if !seen[o.PF] {
			seen[o.PF] = true
			names = append(names, o.PF)
		}
	}
	return names
}

// Options tune a build.
type Options struct {
	// Force lets contributors accept what they would otherwise refuse (pools: removing assigned VFs).
	Force bool
	// Contributors add the checks and operations of other features (pools, mirror groups), in order.
	// Callers read what these need (the ledger, the mirror records) and hand it to their constructors.
	Contributors []Contributor
}

// Contributor adds checks and operations of another feature to every plan; see the package comment.
type Contributor struct {
	Name string
	// Desire may add desired VF settings (Builder.Target, Target.Set) and problems. May be nil.
	Desire func(b *Builder)
	// Check may inspect b.Plan, add operations and problems. May be nil.
	Check func(b *Builder)
}

// Target is the desired state of one PF.
type Target struct {
	// PF is the observed PF.
	PF *sriov.PF
	// NumVFs is the desired VF count (the observed one when the policy does not say).
	NumVFs int
	// EswitchMode is the desired eswitch mode; "" leaves it as it is.
	EswitchMode string
	// MTU is the desired PF MTU; 0 leaves it as it is.
	MTU int
	// Field and Line locate the policy entry, when there is one.
	Field string
	Line  int
	// VFs holds desired settings per VF id; VFs not in it keep their settings.
	VFs map[int]*VFTarget
	b   *Builder
}

// VFTarget is the desired settings of one VF, with who asked for each field.
type VFTarget struct {
	Settings sriov.VFSettings
	// Driver is the desired driver ("" = unbound); nil leaves it as it is.
	Driver *string
	// Sources maps a settings field (JSON name: mac, vlan, ..., driver) to who set it, for reasons.
	Sources map[string]string
}

// Builder carries one build: the inputs, the targets and the plan under construction.
type Builder struct {
	Host    *sriov.Host
	Policy  *policy.Policy
	Opts    Options
	Plan    *Plan
	targets []*Target
}

// Build plans the writes that bring host st to policy pol. It never touches a host.
func Build(st *sriov.Host, pol *policy.Policy, opts Options) *Plan {
	b := &Builder{Host: st, Policy: pol, Opts: opts, Plan: &Plan{Ops: []change.Op{}}}
	contribs := opts.Contributors
	b.fromPolicy()
	for _, c := range contribs {
		if c.Desire != nil {
			c.Desire(b)
		}
	}
	for _, t := range b.targets {
		b.planPF(t)
	}
	for _, c := range contribs {
		if c.Check != nil {
			c.Check(b)
		}
	}
	return b.Plan
}

// Problemf records a problem.
func (b *Builder) Problemf(kind, pf string, vf int, field string, line int, format string, args ...any) {
	b.Plan.Problems = append(b.Plan.Problems, Problem{Kind: kind, PF: pf, VF: vf, Field: field, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// AddOps appends operations to the plan.
func (b *Builder) AddOps(ops ...change.Op) { b.Plan.Ops = append(b.Plan.Ops, ops...) }

// Note adds an explanation to the plan.
func (b *Builder) Note(format string, args ...any) {
	b.Plan.Notes = append(b.Plan.Notes, fmt.Sprintf(format, args...))
}

// Target returns the target of the PF named ref (netdev or PCI address), creating one that keeps the
// PF's VF count when the policy's pfs do not name it. It returns nil, after recording a problem at
// field/line, when the host has no such PF.
func (b *Builder) Target(ref, field string, line int) *Target {
	p := b.Host.FindPF(devref.Canonical(ref))
	if p == nil {
		b.Problemf(ProblemInvalid, ref, -1, field, line, "no such PF on this host; PFs: %s", b.Host.PFNames())
		return nil
	}
	return b.target(p, field, line)
}

// target returns the target of observed PF p, creating it.
func (b *Builder) target(p *sriov.PF, field string, line int) *Target {
	for _, t := range b.targets {
		if t.PF.Name == p.Name {
			return t
		}
	}
	t := &Target{PF: p, NumVFs: p.NumVFs, Field: field, Line: line, VFs: map[int]*VFTarget{}, b: b}
	b.targets = append(b.targets, t)
	return t
}

// Targets returns the targets in policy order.
func (b *Builder) Targets() []*Target { return b.targets }

// Set asks for settings s (and driver, when not nil) on VF id, on behalf of source (a policy path with
// its line, or a feature's name). A field already asked for with another value is a problem; false then.
func (t *Target) Set(id int, s sriov.VFSettings, driver *string, source string, line int) bool {
	if id < 0 || id >= t.NumVFs {
		allowed := fmt.Sprintf("allowed 0-%d", t.NumVFs-1)
		if t.NumVFs == 0 {
			allowed = "the PF has none: give it numVfs under pfs"
		}
		t.b.Problemf(ProblemInvalid, t.PF.Name, id, "", line, "%s: VF %d does not exist with %d VFs (%s)", source, id, t.NumVFs, allowed)
		return false
	}
	vt := t.VFs[id]
	if vt == nil {
		vt = &VFTarget{Sources: map[string]string{}}
		t.VFs[id] = vt
	}
	ok := true
	dst := reflect.ValueOf(&vt.Settings).Elem()
	src := reflect.ValueOf(s)
	for i := 0; i < src.NumField(); i++ {
		f := src.Field(i)
		if f.IsNil() {
			continue
		}
		name := jsonName(src.Type().Field(i))
		d := dst.Field(i)
		if !d.IsNil() && !reflect.DeepEqual(d.Elem().Interface(), f.Elem().Interface()) {
			t.b.Problemf(ProblemInvalid, t.PF.Name, id, "", line, "%s: %s %v conflicts with %v from %s", source, name, f.Elem().Interface(), d.Elem().Interface(), vt.Sources[name])
			ok = false
			continue
		}
		v := reflect.New(f.Elem().Type())
		v.Elem().Set(f.Elem())
		d.Set(v)
		vt.Sources[name] = source
	}
	if driver != nil {
		if vt.Driver != nil && *vt.Driver != *driver {
			t.b.Problemf(ProblemInvalid, t.PF.Name, id, "", line, "%s: driver %s conflicts with %s from %s", source, *driver, *vt.Driver, vt.Sources["driver"])
			return false
		}
		d := *driver
		vt.Driver = &d
		vt.Sources["driver"] = source
	}
	return ok
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// fromPolicy turns the policy's pfs entries into targets.
func (b *Builder) fromPolicy() {
	for i, pp := range b.Policy.PFs {
		field := fmt.Sprintf("pfs[%d]", i)
		before := len(b.targets)
		p, err := pp.Find(b.Host)
		if err != nil {
			kind, ref := ProblemInvalid, pp.Ref()
			if fe, ok := err.(*policy.FindError); ok && fe.ByMatch {
				ref = "" // the message names the match
				if !fe.Ambiguous() {
					kind = ProblemNoMatch
				}
			}
			b.Problemf(kind, ref, -1, field, pp.Line, "%v", err)
			continue
		}
		t := b.target(p, field, pp.Line)
		if len(b.targets) == before {
			b.Problemf(ProblemInvalid, t.PF.Name, -1, field, pp.Line, "PF %s is named twice in pfs (by name and PCI address)", t.PF.Name)
			continue
		}
		if t.PF.VFInfoTruncated {
			b.Problemf(ProblemInvalid, t.PF.Name, -1, field, pp.Line, "the kernel reported %d of %d VFs (IFLA_VFINFO_LIST cut short): cannot plan without every VF's settings", len(t.PF.VFs), t.PF.NumVFs)
			continue
		}
		if pp.NumVFs != nil {
			if err := sriov.ValidateNumVFs("numVfs", *pp.NumVFs, t.PF.TotalVFs); err != nil {
				b.Problemf(ProblemInvalid, t.PF.Name, -1, field+".numVfs", pp.Line, "%v", err)
				continue
			}
			t.NumVFs = *pp.NumVFs
		}
		if pp.MTU != nil {
			// An MTU the PF has is one it allows (recovery plans the observed MTU of any NIC back).
			limit := max(nicprofile.ForDriver(t.PF.Driver).MTULimit(), t.PF.MTU)
			if err := sriov.ValidateMTU("mtu", *pp.MTU, limit); err != nil {
				b.Problemf(ProblemInvalid, t.PF.Name, -1, field+".mtu", pp.Line, "%v (the most %s allows)", err, t.PF.Driver)
				continue
			}
			t.MTU = *pp.MTU
		}
		if m := pp.EswitchMode; m != "" {
			prof := nicprofile.ForDriver(t.PF.Driver)
			switch {
			case m != "legacy" && m != "switchdev":
				b.Problemf(ProblemInvalid, t.PF.Name, -1, field+".eswitchMode", pp.Line, "eswitchMode %q: allowed legacy or switchdev", m)
				continue
			case m != t.PF.EswitchMode && (t.PF.EswitchMode == "" || !prof.Switchdev):
				b.Problemf(ProblemUnsupported, t.PF.Name, -1, field+".eswitchMode", pp.Line, "%s (%s) has no switchdev eswitch", t.PF.Name, t.PF.Driver)
				continue
			}
			t.EswitchMode = m
		}
		for j, g := range pp.VFs {
			src := fmt.Sprintf("%s.vfs[%d], line %d", field, j, g.Line)
			for _, id := range g.VFIDs {
				if id >= t.NumVFs {
					b.Problemf(ProblemInvalid, t.PF.Name, id, fmt.Sprintf("%s.vfs[%d].ids", field, j), g.Line, "VF %d does not exist: %s has %d VFs and the policy does not set numVfs", id, t.PF.Name, t.NumVFs)
					break
				}
				t.Set(id, g.Settings(), g.Driver, src, g.Line)
			}
		}
	}
}

// vfPlan is the planning state of one VF.
type vfPlan struct {
	base  sriov.VF       // what the VF is right before its attribute writes
	fresh bool           // created by this plan's numvfs write
	want  sriov.VFConfig // what it should become
	drv   string         // the driver it should end with
	ops   []change.Op
}

const restoreReason = "restore the VF's setting from before the resize"

// planPF computes the operations of one target.
func (b *Builder) planPF(t *Target) {
	p := t.PF
	prof := nicprofile.ForDriver(p.Driver)
	n := t.NumVFs
	fresh := func(id int) sriov.VF {
		return sriov.VF{ID: id, VFConfig: prof.FreshVFConfig(), Driver: prof.VFDriver}
	}
	var setMode []change.Op
	if t.EswitchMode != "" && t.EswitchMode != p.EswitchMode {
		setMode = []change.Op{{Kind: change.KindEswitchMode, PF: p.Name, VF: -1, From: change.Value{Mode: p.EswitchMode},
			To: change.Value{Mode: t.EswitchMode}, Reason: fmt.Sprintf("eswitch mode %s -> %s (%s)", p.EswitchMode, t.EswitchMode, t.source())}}
	}
	// Drivers change the eswitch mode only without VFs: a PF with VFs goes through 0, as for a resize.
	cycle := len(setMode) > 0 && p.NumVFs > 0
	numvfs := func(from, to int, prior []sriov.VF, reason string) change.Op {
		return change.Op{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: from}, To: change.Value{NumVFs: to},
			PriorVFs: prior, Disruptive: from > 0 && to == 0, Reason: reason}
	}
	var ops []change.Op
	if t.MTU != 0 && t.MTU != p.MTU {
		ops = append(ops, change.Op{Kind: change.KindMTU, PF: p.Name, VF: -1, From: change.Value{MTU: p.MTU}, To: change.Value{MTU: t.MTU},
			Reason: fmt.Sprintf("PF MTU %d -> %d, set before VFs are created (%s)", p.MTU, t.MTU, t.source())})
	}
	vfs := make([]vfPlan, n)
	for id := range vfs {
		vfs[id].fresh = n != p.NumVFs || cycle
		if n == p.NumVFs && !cycle {
			if v := p.VF(id); v != nil {
				vfs[id].base = *v
			} else {
				vfs[id].base = fresh(id)
			}
		} else {
			vfs[id].base = fresh(id)
		}
		vfs[id].want, vfs[id].drv = vfs[id].base.VFConfig, vfs[id].base.Driver
	}
	switch {
	case n == p.NumVFs && !cycle:
		ops = append(ops, setMode...)
	case p.NumVFs == 0:
		ops = append(ops, setMode...)
		ops = append(ops, numvfs(0, n, nil, fmt.Sprintf("create %d VFs (%s)", n, t.source())))
	case n == 0:
		ops = append(ops, numvfs(p.NumVFs, 0, p.VFs, fmt.Sprintf("remove every VF (%s): destroys VFs %s", t.source(), lossList(p))))
		ops = append(ops, setMode...)
	default:
		rz := Resize{PF: p.Name, From: p.NumVFs, To: n}
		for _, v := range p.VFs {
			if v.ID < n {
				rz.Restored = append(rz.Restored, v.ID)
				vfs[v.ID].want, vfs[v.ID].drv = v.VFConfig, v.Driver
			} else {
				rz.Removed = append(rz.Removed, v.ID)
			}
		}
		b.Plan.Resizes = append(b.Plan.Resizes, rz)
		why := fmt.Sprintf("resize %d -> %d VFs (%s) goes through 0: destroys VFs %s", p.NumVFs, n, t.source(), lossList(p))
		if n == p.NumVFs {
			why = fmt.Sprintf("the eswitch mode changes only without VFs (%s): goes through 0, destroys VFs %s", t.source(), lossList(p))
		}
		if len(rz.Restored) > 0 {
			why += "; VFs " + policy.FormatIDs(rz.Restored) + " get their settings back"
		}
		if len(rz.Removed) > 0 {
			why += "; VFs " + policy.FormatIDs(rz.Removed) + " are removed"
		}
		ops = append(ops, numvfs(p.NumVFs, 0, p.VFs, why))
		ops = append(ops, setMode...)
		ops = append(ops, numvfs(0, n, nil, fmt.Sprintf("resize: create %d VFs", n)))
	}
	restored := (n != p.NumVFs || cycle) && p.NumVFs > 0
	for id := range vfs {
		vp := &vfs[id]
		vt := t.VFs[id]
		if vt != nil {
			vp.want = vt.Settings.ApplyTo(vp.want)
			if vt.Driver != nil {
				vp.drv = *vt.Driver
			}
		}
		b.planVF(t, prof, vp, vt, restored && id < p.NumVFs)
	}
	ops = append(ops, b.macClears(t, prof, vfs)...)
	for _, vp := range vfs {
		ops = append(ops, vp.ops...)
	}
	b.Plan.Ops = append(b.Plan.Ops, ops...)
}

func (t *Target) source() string {
	if t.Line > 0 {
		return fmt.Sprintf("%s, line %d", t.Field, t.Line)
	}
	return t.Field
}

// planVF checks one VF's wanted configuration and computes its writes.
func (b *Builder) planVF(t *Target, prof *nicprofile.Profile, vp *vfPlan, vt *VFTarget, restored bool) {
	p, id, cur, want := t.PF, vp.base.ID, vp.base, vp.want
	line := t.Line
	src := func(field string) string {
		if vt != nil {
			if s, ok := vt.Sources[field]; ok {
				return s
			}
		}
		if restored {
			return restoreReason
		}
		return t.source()
	}
	if want.QoS != 0 && want.VLAN == 0 {
		b.Problemf(ProblemInvalid, p.Name, id, "", line, "%s: qos %d needs a VLAN (vlan 1-4094); the VF would be flat", src("qos"), want.QoS)
		return
	}
	if err := sriov.ValidateRates("minTxRateMbps", want.MinTxRateMbps, "maxTxRateMbps", want.MaxTxRateMbps); err != nil {
		b.Problemf(ProblemInvalid, p.Name, id, "", line, "%s: %v", src("minTxRateMbps"), err)
		return
	}
	mode := p.EswitchMode
	if t.EswitchMode != "" {
		mode = t.EswitchMode
	}
	if err := prof.CheckChangeIn(mode, p.Name, id, cur.VFConfig, want); err != nil {
		b.Problemf(ProblemUnsupported, p.Name, id, "", line, "%v (%s)", err, src(refusedField(err.Error())))
		return
	}
	for _, o := range change.Diff(p.Name, cur, want, "") {
		o.Reason = src(fieldOfKind(o.Kind, vt))
		vp.ops = append(vp.ops, o)
	}
	if vp.drv != cur.Driver {
		// Leave the netdev driver before the attribute writes and come to it after them, so that a MAC is
		// always written while the netdev driver is not bound (igb applies it at bind time), forwards and
		// in the reverse order of an undo.
		bind := change.Op{Kind: change.KindDriver, PF: p.Name, VF: id, From: change.Value{Driver: cur.Driver},
			To: change.Value{Driver: vp.drv}, Reason: src("driver")}
		// igb (observed): binding igbvf to a VF without an admin MAC makes the PF report igbvf's own MAC as
		// the VF's admin MAC. A write of 00:00:00:00:00:00 after the bind clears it again; one before
		// leaving igbvf does the same for an undo, which runs it after binding igbvf back.
		pin := change.KeepMACClear(p.Name, id, p.Driver, prof.VFDriver, "")
		pinned := prof.RebindReportsVFMAC && prof.VFDriver != ""
		if cur.Driver == prof.VFDriver {
			lead := []change.Op{bind}
			if pinned && cur.MAC == sriov.ZeroMAC && !vp.fresh { // an undo removes a fresh VF anyway
				lead = []change.Op{pin, bind}
			}
			vp.ops = append(lead, vp.ops...)
		} else {
			vp.ops = append(vp.ops, bind)
			if pinned && vp.drv == prof.VFDriver && want.MAC == sriov.ZeroMAC {
				vp.ops = append(vp.ops, pin)
				if cur.MAC == sriov.ZeroMAC && !vp.fresh {
					// If a write after the bind fails, the undo leaves igbvf with igbvf's MAC reported: this
					// write, run last by the undo, clears it again.
					vp.ops = append([]change.Op{pin}, vp.ops...)
				}
			}
		}
	}
	// igb: an admin MAC set while igbvf is bound reaches the netdev only after a driver reload.
	if prof.MACNeedsVFReload && want.MAC != sriov.ZeroMAC && vp.drv == prof.VFDriver && cur.Driver == prof.VFDriver {
		macOp := !strings.EqualFold(cur.MAC, want.MAC)
		stale := vt != nil && vt.Settings.MAC != nil && cur.NetdevMAC != "" && !strings.EqualFold(cur.NetdevMAC, want.MAC)
		switch {
		case (macOp || stale) && change.OwnMACWrite(prof, cur, want, vp.fresh):
			// igb takes a trusted VF's own MAC: once the admin MAC and trust on are written, the netdev's
			// address write gives the netdev the MAC at a fraction of a reload's cost, and the netdev keeps
			// its name, addresses and namespace (docs/kernel-backend.md).
			vp.ops = append(vp.ops, change.NetdevMACOp(p.Name, cur, want.MAC, "the trusted VF's netdev takes MAC "+want.MAC+" (no "+prof.VFDriver+" reload)")...)
		case macOp || stale:
			// Unbind, write, bind: the netdev takes the MAC as it binds, and an undo in reverse order binds
			// the driver again after the old MAC is back.
			why := "reload " + prof.VFDriver + " so the netdev takes MAC " + want.MAC
			if vp.fresh { // an undo removes a fresh VF: no clear admin MAC to keep for it
				reload := change.ReloadOps(p.Name, cur, prof.VFDriver, why)
				vp.ops = append(append([]change.Op{reload[0]}, vp.ops...), reload[1])
			} else {
				vp.ops = change.ReloadAround(p.Name, prof, cur, want, vp.ops, why)
			}
			b.Note("%s vf %d: %s says %q: the plan unbinds and rebinds %s so that the VF netdev takes MAC %s", p.Name, id, p.Driver, prof.MACNotice, prof.VFDriver, want.MAC)
		}
	}
}

// fieldOfKind names the settings field that decides an operation's reason.
func fieldOfKind(k change.Kind, vt *VFTarget) string {
	switch k {
	case change.KindVLAN:
		if vt != nil {
			for _, f := range []string{"vlan", "qos", "vlanProto"} {
				if _, ok := vt.Sources[f]; ok {
					return f
				}
			}
		}
		return "vlan"
	case change.KindRate:
		if vt != nil {
			if _, ok := vt.Sources["maxTxRateMbps"]; ok {
				return "maxTxRateMbps"
			}
		}
		return "minTxRateMbps"
	}
	return string(k)
}

// refusedField maps a predicted refusal's wording back to the settings field.
func refusedField(msg string) string {
	for _, f := range []struct{ word, field string }{
		{"802.1ad", "vlanProto"}, {"state", "linkState"}, {"min_tx_rate", "minTxRateMbps"}, {"max_tx_rate", "maxTxRateMbps"},
		{"query_rss", "queryRss"}, {"trust", "trust"}, {"spoofchk", "spoofchk"},
	} {
		if strings.Contains(msg, f.word) {
			return f.field
		}
	}
	return ""
}

// macClears handles NICs that refuse a MAC another VF holds: the final MACs must be unique, and a VF
// whose current MAC another VF is about to take first gets 00:00:00:00:00:00.
func (b *Builder) macClears(t *Target, prof *nicprofile.Profile, vfs []vfPlan) []change.Op {
	if prof.DuplicateMAC != nicprofile.DuplicateMACRefused {
		return nil
	}
	owner := map[string]int{}
	for id, vp := range vfs {
		m := strings.ToLower(vp.want.MAC)
		if m == sriov.ZeroMAC {
			continue
		}
		if other, dup := owner[m]; dup {
			msg := "duplicate MAC refused"
			if prof.DuplicateMACRefusal != nil {
				msg = prof.DuplicateMACRefusal.Message
			}
			b.Problemf(ProblemUnsupported, t.PF.Name, id, "", t.Line, "MAC %s is also wanted on VF %d and %s refuses a MAC two VFs share (%s)", m, other, t.PF.Driver, msg)
			return nil
		}
		owner[m] = id
	}
	var clears []change.Op
	ids := make([]int, 0, len(vfs))
	for id := range vfs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		vp := &vfs[id]
		cur := strings.ToLower(vp.base.MAC)
		if cur == sriov.ZeroMAC || strings.EqualFold(cur, vp.want.MAC) {
			continue
		}
		taker, taken := owner[cur]
		if !taken || taker == id {
			continue
		}
		clears = append(clears, change.Op{Kind: change.KindMAC, PF: t.PF.Name, VF: id, From: change.Value{MAC: vp.base.MAC},
			To: change.Value{MAC: sriov.ZeroMAC}, Reason: fmt.Sprintf("%s %s for VF %d (%s refuses duplicate MACs)", change.FreeMACReason, cur, taker, t.PF.Driver)})
		for i := range vp.ops {
			if vp.ops[i].Kind == change.KindMAC {
				vp.ops[i].From.MAC = sriov.ZeroMAC
			}
		}
	}
	return clears
}

// lossList names a PF's VFs, marking those whose configuration differs from a fresh VF's.
func lossList(p *sriov.PF) string {
	def := sriov.DefaultVFConfig()
	var all, configured []int
	for _, v := range p.VFs {
		all = append(all, v.ID)
		if v.VFConfig != def {
			configured = append(configured, v.ID)
		}
	}
	s := policy.FormatIDs(all)
	if len(configured) > 0 {
		s += " (configured: " + policy.FormatIDs(configured) + ")"
	}
	return s
}

// Restore plans the writes that bring the host back to snapshot: the VF count, every VF's settings and
// driver, of each PF in it. Recovery of an interrupted apply uses it; it runs no contributor.
func Restore(st *sriov.Host, snapshot []sriov.PF) *Plan {
	p := Build(st, SnapshotPolicy(snapshot), Options{})
	for i := range p.Ops {
		if p.Ops[i].Kind != change.KindNetdevMAC && !strings.HasPrefix(p.Ops[i].Reason, "reload ") && !strings.HasPrefix(p.Ops[i].Reason, change.FreeMACReason) {
			p.Ops[i].Reason = "undo: back to the state before the interrupted apply"
		}
	}
	// Offloaded mirror rules: remove those the snapshot lacks before anything else, add the missing ones
	// last, once their VFs exist (a VF count change removes every rule with the representors).
	var dels, adds []change.Op
	for _, want := range snapshot {
		cur := st.FindPF(want.PCIAddress)
		if cur == nil {
			cur = st.FindPF(want.Name)
		}
		if cur == nil {
			continue
		}
		kept := map[string]bool{}
		for _, r := range cur.MirrorRules {
			if w := findRule(want.MirrorRules, r.Name); w != nil && reflect.DeepEqual(*w, r) {
				kept[r.Name] = true
				continue
			}
			r := r
			dels = append(dels, change.Op{Kind: change.KindMirrorRule, PF: cur.Name, VF: -1, From: change.Value{Rule: &r},
				Reason: "undo: remove a mirror rule the interrupted apply added"})
		}
		resized := cur.NumVFs != want.NumVFs
		for _, r := range want.MirrorRules {
			if kept[r.Name] && !resized {
				continue
			}
			r := r
			adds = append(adds, change.Op{Kind: change.KindMirrorRule, PF: cur.Name, VF: -1, To: change.Value{Rule: &r},
				Reason: "undo: put back a mirror rule the interrupted apply removed"})
		}
	}
	p.Ops = append(append(dels, p.Ops...), adds...)
	return p
}

func findRule(rules []sriov.MirrorRule, name string) *sriov.MirrorRule {
	for i := range rules {
		if rules[i].Name == name {
			return &rules[i]
		}
	}
	return nil
}

// SnapshotPolicy is the policy that names every setting of every VF of snapshot's PFs, and their MTUs.
func SnapshotPolicy(snapshot []sriov.PF) *policy.Policy {
	pol := &policy.Policy{}
	for _, p := range snapshot {
		n := p.NumVFs
		// By PCI address: the netdev may have been renamed since (udev at boot).
		pp := policy.PF{Name: p.Name, NumVFs: &n, Line: 0}
		if p.PCIAddress != "" {
			pp = policy.PF{PCIAddress: p.PCIAddress, NumVFs: &n}
		}
		if p.MTU > 0 {
			mtu := p.MTU
			pp.MTU = &mtu
		}
		for _, v := range p.VFs {
			c := v.VFConfig
			drv := v.Driver
			pp.VFs = append(pp.VFs, policy.VFGroup{
				IDs: fmt.Sprint(v.ID), VFIDs: []int{v.ID}, MAC: &c.MAC, VLAN: &c.VLAN, QoS: &c.QoS, VLANProto: &c.VLANProto,
				SpoofCheck: &c.SpoofCheck, Trust: &c.Trust, LinkState: &c.LinkState, MinTxRateMbps: &c.MinTxRateMbps,
				MaxTxRateMbps: &c.MaxTxRateMbps, QueryRSS: &c.QueryRSS, Driver: &drv,
			})
		}
		pol.PFs = append(pol.PFs, pp)
	}
	return pol
}
