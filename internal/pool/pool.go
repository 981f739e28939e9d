// Package pool hands the VFs of a pool (defined in the policy file) to owners such as VMs and takes them
// back, with the ledger as the durable record of who holds what.
//
// The protocol, built so that a kill -9 at any point leaves each VF either assigned (with its owner's
// settings) or free (as it was before), never in between:
//
//   - assign: record the VF as "assigning" with its prior configuration and driver (fsync), write the
//     owner's settings and the pool's driver to the host (undoing them if one write fails), then record
//     "assigned" (fsync) and only then report the VF.
//   - release: record "releasing" (fsync), write the prior configuration and driver back, then delete
//     the record (fsync).
//   - repair, run first by every command that writes (package service, after the journal's recovery has
//     undone the dead command's host writes): a record still "assigning" or "releasing" belongs to a
//     command that died; its VF gets its prior state back and the record is deleted. Either way the owner
//     was never told of success (assign) or had already given the VF up (release).
//
// Host writes go through Manager.Run, the service's journaled runner, so a kill between two writes is
// undone from the journal before Repair looks at the records.
//
// All of it runs inside one ledger session, which excludes every other sriovctl process working on the
// ledger, so host writes of two commands never interleave.
package pool

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Manager works on one host through one open ledger session.
type Manager struct {
	Host   host.Host
	Ledger *ledger.Ledger
	// Now and NewLease default to time.Now and ledger.NewLease; tests replace them.
	Now      func() time.Time
	NewLease func() string
	// Run executes host writes with rollback; nil means change.Run. A crash mid-write needs no journal:
	// the record committed before the writes (assigning, releasing) holds the VF's prior configuration
	// and driver, and Repair restores them. The service passes apply.ExecRecorded, which also reports an
	// undo that left the VF different from before as a rollback failure, so that its record is kept.
	// what is "assign", "release" or RunReapply. observed is the host as the ops were planned from, under
	// the caller's lock, or nil: the runner then observes it itself (a second observation of a 256-VF PF
	// is a large part of an assign's cost).
	Run func(ctx context.Context, what string, observed *sriov.Host, ops []change.Op) (change.Result, error)
}

// RunReapply is what Run is told when it re-applies an existing assignment's settings (reassert): there
// is no record to repair from, and asking again cures a half-done re-apply.
const RunReapply = "re-apply"

func (m *Manager) run(ctx context.Context, what string, observed *sriov.Host, ops []change.Op) error {
	if m.Run == nil {
		_, err := change.Run(ctx, m.Host, ops, change.Hooks{})
		return err
	}
	_, err := m.Run(ctx, what, observed, ops)
	return err
}

// Request asks for a VF of Pool for Owner, with Settings applied on top of the VF's current configuration.
type Request struct {
	Pool     policy.Pool
	Owner    string
	Settings sriov.VFSettings
}

// ExhaustedError says every VF of a pool is in use.
type ExhaustedError struct {
	Pool        string
	Used, Total int
	// Missing lists the pool's VFs that the PF does not have now (numVfs too low): neither used nor free.
	Missing []int
}

func (e *ExhaustedError) Error() string {
	msg := fmt.Sprintf("pool %s exhausted (%d/%d in use)", e.Pool, e.Used, e.Total)
	if len(e.Missing) > 0 {
		msg += fmt.Sprintf("; VFs %s of the pool do not exist on the PF now (numVfs too low)", policy.FormatIDs(e.Missing))
	}
	return msg
}

// ConflictError says the owner already holds a VF of the pool, assigned with other settings.
type ConflictError struct{ Held ledger.Record }

func (e *ConflictError) Error() string {
	r := e.Held
	return fmt.Sprintf("owner %s already holds %s vf %d of pool %s with other settings; release it first (sriovctl release --owner %s)",
		r.Owner, r.PF, r.VF, r.Pool, r.Owner)
}

// PFError says a pool's PF is not on the host.
type PFError struct {
	Pool, PF, Have string
}

func (e *PFError) Error() string {
	return fmt.Sprintf("pool %s: PF %s is not on this host (PFs: %s)", e.Pool, e.PF, e.Have)
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) lease() string {
	if m.NewLease != nil {
		return m.NewLease()
	}
	return ledger.NewLease()
}

