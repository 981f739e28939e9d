package change

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Batched execution, on a host that implements host.VFBatcher (the kernel). The op list stays what users
// see and what the journal records; only the host writes are grouped:
//
//   - the attribute ops of one VF that follow each other in that VF's own sequence become one
//     host.VFBatcher.SetVFAttrs call (one RTM_SETLINK), as long as no attribute group repeats;
//   - PF-level ops (numvfs, eswitch mode, mirror rules, MTU) run alone and in place;
//   - between them, a segment of VF-level ops is pipelined when its VFs are independent (pipelined
//     below): each VF runs its own units (unbind, batch, bind) one after the other, up to
//     host.VFBatcher.ConcurrentBinds VFs at once, so that one VF's driver probe overlaps another's
//     unbind. A VF driver reload mostly waits (unregistering a netdev waits for RCU grace periods; igb's
//     7 serial reloads keep a 2-vCPU guest about 30% busy), and with a barrier between all unbinds and
//     all binds those waits cannot overlap the other phase's work (docs/performance.md, "Real driver");
//   - a segment whose VFs depend on each other advances in lock step instead: step 1 of every VF, then
//     step 2..., the plan's order within a step, and the driver binds and unbinds of one step run
//     concurrently (ConcurrentBinds at once). That is the case when a VF gives up a MAC that another
//     VF of the segment takes (plan's "free MAC" steps for NICs that refuse duplicate MACs, or a MAC
//     moved between VFs) or two VFs set the same MAC: the plan's order of those writes must hold.
//
// Each VF's own ops keep their order. A failure undoes exactly what landed: the done ops (in the order
// they ran, newest first) plus, for a batch the host refused part way, the ops its read-back shows
// changed. Once a unit fails no new unit starts; units in flight finish and count (done, Writes,
// HostWrites). Hooks.Before runs once per group of writes that may run together (a PF-level op, a lock
// step's unit or concurrent binds, a whole pipelined segment), before any of it, with the group's
// highest op index: the journal's "about to run" marker. Hooks.After runs for each op of a unit that
// succeeded, one call at a time.

// attrKind reports whether k is a VF attribute group that SetVFAttrs can carry.
func attrKind(k Kind) bool {
	switch k {
	case KindMAC, KindVLAN, KindSpoofCheck, KindTrust, KindLinkState, KindRate, KindQueryRSS:
		return true
	}
	return false
}

// kernelOrder is the order in which the kernel applies a batch's groups (do_setvfinfo).
var kernelOrder = map[Kind]int{KindMAC: 0, KindVLAN: 1, KindRate: 2, KindSpoofCheck: 3, KindLinkState: 4, KindQueryRSS: 5, KindTrust: 6}

// vfLevel reports whether o writes one VF only, so that it may be grouped with the VF's other ops.
func vfLevel(o Op) bool {
	return o.VF >= 0 && (attrKind(o.Kind) || o.Kind == KindDriver || o.Kind == KindNetdevMAC)
}

// unit is one host write: one op, or a batch of one VF's attribute ops (indices into the op list).
type unit struct{ ops []int }

func (u unit) first() int { return u.ops[0] }
func (u unit) last() int  { return slices.Max(u.ops) }

// stage is a set of unit sequences that may run concurrently (at most ConcurrentBinds at once); the units
// of one sequence run one after the other, in order.
type stage [][]unit

// steps splits ops into stages, to run one after the other.
func steps(ops []Op, concurrent int) []stage {
	var out []stage
	for i := 0; i < len(ops); {
		if !vfLevel(ops[i]) {
			out = append(out, stage{{{ops: []int{i}}}})
			i++
			continue
		}
		j := i
		for j < len(ops) && vfLevel(ops[j]) {
			j++
		}
		out = append(out, segmentSteps(ops, i, j, concurrent)...)
		i = j
	}
	return out
}

