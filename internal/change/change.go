// Package change models host writes as operations that can be described, counted, journaled and undone,
// and executes a list of them with rollback: when one fails, every operation already done is undone in
// reverse order from its observed prior value, so the host is left as it was.
package change

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Kind is the attribute group one operation writes.
type Kind string

// The operation kinds: one host write each.
const (
	KindNumVFs     Kind = "numvfs"
	KindMAC        Kind = "mac"
	KindVLAN       Kind = "vlan" // vlan, qos and proto together
	KindSpoofCheck Kind = "spoofchk"
	KindTrust      Kind = "trust"
	KindLinkState  Kind = "linkState"
	KindRate       Kind = "rate" // min and max together
	KindQueryRSS   Kind = "queryRss"
	KindDriver     Kind = "driver"
	// KindMirrorRule adds (To.Rule set) or removes (From.Rule set, To.Rule nil) an offloaded switchdev
	// mirror rule; the backend must implement host.MirrorRules.
	KindMirrorRule Kind = "mirrorRule"
	// KindEswitchMode switches the PF's eswitch (legacy, switchdev) through devlink; the backend must
	// implement host.EswitchSetter.
	KindEswitchMode Kind = "eswitchMode"
	// KindMTU sets the PF netdev's MTU (VF is -1). Planners order it before the PF's VFs are created:
	// several drivers bound a VF's MTU by the PF's.
	KindMTU Kind = "mtu"
	// KindNetdevMAC sets the address of the VF's own netdev (not the admin MAC); the backend must
	// implement host.VFNetdevAddresser. Planners use it where the VF driver takes a MAC that way instead
	// of at a reload (nicprofile trustedVfSetsOwnMac).
	KindNetdevMAC Kind = "netdevMac"
)

// Value is the value an operation writes; which fields count depends on the Kind.
type Value struct {
	NumVFs    int               `json:"numVfs,omitempty"`
	MAC       string            `json:"mac,omitempty"`
	VLAN      int               `json:"vlan,omitempty"`
	QoS       int               `json:"qos,omitempty"`
	VLANProto sriov.VLANProto   `json:"vlanProto,omitempty"`
	On        bool              `json:"on,omitempty"`
	LinkState sriov.LinkState   `json:"linkState,omitempty"`
	MinMbps   int               `json:"minTxRateMbps,omitempty"`
	MaxMbps   int               `json:"maxTxRateMbps,omitempty"`
	Driver    string            `json:"driver,omitempty"`
	Rule      *sriov.MirrorRule `json:"rule,omitempty"`
	Mode      string            `json:"eswitchMode,omitempty"`
	MTU       int               `json:"mtu,omitempty"`
}

