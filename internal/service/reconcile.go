package service

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Reconciling is what the node agent does: compare the host with a desired state that need not be the
// stored one (the fleet mode's comes from Kubernetes) and bring the host back to it by the same path as
// Restore: the policy's PFs present on the host, then every assigned VF's owner settings.

// DriftResult is the host's drift from a desired state, as Reconcile would see it.
type DriftResult struct {
	Host *sriov.Host `json:"-"`
	// Plan is what bringing the PFs present on the host to the policy would write (nil: no policy).
	Plan *plan.Plan `json:"plan,omitempty"`
	// Missing lists the policy's PFs the host lacks: nothing can be repaired there.
	Missing []string `json:"missing,omitempty"`
	// Assignments are the ledger's records with what the host shows for each VF ("drift: ..." is
	// repaired after the plan, with the owner's settings).
	Assignments []pool.Held `json:"assignments"`
	// Mirrors are the recorded groups and the policy's, with their health on the host.
	Mirrors []mirror.Group `json:"mirrors"`
	// Pending is what killed commands left, which a writer recovers first.
	Pending *Pending `json:"pending,omitempty"`
}

// InSync reports whether a reconcile would write nothing: the plan is empty and every assigned VF that
// exists has its owner's settings. (An assigned VF that does not exist is "missing": only a plan that
// creates it again can help, and then the plan is not empty.)
func (d *DriftResult) InSync() bool {
	if d.Plan != nil && (len(d.Plan.Ops) > 0 || len(d.Plan.Problems) > 0) {
		return false
	}
	for _, h := range d.Assignments {
		if h.Drifted() {
			return false
		}
	}
	return true
}

// Drift observes the host and plans from it to pol (nil: no desired state; only owners' settings
// count), read-only: no lock, no recovery, nothing written. What killed commands left is in Pending.
func (s *Service) Drift(ctx context.Context, pol *policy.Policy) (*DriftResult, error) {
	pending, err := s.pending(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.driftOn(ctx, st, pol)
	if err != nil {
		return nil, err
	}
	if pending.Any() {
		d.Pending = pending
	}
	return d, nil
}

// driftOn plans pol's PFs present on st, and pairs the ledger's records and the mirror groups with st.
func (s *Service) driftOn(ctx context.Context, st *sriov.Host, pol *policy.Policy) (*DriftResult, error) {
	d := &DriftResult{Host: st}
	groups, err := s.mirrorGroups()
	if err != nil {
		return nil, err
	}
	recs, err := s.ledgerRecords(ctx)
	if err != nil {
		return nil, err
	}
	if pol != nil {
		var here *policy.Policy
		here, d.Missing = present(st, pol)
		if d.Plan, err = s.build(ctx, st, withoutAssigned(here, st, recs), false); err != nil {
			return nil, err
		}
		groups = append(groups, policyGroups(pol)...)
	}
	d.Assignments = pool.HeldOn(st, recs)
	d.Mirrors = []mirror.Group{}
	for _, g := range groups {
		g.Health = mirror.Health(st, g)
		d.Mirrors = append(d.Mirrors, g)
	}
	return d, nil
}

// ReconcileRequest is one repair.
type ReconcileRequest struct {
	// What names the writer in the journal and messages (default "repair").
	What string
	// Load returns the desired policy (nil: none; then only owners' settings are repaired). It is called
	// once the one-writer lock is held, because a command that held the lock may just have stored a new
	// desired state.
	Load func(ctx context.Context) (*policy.Policy, error)
	// Confirm decides a disruptive plan (one that destroys VFs); its error stops the repair with nothing
	// written. Nil refuses every disruptive plan with a *UsageError.
	Confirm func(p *plan.Plan) error
}

// ReconcileResult is what Reconcile saw and did.
type ReconcileResult struct {
	ApplyResult
	// Drift is the observation made under the lock, before any write: what the repair acted on.
	Drift *DriftResult `json:"-"`
}

// Reconcile brings the host to the desired state req.Load gives, as Restore does for the stored one:
// lock, recover what killed commands left, plan the policy's PFs present on the host (the pools' and
// mirror groups' checks included), execute journaled with rollback, then give every assigned VF its
// owner's settings and driver. The stored desired state is not touched. PFs of the policy the host lacks
// are reported in Missing, not as an error.
func (s *Service) Reconcile(ctx context.Context, req ReconcileRequest) (*ReconcileResult, error) {
	what := req.What
	if what == "" {
		what = "repair"
	}
	ss, err := s.begin(ctx, what, false)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	res := &ReconcileResult{}
	if !ss.recovered.Empty() {
		res.Recovered = ss.recovered
	}
	var pol *policy.Policy
	if req.Load != nil {
		if pol, err = req.Load(ctx); err != nil {
			return res, fmt.Errorf("%s: load the desired state: %w", what, err)
		}
	}
	res.Drift, err = s.reconcileLocked(ctx, pol, ApplyRequest{What: what, Confirm: req.Confirm, KeepDesired: true}, &res.ApplyResult)
	return res, err
}

// reconcileLocked is Restore's and Reconcile's work under the lock: pol's PFs present on the host, then
// the owners' settings. It returns the drift observed before writing.
func (s *Service) reconcileLocked(ctx context.Context, pol *policy.Policy, req ApplyRequest, res *ApplyResult) (*DriftResult, error) {
	st, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	drift, err := s.driftOn(ctx, st, pol)
	if err != nil {
		return nil, err
	}
	res.Missing = drift.Missing
	if pol != nil {
		recs, err := s.ledgerRecords(ctx)
		if err != nil {
			return drift, err
		}
		here, _ := present(st, pol)
		req.Policy = withoutAssigned(here, st, recs)
		if err := s.applyLocked(ctx, req.What, req, st, res); err != nil {
			return drift, err
		}
	}
	if exists(filepath.Join(s.dir, ledger.DBFile)) {
		l, err := ledger.Open(ctx, s.dir)
		if err != nil {
			return drift, fmt.Errorf("%s: %w", req.What, err)
		}
		defer l.Close()
		again, err := s.manager(l).Reassert(ctx)
		res.Reasserted = again
		if err != nil {
			return drift, fmt.Errorf("%s: assigned VFs: %w", req.What, err)
		}
	}
	return drift, nil
}

// withoutAssigned returns pol without the VFs the ledger holds in its pfs entries: the desired settings
// of an assigned VF are its owner's (put back after the plan), not the stored policy's. An explicit apply
// does not use it: changing an assigned VF is refused there unless forced.
func withoutAssigned(pol *policy.Policy, st *sriov.Host, recs []ledger.Record) *policy.Policy {
	held := map[string][]int{}
	for _, r := range recs {
		held[r.PFAddress] = append(held[r.PFAddress], r.VF)
	}
	if len(held) == 0 {
		return pol
	}
	cp := *pol
	cp.PFs = slices.Clone(pol.PFs)
	for i, pp := range cp.PFs {
		pf := st.FindPF(pp.Ref())
		if pf == nil || len(held[pf.PCIAddress]) == 0 {
			continue
		}
		cp.PFs[i].VFs = slices.Clone(pp.VFs)
		for j, g := range cp.PFs[i].VFs {
			cp.PFs[i].VFs[j].VFIDs = slices.DeleteFunc(slices.Clone(g.VFIDs), func(id int) bool { return slices.Contains(held[pf.PCIAddress], id) })
		}
	}
	return &cp
}