// segmentSteps schedules ops[i:j], all VF-level: each VF's ops become a queue of units. When the VFs are
// independent (pipelined) the queues are the sequences of one stage, each VF running its own as soon as
// it can; otherwise the VFs advance in lock step.
func segmentSteps(ops []Op, i, j, concurrent int) []stage {
	type vfKey struct {
		pf string
		vf int
	}
	var order []vfKey
	queues := map[vfKey][]unit{}
	for k := i; k < j; k++ {
		o := ops[k]
		key := vfKey{pfRef(o), o.VF}
		q, seen := queues[key]
		if !seen {
			order = append(order, key)
		}
		if n := len(q); n > 0 && attrKind(o.Kind) && batchable(ops, q[n-1], o.Kind) {
			q[n-1].ops = append(q[n-1].ops, k)
		} else {
			q = append(q, unit{ops: []int{k}})
		}
		queues[key] = q
	}
	if concurrent > 1 && len(order) > 1 && pipelined(ops[i:j]) {
		var st stage
		for _, key := range order {
			st = append(st, queues[key])
		}
		return []stage{st}
	}
	var out []stage
	for r := 0; ; r++ {
		var round []unit
		for _, key := range order {
			if q := queues[key]; r < len(q) {
				round = append(round, q[r])
			}
		}
		if len(round) == 0 {
			return out
		}
		slices.SortFunc(round, func(a, b unit) int { return a.first() - b.first() })
		// Consecutive driver units form one concurrent stage; anything else runs alone.
		for len(round) > 0 {
			n := 1
			if ops[round[0].first()].Kind == KindDriver && concurrent > 1 {
				for n < len(round) && ops[round[n].first()].Kind == KindDriver {
					n++
				}
			}
			var st stage
			for _, u := range round[:n] {
				st = append(st, []unit{u})
			}
			out = append(out, st)
			round = round[n:]
		}
	}
}

// FreeMACReason starts the Reason of the planner's ops that clear a VF's MAC so that another VF can take
// it (NICs that refuse a MAC two VFs share): such ops keep their segment in lock step, and recovery
// keeps their reason.
const FreeMACReason = "free MAC"

// pipelined reports whether the VFs of a VF-level segment are independent, so that each may run its own
// ops without waiting for the others': no op frees a MAC for another VF (plan's "free MAC" steps, for
// NICs that refuse duplicate MACs), and no MAC op (admin MAC or netdev address) sets a MAC that an op of
// another VF gives up or sets.
// Other attribute groups and driver binds of one VF do not touch another's.
func pipelined(seg []Op) bool {
	type holder struct {
		pf string
		vf int
	}
	macs := map[string]holder{}
	claim := func(o Op, mac string) bool {
		m := strings.ToLower(mac)
		if m == "" || m == sriov.ZeroMAC {
			return true
		}
		who := holder{pfRef(o), o.VF}
		if h, ok := macs[m]; ok && h != who {
			return false
		}
		macs[m] = who
		return true
	}
	for _, o := range seg {
		if strings.HasPrefix(o.Reason, FreeMACReason) {
			return false
		}
		if (o.Kind == KindMAC || o.Kind == KindNetdevMAC) && (!claim(o, o.From.MAC) || !claim(o, o.To.MAC)) {
			return false
		}
	}
	return true
}

// batchable reports whether an attribute op of kind k can join unit u: u holds attribute ops only, none
// of kind k (the kernel keeps one attribute of each type per message).
func batchable(ops []Op, u unit, k Kind) bool {
	for _, i := range u.ops {
		if !attrKind(ops[i].Kind) || ops[i].Kind == k {
			return false
		}
	}
	return true
}

func pfRef(o Op) string {
	if o.PFAddress != "" {
		return o.PFAddress
	}
	return o.PF
}

// attrsOf builds the batch of attribute ops (their To values).
func attrsOf(ops []Op) host.VFAttrs {
	var a host.VFAttrs
	for _, o := range ops {
		v := o.To
		switch o.Kind {
		case KindMAC:
			a.MAC = &v.MAC
		case KindVLAN:
			a.VLAN = &host.VFVLAN{VLAN: v.VLAN, QoS: v.QoS, Proto: protoOf(v.VLANProto)}
		case KindSpoofCheck:
			a.SpoofCheck = &v.On
		case KindTrust:
			a.Trust = &v.On
		case KindLinkState:
			a.LinkState = &v.LinkState
		case KindRate:
			a.Rate = &host.VFRate{MinMbps: v.MinMbps, MaxMbps: v.MaxMbps}
		case KindQueryRSS:
			a.QueryRSS = &v.On
		}
	}
	return a
}