// Op is one host write with the value it replaces.
type Op struct {
	Kind Kind   `json:"kind"`
	PF   string `json:"pf"`
	// PFAddress is the PF's PCI address, when known: Execute names the PF by it, so that a netdev rename
	// (udev at boot) between planning and writing does not make the write miss its PF.
	PFAddress string `json:"pfAddress,omitempty"`
	VF        int    `json:"vf"` // -1 for PF-level operations
	To        Value  `json:"to"`
	From      Value  `json:"from"`
	// PriorVFs, on a numvfs operation, holds the VFs (with their configuration) that the write destroys,
	// so that an undo can recreate them as they were.
	PriorVFs   []sriov.VF `json:"priorVfs,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Disruptive bool       `json:"disruptive,omitempty"`
}

// Describe renders the operation as a short human line ("ens5f0 vf 2: vlan 0 -> 100").
func (o Op) Describe() string {
	target := o.PF
	if o.VF >= 0 {
		target = fmt.Sprintf("%s vf %d", o.PF, o.VF)
	}
	from, to := o.From.Format(o.Kind), o.To.Format(o.Kind)
	switch {
	case o.Kind == KindMirrorRule && o.From.Rule == nil && o.To.Rule != nil:
		return fmt.Sprintf("%s: add mirror rule %s", target, describeRule(o.To.Rule))
	case o.Kind == KindMirrorRule && o.To.Rule == nil && o.From.Rule != nil:
		return fmt.Sprintf("%s: remove mirror rule %s", target, describeRule(o.From.Rule))
	case from == to:
		// A deliberate write of the value already there (igb's KeepMACClear), not a change.
		return fmt.Sprintf("%s: %s %s (unchanged, written again)", target, o.Kind, to)
	}
	return fmt.Sprintf("%s: %s %s -> %s", target, o.Kind, from, to)
}

// describeRule is a mirror rule in words: "tap (frames to 02:00:00:00:00:10 copied to vf 0,1)".
func describeRule(r *sriov.MirrorRule) string {
	ids := make([]string, len(r.VFs))
	for i, id := range r.VFs {
		ids[i] = fmt.Sprint(id)
	}
	return fmt.Sprintf("%s (frames to %s copied to vf %s)", r.Name, r.MAC, strings.Join(ids, ","))
}

// Format renders the fields of v that kind k uses.
func (v Value) Format(k Kind) string {
	switch k {
	case KindNumVFs:
		return fmt.Sprint(v.NumVFs)
	case KindMAC:
		return v.MAC
	case KindNetdevMAC:
		if v.MAC == "" {
			return "(a new VF's)"
		}
		return v.MAC
	case KindVLAN:
		s := fmt.Sprint(v.VLAN)
		if v.VLAN == 0 {
			s = "0 (flat)"
		}
		if v.QoS != 0 {
			s += fmt.Sprintf(" qos %d", v.QoS)
		}
		if v.VLANProto != "" && v.VLANProto != sriov.VLANProto8021Q {
			s += " proto " + string(v.VLANProto)
		}
		return s
	case KindSpoofCheck, KindTrust, KindQueryRSS:
		if v.On {
			return "on"
		}
		return "off"
	case KindLinkState:
		return string(v.LinkState)
	case KindRate:
		return fmt.Sprintf("min %d max %d Mbps", v.MinMbps, v.MaxMbps)
	case KindDriver:
		if v.Driver == "" {
			return "(none)"
		}
		return v.Driver
	case KindMirrorRule:
		if v.Rule == nil {
			return "(none)"
		}
		return v.Rule.String()
	case KindEswitchMode:
		return v.Mode
	case KindMTU:
		return fmt.Sprint(v.MTU)
	}
	return "?"
}

// Inverse returns the operation that undoes o.
func (o Op) Inverse() Op {
	inv := o
	inv.To, inv.From = o.From, o.To
	inv.PriorVFs = nil
	inv.Reason = "rollback"
	return inv
}

// Execute performs one operation on h.
func Execute(ctx context.Context, h host.Host, o Op) error {
	v := o.To
	if o.PFAddress != "" {
		o.PF = o.PFAddress
	}
	switch o.Kind {
	case KindNumVFs:
		return h.SetNumVFs(ctx, o.PF, v.NumVFs)
	case KindMAC:
		return h.SetVFMAC(ctx, o.PF, o.VF, v.MAC)
	case KindVLAN:
		proto := v.VLANProto
		if proto == "" {
			proto = sriov.VLANProto8021Q
		}
		return h.SetVFVLAN(ctx, o.PF, o.VF, v.VLAN, v.QoS, proto)
	case KindSpoofCheck:
		return h.SetVFSpoofCheck(ctx, o.PF, o.VF, v.On)
	case KindTrust:
		return h.SetVFTrust(ctx, o.PF, o.VF, v.On)
	case KindLinkState:
		return h.SetVFLinkState(ctx, o.PF, o.VF, v.LinkState)
	case KindRate:
		return h.SetVFRate(ctx, o.PF, o.VF, v.MinMbps, v.MaxMbps)
	case KindQueryRSS:
		return h.SetVFQueryRSS(ctx, o.PF, o.VF, v.On)
	case KindDriver:
		return h.BindVF(ctx, o.PF, o.VF, v.Driver)
	case KindMirrorRule:
		mr, ok := h.(host.MirrorRules)
		if !ok {
			return &host.Error{Op: "mirror rule on " + o.PF, Kind: host.KindNotSupported, Detail: "this backend cannot offload switchdev mirror rules"}
		}
		if v.Rule != nil {
			return mr.AddMirrorRule(ctx, o.PF, *v.Rule)
		}
		if o.From.Rule == nil {
			return fmt.Errorf("mirror rule operation on %s names no rule", o.PF)
		}
		return mr.DeleteMirrorRule(ctx, o.PF, o.From.Rule.Name)
	case KindEswitchMode:
		es, ok := h.(host.EswitchSetter)
		if !ok {
			return &host.Error{Op: "eswitch mode on " + o.PF, Kind: host.KindNotSupported, Detail: "this backend cannot set eswitch modes"}
		}
		return es.SetEswitchMode(ctx, o.PF, v.Mode)
	case KindMTU:
		return h.SetPFMTU(ctx, o.PF, v.MTU)
	case KindNetdevMAC:
		if v.MAC == "" {
			// The undo of a write to a VF the same run created (its address was not known when it was
			// planned): nothing to put back, the undo of the VF count removes the VF.
			return nil
		}
		na, ok := h.(host.VFNetdevAddresser)
		if !ok {
			return &host.Error{Op: fmt.Sprintf("set the netdev address of vf %d on %s", o.VF, o.PF), Kind: host.KindNotSupported, Detail: "this backend cannot set a VF netdev's address"}
		}
		return na.SetVFNetdevMAC(ctx, o.PF, o.VF, v.MAC)
	}
	return fmt.Errorf("unknown operation kind %q", o.Kind)
}

// Hooks let callers observe execution, e.g. to journal each operation before it runs.
type Hooks struct {
	// Before runs before operation i; an error stops execution (and rolls back) before the write. When
	// the host batches writes (host.VFBatcher) it runs once per group of writes that may run together (a
	// whole pipelined segment of VF writes, see batch.go), with the group's highest index.
	Before func(i int, o Op) error
	// After runs after operation i succeeded.
	After func(i int, o Op)
}

// Result reports what Run did.
type Result struct {
	Writes int // successful forward writes (operations)
	// HostWrites is how many host writes carried them: fewer than Writes when a backend writes several
	// attribute groups of a VF in one (host.VFBatcher: "7 netlink messages for 35 attribute changes").
	HostWrites int
	RolledBack bool // a failure happened and undo was attempted
	// Unconfirmed is the operation whose write reached the host but could not be confirmed
	// (host.Unconfirmed); it was undone like a done one. Nil when there was none.
	Unconfirmed *Op
	// Unrestored lists the undo operations that failed: what is left changed on the host.
	Unrestored []string
}

// FailedError says which operation failed, how far its write got, and whether the host was restored.
type FailedError struct {
	Op  Op
	Err error
	// Outcome of the failed operation's own write: host.NotWritten, or host.Unconfirmed when it reached
	// the host and was undone with the others.
	Outcome    host.Outcome
	Unrestored []string
}

func (e *FailedError) Error() string {
	msg := fmt.Sprintf("%s failed: %v", e.Op.Describe(), e.Err)
	if e.Outcome == host.Unconfirmed {
		msg = fmt.Sprintf("%s: written but not confirmed (%v)", e.Op.Describe(), e.Err)
	}
	if len(e.Unrestored) > 0 {
		return msg + "; could NOT restore: " + strings.Join(e.Unrestored, "; ")
	}
	if e.Outcome == host.Unconfirmed {
		return msg + "; undone with every earlier write"
	}
	return msg + "; host restored to its prior state"
}

func (e *FailedError) Unwrap() error { return e.Err }

// Run executes ops in order. If one fails, it undoes the ones already done (newest first) and returns a
// *FailedError. A write that failed after reaching the host (host.Unconfirmed) counts as done: it is
// undone too. Undo ignores context cancellation, since leaving the host half-changed is worse.
//
// On a host.VFBatcher the writes are grouped (one per VF's run of attribute ops; the VFs of a segment
// run side by side, see batch.go); hooks.Before then runs once per group of writes that may run
// together, with the highest index the group covers.
func Run(ctx context.Context, h host.Host, ops []Op, hooks Hooks) (Result, error) {
	if b, ok := h.(host.VFBatcher); ok {
		return runBatched(ctx, h, b, ops, hooks)
	}
	var res Result
	fail := func(i int, err error, outcome host.Outcome) (Result, error) {
		done := ops[:i]
		if outcome == host.Unconfirmed {
			done = ops[:i+1]
			o := ops[i]
			res.Unconfirmed = &o
		}
		res.RolledBack = true
		res.Unrestored = Undo(context.WithoutCancel(ctx), h, done)
		return res, &FailedError{Op: ops[i], Err: err, Outcome: outcome, Unrestored: res.Unrestored}
	}
	tr := traceOf(ctx)
	for i, o := range ops {
		if hooks.Before != nil {
			if err := hooks.Before(i, o); err != nil {
				return fail(i, err, host.NotWritten)
			}
		}
		if err := ctx.Err(); err != nil {
			return fail(i, err, host.NotWritten)
		}
		if tr.Before != nil {
			tr.Before(i, len(ops), o)
		}
		err := Execute(ctx, h, o)
		if tr.After != nil {
			tr.After(i, len(ops), o, err)
		}
		if err != nil {
			return fail(i, err, host.OutcomeOf(err))
		}
		res.Writes++
		res.HostWrites++
		if hooks.After != nil {
			hooks.After(i, o)
		}
	}
	return res, nil
}

// Addressed returns ops with each one's PFAddress filled from the observed host st (PF names resolve
// there), so that execution names PFs by PCI address.
func Addressed(st *sriov.Host, ops []Op) []Op {
	out := make([]Op, len(ops))
	for i, o := range ops {
		if o.PFAddress == "" {
			if p := st.FindPF(o.PF); p != nil {
				o.PFAddress = p.PCIAddress
			}
		}
		out[i] = o
	}
	return out
}

// Undo reverts done operations newest first and returns descriptions of those it could not revert.
// A numvfs operation is reverted by restoring the VF count and then every destroyed VF's configuration.
func Undo(ctx context.Context, h host.Host, done []Op) []string {
	var inv []Op
	for i := len(done) - 1; i >= 0; i-- {
		inv = append(inv, UndoOps(done[i])...)
	}
	if b, ok := h.(host.VFBatcher); ok {
		return undoBatched(ctx, h, b, inv)
	}
	var failed []string
	for _, o := range inv {
		if err := Execute(ctx, h, o); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", o.Describe(), err))
		}
	}
	return failed
}

// UndoOps returns the operations that revert o.
func UndoOps(o Op) []Op {
	ops := undoOps(o)
	for i := range ops {
		ops[i].PFAddress = o.PFAddress
	}
	return ops
}

func undoOps(o Op) []Op {
	ops := []Op{o.Inverse()}
	if o.Kind == KindNumVFs && len(o.PriorVFs) > 0 && o.From.NumVFs > 0 {
		for _, vf := range o.PriorVFs {
			if vf.Driver != "" && vf.MAC != sriov.ZeroMAC && vf.MAC != "" {
				// Set the admin MAC while the VF is unbound: some drivers (igb) apply it to the VF's netdev
				// only when the VF driver binds, and the netdev had it before.
				ops = append(ops, Op{Kind: KindDriver, PF: o.PF, VF: vf.ID, From: Value{Driver: vf.Driver}, To: Value{}, Reason: "rollback"})
			}
			ops = append(ops, Restore(o.PF, vf, "rollback")...)
			// Recreated VFs bind to their default driver; binding is a no-op when that is the one, and a VF
			// that had no driver is unbound again.
			ops = append(ops, Op{Kind: KindDriver, PF: o.PF, VF: vf.ID, To: Value{Driver: vf.Driver}, Reason: "rollback"})
		}
	}
	return ops
}

// ReloadOps unbinds and rebinds the VF's driver so that its netdev takes the admin MAC (igb applies an
// admin MAC set while igbvf is bound only after such a reload). It is empty when the VF is not bound to
// vfDriver, its default netdev driver (vfio-pci VFs get the MAC when the VM starts).
func ReloadOps(pf string, vf sriov.VF, vfDriver string, reason string) []Op {
	if vfDriver == "" || vf.Driver != vfDriver {
		return nil
	}
	return []Op{
		{Kind: KindDriver, PF: pf, VF: vf.ID, From: Value{Driver: vf.Driver}, To: Value{}, Reason: reason},
		{Kind: KindDriver, PF: pf, VF: vf.ID, From: Value{}, To: Value{Driver: vf.Driver}, Reason: reason},
	}
}

// OwnMACWrite reports whether VF cur's netdev can take want's admin MAC by a write of its own address
// (NetdevMACOp) instead of a driver reload: the NIC's VF driver takes a trusted VF's own MAC
// (nicprofile trustedVfSetsOwnMac), the VF ends trusted, and its netdev is in this network namespace,
// or the VF is created by the same run (created: its driver binds as the VF appears, and its netdev's
// address is not known yet).
func OwnMACWrite(prof *nicprofile.Profile, cur sriov.VF, want sriov.VFConfig, created bool) bool {
	return prof.TrustedVFSetsOwnMAC && want.Trust && want.MAC != sriov.ZeroMAC && cur.Driver == prof.VFDriver &&
		(created || cur.Netdev != "" && cur.NetdevMAC != "")
}

// NetdevMACOp gives VF cur's netdev the address mac by a write of the netdev's own address, for NICs
// whose VF driver takes a trusted VF's own MAC as its admin MAC (nicprofile trustedVfSetsOwnMac): after
// the admin MAC and trust on are written, the netdev takes the MAC without a driver reload (and keeps its
// name, addresses and namespace). Its undo writes the old address back while the VF is still trusted,
// before the admin MAC and trust are undone. Nil when the netdev carries mac already. For a VF the same
// run creates, cur.NetdevMAC is empty: the undo then writes nothing (the VF goes with the VF count's undo).
func NetdevMACOp(pf string, cur sriov.VF, mac, reason string) []Op {
	if strings.EqualFold(cur.NetdevMAC, mac) {
		return nil
	}
	return []Op{{Kind: KindNetdevMAC, PF: pf, VF: cur.ID, From: Value{MAC: cur.NetdevMAC}, To: Value{MAC: mac}, Reason: reason}}
}

// ReloadAround puts attrs, the attribute writes that take VF cur to want, between an unbind and a bind of
// its netdev driver (nothing to wrap when cur is not bound to it): the netdev takes a new admin MAC as the
// driver binds (igb), and an undo, newest first, writes the old MAC back before it binds the driver
// again. On NICs that report the VF driver's own MAC after a bind (igb), a clear admin MAC is written
// again after the bind, and before the unbind for an undo.
func ReloadAround(pf string, prof *nicprofile.Profile, cur sriov.VF, want sriov.VFConfig, attrs []Op, reason string) []Op {
	r := ReloadOps(pf, cur, prof.VFDriver, reason)
	if len(r) != 2 {
		return attrs
	}
	lead, tail := []Op{r[0]}, []Op{r[1]}
	if prof.RebindReportsVFMAC {
		pin := KeepMACClear(pf, cur.ID, prof.Driver, prof.VFDriver, reason+": ")
		if cur.MAC == sriov.ZeroMAC {
			lead = append([]Op{pin}, lead...)
		}
		if want.MAC == sriov.ZeroMAC {
			tail = append(tail, pin)
		}
	}
	return slices.Concat(lead, attrs, tail)
}

// KeepMACClear writes 00:00:00:00:00:00 over a clear admin MAC. NICs that report the VF driver's own MAC
// as the admin MAC once it binds again (igb: nicprofile rebindReportsVfMac) need one after each such bind
// to a VF meant to have no admin MAC; placed before an unbind it does the same for an undo, which binds
// last. why says what the write belongs to.
func KeepMACClear(pf string, vf int, pfDriver, vfDriver, why string) Op {
	return Op{Kind: KindMAC, PF: pf, VF: vf, From: Value{MAC: sriov.ZeroMAC}, To: Value{MAC: sriov.ZeroMAC},
		Reason: fmt.Sprintf("%skeep the admin MAC clear: %s reports %s's own MAC after it binds", why, pfDriver, vfDriver)}
}

// Restore returns the operations that bring a freshly created VF (default configuration, default
// driver) back to the observed configuration vf. Attributes already at their defaults produce none.
func Restore(pf string, vf sriov.VF, reason string) []Op {
	fresh := sriov.VF{ID: vf.ID, VFConfig: sriov.DefaultVFConfig(), Driver: vf.Driver}
	return Diff(pf, fresh, vf.VFConfig, reason)
}

// Diff returns the operations that change VF cur's configuration to want, attribute group by group,
// with cur's values as their prior values. Only groups that differ produce an operation.
func Diff(pf string, cur sriov.VF, want sriov.VFConfig, reason string) []Op {
	c := cur.VFConfig
	var ops []Op
	add := func(k Kind, from, to Value) {
		ops = append(ops, Op{Kind: k, PF: pf, VF: cur.ID, From: from, To: to, Reason: reason})
	}
	if !strings.EqualFold(c.MAC, want.MAC) {
		add(KindMAC, Value{MAC: c.MAC}, Value{MAC: want.MAC})
	}
	if c.VLAN != want.VLAN || c.QoS != want.QoS || protoOf(c.VLANProto) != protoOf(want.VLANProto) {
		add(KindVLAN, Value{VLAN: c.VLAN, QoS: c.QoS, VLANProto: protoOf(c.VLANProto)},
			Value{VLAN: want.VLAN, QoS: want.QoS, VLANProto: protoOf(want.VLANProto)})
	}
	if c.SpoofCheck != want.SpoofCheck {
		add(KindSpoofCheck, Value{On: c.SpoofCheck}, Value{On: want.SpoofCheck})
	}
	if c.Trust != want.Trust {
		add(KindTrust, Value{On: c.Trust}, Value{On: want.Trust})
	}
	if c.LinkState != want.LinkState {
		add(KindLinkState, Value{LinkState: c.LinkState}, Value{LinkState: want.LinkState})
	}
	if c.MinTxRateMbps != want.MinTxRateMbps || c.MaxTxRateMbps != want.MaxTxRateMbps {
		add(KindRate, Value{MinMbps: c.MinTxRateMbps, MaxMbps: c.MaxTxRateMbps},
			Value{MinMbps: want.MinTxRateMbps, MaxMbps: want.MaxTxRateMbps})
	}
	if c.QueryRSS != want.QueryRSS {
		add(KindQueryRSS, Value{On: c.QueryRSS}, Value{On: want.QueryRSS})
	}
	return ops
}

func protoOf(p sriov.VLANProto) sriov.VLANProto {
	if p == "" {
		return sriov.VLANProto8021Q
	}
	return p
}

// IsRollbackFailure reports whether err says the host could not be fully restored.
func IsRollbackFailure(err error) bool {
	var fe *FailedError
	return errors.As(err, &fe) && len(fe.Unrestored) > 0
}

// Runner executes ops with rollback, as Run does. Feature packages (pool, mirror) take one so that their
// writes go through the caller's journal (package service); what names the command for the journal.
type Runner func(ctx context.Context, what string, ops []Op) (Result, error)

// Plain is the Runner without a journal: change.Run.
func Plain(h host.Host) Runner {
	return func(ctx context.Context, _ string, ops []Op) (Result, error) { return Run(ctx, h, ops, Hooks{}) }
}