// Repair finishes what dead commands left: every record not "assigned" gets its VF restored to the prior
// state and is deleted. It returns the records it repaired; records it could not repair stay (their VFs
// stay taken) and are reported in the error.
func (m *Manager) Repair(ctx context.Context) ([]ledger.Record, error) {
	pending, err := m.Ledger.Pending()
	if err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		return nil, nil
	}
	st, err := observeFor(ctx, m.Host, pending)
	if err != nil {
		return nil, err
	}
	var done []ledger.Record
	var errs []error
	for _, r := range pending {
		if err := m.restore(ctx, st, r, len(pending) == 1); err != nil {
			errs = append(errs, fmt.Errorf("repair %s of %s vf %d (owner %s, %s): %w", r.State, r.PF, r.VF, r.Owner, r.Pool, err))
			continue
		}
		if err := m.Ledger.Delete(r); err != nil {
			return done, err
		}
		done = append(done, r)
	}
	return done, errors.Join(errs...)
}

// Assignment is what Assign handed out.
type Assignment struct {
	ledger.Record
	// Existing says the owner already held the VF and asked again with the same settings.
	Existing bool `json:"-"`
	// Reapplied names what had drifted on the host since (an existing assignment) and was set again.
	Reapplied []string `json:"-"`
}

// Assign hands a free VF of the pool to the owner. An owner asking again with the same settings gets the
// VF it holds; if the VF's settings or driver drifted on the host since, they are set again.
func (m *Manager) Assign(ctx context.Context, req Request) (Assignment, error) {
	pl := req.Pool
	st, err := host.ObserveOne(ctx, m.Host, pl.PF)
	if err != nil {
		return Assignment{}, err
	}
	pf := st.FindPF(pl.PF)
	if pf == nil {
		return Assignment{}, &PFError{Pool: pl.Name, PF: pl.PF, Have: st.PFNames()}
	}
	prof := nicprofile.ForDriver(pf.Driver)
	var ops []change.Op
	var rec ledger.Record
	existing := false
	err = m.Ledger.Update(func(t *ledger.Tx) error {
		owned, err := t.Owned(pl.Name, req.Owner)
		if err != nil {
			return err
		}
		if len(owned) > 0 {
			r := owned[0]
			if r.State != ledger.StateAssigned {
				return fmt.Errorf("owner %s: its earlier assignment of %s vf %d is stuck %s (an interrupted command could not be repaired); fix the host, then release it", r.Owner, r.PF, r.VF, r.State)
			}
			if !reflect.DeepEqual(r.Settings, req.Settings) {
				return &ConflictError{Held: r}
			}
			rec, existing = r, true
			return nil
		}
		used, err := t.UsedVFs(pf.PCIAddress)
		if err != nil {
			return err
		}
		inUse := 0
		var pick *sriov.VF
		var missing []int
		for _, id := range pl.VFIDs {
			switch vf := pf.VF(id); {
			case used[id]:
				inUse++
			case vf == nil:
				missing = append(missing, id)
			case pick == nil:
				pick = vf
			}
		}
		if pick == nil {
			return &ExhaustedError{Pool: pl.Name, Used: inUse, Total: len(pl.VFIDs), Missing: missing}
		}
		want := req.Settings.ApplyTo(pick.VFConfig)
		if q := req.Settings.QoS; q != nil && *q != 0 && want.VLAN == 0 {
			// ApplyTo drops the priority of a flat VF; an explicit request for one is an error.
			return &sriov.FieldError{Field: "qos", Value: fmt.Sprint(*q), Allowed: "a QoS priority needs a VLAN (vlan 1-4094)"}
		}
		if err := want.Validate(); err != nil {
			return err
		}
		if err := prof.CheckChange(pf.Name, pick.ID, pick.VFConfig, want); err != nil {
			return err
		}
		driver := pick.Driver
		if pl.Driver != "" {
			driver = pl.Driver
		}
		rec = ledger.Record{
			Pool: pl.Name, PF: pf.Name, PFAddress: pf.PCIAddress, VF: pick.ID, PCIAddress: pick.PCIAddress,
			Owner: req.Owner, Lease: m.lease(), State: ledger.StateAssigning, Since: m.now().UTC(),
			Settings: req.Settings, Config: want, Driver: driver, Prior: pick.VFConfig, PriorDriver: pick.Driver,
		}
		ops = ConvergeOps(pf.Name, prof, *pick, want, driver, "assign to "+req.Owner)
		return t.Put(rec)
	})
	switch {
	case err != nil:
		return Assignment{}, err
	case existing && st.FindPF(rec.PFAddress) == nil:
		// The owner's VF is on another PF than the pool's now (the pool was moved): look at the host.
		if st, err = m.Host.Observe(ctx); err != nil {
			return Assignment{}, err
		}
		return m.reassert(ctx, st, rec, true)
	case existing:
		return m.reassert(ctx, st, rec, true)
	}
	if err := m.run(ctx, "assign", st, ops); err != nil {
		if !change.IsRollbackFailure(err) {
			// The host is as it was: the VF is free again.
			if derr := m.Ledger.Delete(rec); derr != nil {
				return Assignment{}, errors.Join(err, derr)
			}
		}
		// Otherwise the record stays "assigning": the VF stays out of use and the next command's repair
		// restores what the rollback could not.
		return Assignment{}, err
	}
	rec.State = ledger.StateAssigned
	if err := m.Ledger.Put(rec); err != nil {
		return Assignment{}, err
	}
	return Assignment{Record: rec}, nil
}