// shows reports whether VF configuration c carries value v of attribute kind k.
func shows(k Kind, c sriov.VFConfig, v Value) bool {
	switch k {
	case KindMAC:
		return strings.EqualFold(c.MAC, v.MAC)
	case KindVLAN:
		return c.VLAN == v.VLAN && c.QoS == v.QoS && protoOf(c.VLANProto) == protoOf(v.VLANProto)
	case KindSpoofCheck:
		return c.SpoofCheck == v.On
	case KindTrust:
		return c.Trust == v.On
	case KindLinkState:
		return c.LinkState == v.LinkState
	case KindRate:
		return c.MinTxRateMbps == v.MinMbps && c.MaxTxRateMbps == v.MaxMbps
	case KindQueryRSS:
		return c.QueryRSS == v.On
	}
	return false
}

// outcome is what one unit's host write did.
type outcome struct {
	landed []int // op indices whose change reached the host (all of them on success)
	failed int   // the op that failed, -1 when none
	err    error
	how    host.Outcome // of the failed op
}

// runUnit makes one unit's host write.
func runUnit(ctx context.Context, h host.Host, b host.VFBatcher, ops []Op, u unit) outcome {
	if len(u.ops) == 1 {
		i := u.ops[0]
		if err := Execute(ctx, h, ops[i]); err != nil {
			how := host.OutcomeOf(err)
			out := outcome{failed: i, err: err, how: how}
			if how == host.Unconfirmed {
				out.landed = []int{i}
			}
			return out
		}
		return outcome{landed: []int{i}, failed: -1}
	}
	batch := slices.Clone(u.ops)
	slices.SortStableFunc(batch, func(a, b int) int { return kernelOrder[ops[a].Kind] - kernelOrder[ops[b].Kind] })
	var sel []Op
	for _, i := range batch {
		sel = append(sel, ops[i])
	}
	o := ops[batch[0]]
	after, err := b.SetVFAttrs(ctx, pfRef(o), o.VF, attrsOf(sel))
	if err == nil {
		return outcome{landed: batch, failed: -1}
	}
	if after == nil {
		// Nothing can be told: any group may have landed. Undo restores them all.
		return outcome{landed: batch, failed: batch[0], err: host.WrittenUnconfirmed(err), how: host.Unconfirmed}
	}
	out := outcome{failed: -1, err: err, how: host.NotWritten}
	for _, i := range batch {
		if out.failed < 0 && !shows(ops[i].Kind, *after, ops[i].To) {
			out.failed = i // the kernel stops at the first refusal
		}
		if !shows(ops[i].Kind, *after, ops[i].From) {
			out.landed = append(out.landed, i)
		}
	}
	if host.OutcomeOf(err) == host.Unconfirmed && len(out.landed) > 0 {
		// The host stopped at a group it wrote but could not confirm: the last that landed.
		out.failed, out.how = out.landed[len(out.landed)-1], host.Unconfirmed
	}
	if out.failed < 0 {
		// Refused, yet the VF shows every value: count the last as written but unconfirmed.
		out.failed, out.err, out.how = batch[len(batch)-1], host.WrittenUnconfirmed(err), host.Unconfirmed
	}
	return out
}