// reassert gives an existing assignment's VF its owner's settings and driver again if they drifted (a
// PF reset, someone's `vf set`). Each write is idempotent, so a crash half-way is cured by asking again.
// fresh says st is still the host as it is (nothing written since it was observed).
func (m *Manager) reassert(ctx context.Context, st *sriov.Host, rec ledger.Record, fresh bool) (Assignment, error) {
	pf, cur, err := find(st, rec)
	if err != nil {
		return Assignment{}, err
	}
	drift := Drift(*cur, rec)
	if len(drift) > 0 {
		ops := ConvergeOps(pf.Name, nicprofile.ForDriver(pf.Driver), *cur, ownerConfig(*cur, rec), rec.Driver, "re-apply for "+rec.Owner)
		if err := m.run(ctx, RunReapply, ifFresh(st, fresh), ops); err != nil {
			return Assignment{}, fmt.Errorf("re-apply the settings of %s vf %d for %s: %w", pf.Name, rec.VF, rec.Owner, err)
		}
	}
	return Assignment{Record: rec, Existing: true, Reapplied: drift}, nil
}

// Reassert gives every assigned VF that is on the host its owner's settings and driver again where they
// drifted (restore after a reboot or PF reset recreated it with defaults). It returns the assignments it
// wrote; a VF that is missing is left for a later restore.
func (m *Manager) Reassert(ctx context.Context) ([]Assignment, error) {
	all, err := m.Ledger.All()
	if err != nil || len(all) == 0 {
		return nil, err
	}
	st, err := m.Host.Observe(ctx)
	if err != nil {
		return nil, err
	}
	var out []Assignment
	var errs []error
	for _, r := range all {
		if r.State != ledger.StateAssigned {
			continue
		}
		if _, cur, err := find(st, r); err != nil || len(Drift(*cur, r)) == 0 {
			continue
		}
		a, err := m.reassert(ctx, st, r, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// MissingError says an assigned VF is not on the host now.
type MissingError struct{ Held ledger.Record }

func (e *MissingError) Error() string {
	r := e.Held
	return fmt.Sprintf("owner %s holds %s vf %d (pool %s), but the host has no such VF now (reboot or PF reset?): run `sriovctl restore`, or release it", r.Owner, r.PF, r.VF, r.Pool)
}

func find(st *sriov.Host, r ledger.Record) (*sriov.PF, *sriov.VF, error) {
	if pf := st.FindPF(r.PFAddress); pf != nil {
		if v := pf.VF(r.VF); v != nil {
			return pf, v, nil
		}
	}
	return nil, nil, &MissingError{Held: r}
}

// Drift names what of an assigned VF differs on the host from what its owner was given ("vlan (0 qos 0
// -> 100 qos 0)": host value -> owner's value). Empty when the VF is as assigned.
func Drift(cur sriov.VF, r ledger.Record) []string {
	return changed(cur.VFConfig, ownerConfig(cur, r), cur.Driver, r.Driver)
}

// ownerConfig is the configuration an assigned VF should have now: what its owner was given, except an
// admin MAC when the owner asked for none and the VF was handed out without one. Whoever uses such a VF
// picks its MAC (libvirt sets one when the VM starts, as LibvirtInterface says); that is no drift, and
// setting 00:00:00:00:00:00 again would take the MAC from under the running VM.
func ownerConfig(cur sriov.VF, r ledger.Record) sriov.VFConfig {
	c := r.Config
	if r.Settings.MAC == nil && c.MAC == sriov.ZeroMAC {
		c.MAC = cur.MAC
	}
	return c
}

// Held is one ledger record with what the host shows for its VF now.
type Held struct {
	ledger.Record
	// Host is "ok", "missing" (no such VF now) or "drift: ..." (what differs from the owner's settings).
	Host string `json:"host"`
}

// Drifted says the VF exists with other settings or driver than its owner's (restore puts them back).
func (h Held) Drifted() bool { return strings.HasPrefix(h.Host, "drift") }

// HeldOn pairs each record with the state of its VF on observed host st, sorted by owner.
func HeldOn(st *sriov.Host, all []ledger.Record) []Held {
	all = slices.Clone(all)
	ledger.SortByOwner(all)
	out := make([]Held, 0, len(all))
	for _, r := range all {
		h := Held{Record: r, Host: "ok"}
		if _, cur, err := find(st, r); err != nil {
			h.Host = "missing"
		} else if d := Drift(*cur, r); len(d) > 0 {
			h.Host = "drift: " + strings.Join(d, ", ")
		}
		out = append(out, h)
	}
	return out
}

// Selector names what to release: every VF of Owner (in Pool, if set), or the VF holding Lease.
type Selector struct {
	Owner, Lease, Pool string
}

func (s Selector) matches(r ledger.Record) bool {
	if s.Lease != "" {
		return r.Lease == s.Lease
	}
	return r.Owner == s.Owner && (s.Pool == "" || r.Pool == s.Pool)
}

// Release gives the selected VFs their prior configuration and driver back and frees them. It returns
// the records it released; none when nothing matches (a lease released already, or one that a later
// assignment replaced: such a release touches nothing).
func (m *Manager) Release(ctx context.Context, sel Selector) ([]ledger.Record, error) {
	all, err := m.Ledger.All()
	if err != nil {
		return nil, err
	}
	var targets []ledger.Record
	for _, r := range all {
		if sel.matches(r) {
			targets = append(targets, r)
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	st, err := observeFor(ctx, m.Host, targets)
	if err != nil {
		return nil, err
	}
	var done []ledger.Record
	for _, r := range targets {
		was := r.State
		r.State = ledger.StateReleasing
		if err := m.Ledger.Put(r); err != nil {
			return done, err
		}
		if err := m.restore(ctx, st, r, len(targets) == 1); err != nil {
			if !change.IsRollbackFailure(err) {
				// The VF is back as it was before this release: still assigned or, for an assignment that
				// never completed (stuck "assigning"), still for the next repair to finish.
				r.State = was
				if perr := m.Ledger.Put(r); perr != nil {
					return done, errors.Join(err, perr)
				}
			}
			return done, fmt.Errorf("release %s vf %d (owner %s): %w", r.PF, r.VF, r.Owner, err)
		}
		if err := m.Ledger.Delete(r); err != nil {
			return done, err
		}
		done = append(done, r)
	}
	return done, nil
}

// restore writes r's prior configuration and driver back to its VF. A VF that no longer exists (the PF
// was reset or resized) has nothing to restore.
// fresh says st is still the host as it is (nothing written since it was observed).
func (m *Manager) restore(ctx context.Context, st *sriov.Host, r ledger.Record, fresh bool) error {
	pf, cur, err := find(st, r)
	if err != nil {
		return nil // no such VF: nothing to restore
	}
	ops := ConvergeOps(pf.Name, nicprofile.ForDriver(pf.Driver), *cur, r.Prior, r.PriorDriver, "release from "+r.Owner)
	return m.run(ctx, "release", ifFresh(st, fresh), ops)
}

// ifFresh is st when it is still the host as it is (fresh), else nil: the runner then observes it.
func ifFresh(st *sriov.Host, fresh bool) *sriov.Host {
	if fresh {
		return st
	}
	return nil
}

// ConvergeOps returns the host writes that take VF cur to configuration want bound to driver, ordered as
// the planner orders them: a VF leaving its netdev driver leaves it before the attribute writes, a VF
// coming to it comes after them, and a VF that stays on a netdev driver which applies an admin MAC only at
// probe time (igb) is unbound before a MAC change and bound again after it. The MAC is thus always
// written while that driver is not bound, forwards and in the reverse order of an undo, so a rollback
// leaves the netdev with its old MAC.
func ConvergeOps(pf string, prof *nicprofile.Profile, cur sriov.VF, want sriov.VFConfig, driver, reason string) []change.Op {
	attrs := change.Diff(pf, cur, want, reason)
	macChanged := slices.ContainsFunc(attrs, func(o change.Op) bool { return o.Kind == change.KindMAC })
	pinned := prof.RebindReportsVFMAC && prof.VFDriver != ""
	// igb (observed, as in the planner): binding igbvf to a VF without an admin MAC makes the PF report
	// igbvf's own MAC as the VF's admin MAC; a write of 00:00:00:00:00:00 after the bind clears it again,
	// and one before leaving igbvf does the same for an undo, which binds igbvf last.
	pin := change.KeepMACClear(pf, cur.ID, prof.Driver, prof.VFDriver, reason+": ")
	var lead, tail []change.Op
	leaving := cur.Driver != "" && cur.Driver == prof.VFDriver
	switch {
	case driver != cur.Driver:
		bind := change.Op{Kind: change.KindDriver, PF: pf, VF: cur.ID,
			From: change.Value{Driver: cur.Driver}, To: change.Value{Driver: driver}, Reason: reason}
		if leaving {
			lead = append(lead, bind)
		} else {
			tail = append(tail, bind)
		}
	case macChanged && prof.MACNeedsVFReload && change.OwnMACWrite(prof, cur, want, false):
		return append(attrs, change.NetdevMACOp(pf, cur, want.MAC, reason)...)
	case macChanged && prof.MACNeedsVFReload:
		return change.ReloadAround(pf, prof, cur, want, attrs, reason)
	}
	if pinned && len(lead) > 0 && leaving && cur.MAC == sriov.ZeroMAC {
		lead = append([]change.Op{pin}, lead...)
	}
	if pinned && len(tail) > 0 && tail[len(tail)-1].To.Driver == prof.VFDriver && want.MAC == sriov.ZeroMAC {
		tail = append(tail, pin)
	}
	return slices.Concat(lead, attrs, tail)
}

// Status is one pool's use.
type Status struct {
	Name   string `json:"name"`
	PF     string `json:"pf"`
	IDs    string `json:"ids"`
	Driver string `json:"driver,omitempty"`
	Total  int    `json:"total"`
	Used   int    `json:"used"`
	Free   int    `json:"free"`
	// Missing lists the pool's VFs that the PF does not have now (numVfs too low, PF absent).
	Missing []int `json:"missing,omitempty"`
	// Owners maps each used VF id to its owner.
	Owners []Holder `json:"owners"`
}

// Holder is one used VF of a pool.
type Holder struct {
	VF    int    `json:"vf"`
	Owner string `json:"owner"`
}

// StatusesOn reports the use of each pool on observed host st with the ledger's records all. A VF counts
// as used when the ledger has a record for it, whoever assigned it; free when it exists on the host and
// has no record.
func StatusesOn(st *sriov.Host, all []ledger.Record, pools []policy.Pool) []Status {
	out := make([]Status, 0, len(pools))
	for _, pl := range pools {
		s := Status{Name: pl.Name, PF: pl.PF, IDs: policy.FormatIDs(pl.VFIDs), Driver: pl.Driver, Total: len(pl.VFIDs), Owners: []Holder{}}
		pf := st.FindPF(pl.PF)
		owners := map[int]string{}
		if pf != nil {
			for _, r := range all {
				if r.PFAddress == pf.PCIAddress {
					owners[r.VF] = r.Owner
				}
			}
		}
		for _, id := range pl.VFIDs {
			switch {
			case owners[id] != "":
				s.Used++
				s.Owners = append(s.Owners, Holder{VF: id, Owner: owners[id]})
			case pf == nil || pf.VF(id) == nil:
				s.Missing = append(s.Missing, id)
			default:
				s.Free++
			}
		}
		out = append(out, s)
	}
	return out
}

// ValidateOwner checks an owner id: a VM name, UUID or similar, 1-128 characters.
func ValidateOwner(field, s string) error {
	if !sriov.IsName(s, 128, "_.:@/-") {
		return &sriov.FieldError{Field: field, Value: s, Allowed: "want 1-128 letters, digits, '.', '_', ':', '@', '/' or '-', starting with a letter or digit (a VM name or UUID)"}
	}
	return nil
}

// observeFor observes the one PF that holds every record of recs alone where the host can, else the
// whole host.
func observeFor(ctx context.Context, h host.Host, recs []ledger.Record) (*sriov.Host, error) {
	for _, r := range recs[1:] {
		if r.PFAddress != recs[0].PFAddress {
			return h.Observe(ctx)
		}
	}
	return host.ObserveOne(ctx, h, recs[0].PFAddress)
}