// runBatched is Run on a host.VFBatcher.
func runBatched(ctx context.Context, h host.Host, b host.VFBatcher, ops []Op, hooks Hooks) (Result, error) {
	var res Result
	var done []Op // in the order they ran: what an undo reverts, newest first
	conc := max(1, b.ConcurrentBinds())
	for _, st := range steps(ops, conc) {
		hi := -1
		for _, seq := range st {
			for _, u := range seq {
				hi = max(hi, u.last())
			}
		}
		if hooks.Before != nil {
			if err := hooks.Before(hi, ops[hi]); err != nil {
				return fail(ctx, h, &res, done, ops[st[0][0].first()], err, host.NotWritten)
			}
		}
		r := stageRun{ctx: ctx, h: h, b: b, ops: ops, hooks: hooks, res: &res, done: &done, failed: -1}
		if len(st) == 1 {
			r.sequence(st[0])
		} else {
			sem := make(chan struct{}, conc)
			var wg sync.WaitGroup
			for _, seq := range st {
				sem <- struct{}{}
				if r.stopped() {
					<-sem
					break
				}
				wg.Go(func() {
					defer func() { <-sem }()
					r.sequence(seq)
				})
			}
			wg.Wait()
		}
		if r.failed >= 0 {
			if r.how == host.Unconfirmed {
				o := ops[r.failed]
				res.Unconfirmed = &o
			}
			return fail(ctx, h, &res, done, ops[r.failed], r.err, r.how)
		}
	}
	return res, nil
}

// stageRun is the state of one stage's run, shared by its sequences.
type stageRun struct {
	ctx   context.Context
	h     host.Host
	b     host.VFBatcher
	ops   []Op
	hooks Hooks

	mu     sync.Mutex
	res    *Result
	done   *[]Op
	failed int // the lowest failed op index, -1 while none failed
	err    error
	how    host.Outcome
}

func (r *stageRun) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed >= 0
}

// sequence runs seq's units one after the other, stopping before a unit once any unit of the stage failed.
func (r *stageRun) sequence(seq []unit) {
	for _, u := range seq {
		if r.stopped() {
			return
		}
		var out outcome
		if err := r.ctx.Err(); err != nil {
			out = outcome{failed: u.first(), err: err, how: host.NotWritten}
		} else {
			out = runUnit(r.ctx, r.h, r.b, r.ops, u)
		}
		if !r.record(out) {
			return
		}
	}
}

// record counts what a unit landed and reports whether it succeeded. A failure is kept when it is the
// stage's first by op index (the error then names the earliest op that failed, as a serial run would).
func (r *stageRun) record(out outcome) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range out.landed {
		*r.done = append(*r.done, r.ops[i])
		if out.failed != i {
			r.res.Writes++
			if r.hooks.After != nil && out.err == nil {
				r.hooks.After(i, r.ops[i])
			}
		}
	}
	if out.err == nil || len(out.landed) > 0 {
		r.res.HostWrites++
	}
	if out.err != nil && (r.failed < 0 || out.failed < r.failed) {
		r.failed, r.err, r.how = out.failed, out.err, out.how
	}
	return out.err == nil
}

// fail undoes done (newest first) and returns the FailedError for op.
func fail(ctx context.Context, h host.Host, res *Result, done []Op, op Op, err error, how host.Outcome) (Result, error) {
	res.RolledBack = true
	res.Unrestored = Undo(context.WithoutCancel(ctx), h, done)
	return *res, &FailedError{Op: op, Err: err, Outcome: how, Unrestored: res.Unrestored}
}

// undoBatched runs the undo ops in order, batching consecutive attribute ops of one VF; a batch the host
// refuses is retried op by op (each rewrites a prior value, so repeating one that landed is harmless),
// so that what is reported unrestored is exact.
func undoBatched(ctx context.Context, h host.Host, b host.VFBatcher, inv []Op) []string {
	var failed []string
	one := func(o Op) {
		if err := Execute(ctx, h, o); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", o.Describe(), err))
		}
	}
	for i := 0; i < len(inv); {
		j := i + 1
		if vfLevel(inv[i]) && attrKind(inv[i].Kind) {
			kinds := map[Kind]bool{inv[i].Kind: true}
			for j < len(inv) && attrKind(inv[j].Kind) && inv[j].VF == inv[i].VF && pfRef(inv[j]) == pfRef(inv[i]) && !kinds[inv[j].Kind] {
				kinds[inv[j].Kind] = true
				j++
			}
		}
		if j-i == 1 {
			one(inv[i])
		} else if _, err := b.SetVFAttrs(ctx, pfRef(inv[i]), inv[i].VF, attrsOf(inv[i:j])); err != nil {
			for _, o := range inv[i:j] {
				one(o)
			}
		}
		i = j
	}
	return failed
}
