package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// ProblemsError says a plan has problems, so nothing was changed. InvalidInput (the policy does not fit
// the host) is exit 2; a NIC or another feature refusing is exit 1.
type ProblemsError struct {
	What string
	Plan *plan.Plan
}

func (e *ProblemsError) Error() string {
	n := fmt.Sprintf("%d problems, first", len(e.Plan.Problems))
	if len(e.Plan.Problems) == 1 {
		n = "1 problem"
	}
	return fmt.Sprintf("%s: %s: %s; nothing was changed", e.What, n, e.Plan.Problems[0])
}

// InvalidInput reports whether a problem is an input error.
func (e *ProblemsError) InvalidInput() bool { return e.Plan.InvalidInput() }

func problems(what string, p *plan.Plan) error {
	if len(p.Problems) == 0 {
		return nil
	}
	return &ProblemsError{What: what, Plan: p}
}

// build plans pol on st with the contributors of pools and mirror groups.
func (s *Service) build(ctx context.Context, st *sriov.Host, pol *policy.Policy, force bool) (*plan.Plan, error) {
	contribs, err := s.contributors(ctx)
	if err != nil {
		return nil, err
	}
	return plan.Build(st, pol, plan.Options{Force: force, Contributors: contribs}), nil
}

// PlanResult is a plan with what a writer would recover first.
type PlanResult struct {
	Plan    *plan.Plan `json:"plan"`
	Pending *Pending   `json:"pending,omitempty"`
	// Host is the host as observed for the plan, so that callers need not observe it again.
	Host *sriov.Host `json:"-"`
}

// Plan plans pol on the host as it is, read-only: no lock, no recovery, nothing written. A pending
// recovery is reported in the result. A plan with problems returns a *ProblemsError too.
func (s *Service) Plan(ctx context.Context, pol *policy.Policy, force bool) (*PlanResult, error) {
	pending, err := s.pending(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.build(ctx, st, pol, force)
	if err != nil {
		return nil, err
	}
	res := &PlanResult{Plan: p, Host: st}
	if pending.Any() {
		res.Pending = pending
	}
	return res, problems("plan", p)
}

// ApplyRequest is an apply (or a restore) of a policy.
type ApplyRequest struct {
	// What is "apply" or "restore", for messages and the journal.
	What string
	// Data is the policy file as given, stored as the desired state on success; Policy is it parsed.
	Data   []byte
	Policy *policy.Policy
	// Force lets contributors accept what they refuse (assigned VFs, mirror groups).
	Force bool
	// DryRun plans and checks only.
	DryRun bool
	// Prune replaces the whole stored desired state with this policy; without it the stored state keeps
	// the PFs, pools and mirror groups this policy does not name (see MergeDesired).
	Prune bool
	// Confirm, when set, is asked before a disruptive plan runs; its error stops the apply unchanged.
	// Without it a disruptive plan is refused unless Yes.
	Confirm func(p *plan.Plan) error
	Yes     bool
	// WaitPFs (restore) is how long to wait for PFs of the desired state to appear (boot: udev, drivers).
	WaitPFs time.Duration
	// KeepDesired leaves the stored desired state as it is (a repair: Reconcile).
	KeepDesired bool
}

// ApplyResult is what Apply did.
type ApplyResult struct {
	Plan *plan.Plan `json:"plan"`
	// Host is the host as observed for the plan (before any write), so that callers need not observe
	// it again.
	Host       *sriov.Host `json:"-"`
	Recovered  *Recovered  `json:"recovered,omitempty"`
	Writes     int         `json:"writes"`
	HostWrites int         `json:"hostWrites"` // the host writes that carried Writes (host.VFBatcher)
	RolledBack bool        `json:"rolledBack,omitempty"`
	Unrestored []string    `json:"unrestored,omitempty"`
	// Pending is, for a dry run, what a real apply would recover first.
	Pending *Pending `json:"pending,omitempty"`
	// Missing (restore) lists the desired state's PFs the host lacks; Reasserted the assigned VFs whose
	// owner's settings were written again.
	Missing    []string          `json:"missing,omitempty"`
	Reasserted []pool.Assignment `json:"reasserted,omitempty"`
}

// Apply brings the host to a policy: lock, recover, plan, confirm, execute journaled with rollback,
// store the desired state. A dry run is a read (no lock, nothing written).
func (s *Service) Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	what := req.What
	if what == "" {
		what = "apply"
	}
	if emptyPolicy(req.Policy) {
		return nil, &UsageError{What: what, Msg: "the policy names no PF, pool or mirror group; refusing to store an empty desired state"}
	}
	if req.DryRun {
		pr, err := s.Plan(ctx, req.Policy, req.Force)
		if pr == nil {
			return nil, err
		}
		return &ApplyResult{Plan: pr.Plan, Pending: pr.Pending, Host: pr.Host}, err
	}
	ss, err := s.begin(ctx, what, false)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	res := &ApplyResult{}
	if !ss.recovered.Empty() {
		res.Recovered = ss.recovered
	}
	return res, s.applyLocked(ctx, what, req, nil, res)
}

// applyLocked plans and executes req on st, the host as the caller observed it under the lock (nil:
// observe it here); the caller holds the lock.
func (s *Service) applyLocked(ctx context.Context, what string, req ApplyRequest, st *sriov.Host, res *ApplyResult) error {
	if st == nil {
		var err error
		if st, err = s.observe(ctx); err != nil {
			return err
		}
	}
	p, err := s.build(ctx, st, req.Policy, req.Force)
	if err != nil {
		return err
	}
	res.Plan, res.Host = p, st
	if err := problems(what, p); err != nil {
		return err
	}
	if p.Disruptive() > 0 && !req.Yes {
		if req.Confirm == nil {
			return &UsageError{What: what, Msg: fmt.Sprintf("the plan is disruptive (%s): it destroys VFs; rerun with --yes to apply it", p.Summary())}
		}
		if err := req.Confirm(p); err != nil {
			return err
		}
	}
	data := req.Data
	if req.KeepDesired {
		data = nil
	} else if what != "restore" {
		_, stored, err := s.storedPolicy()
		if err != nil && !req.Prune {
			return fmt.Errorf("%s: %w (apply --prune replaces it)", what, err)
		}
		if data, err = EncodePolicy(MergeDesired(st, stored, req.Policy, req.Prune)); err != nil {
			return err
		}
	}
	r, err := apply.Exec(ctx, s.host, st, p.Ops, data, s.dir, what)
	res.Writes, res.HostWrites, res.RolledBack, res.Unrestored = r.Writes, r.HostWrites, r.RolledBack, r.Unrestored
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// MissingPFsError says restore found PFs of the desired state missing from the host (after waiting for
// them): it restored every PF present and reports these (exit 1).
type MissingPFsError struct{ PFs []string }

func (e *MissingPFsError) Error() string {
	return fmt.Sprintf("restore: PFs of the desired state are not on this host: %s; every PF present was restored (wait longer with --wait-pfs, or `sriovctl forget pf PF`)", strings.Join(e.PFs, ", "))
}

// present splits pol into what the host st has (PF entries, and pools and mirror groups on those PFs)
// and the refs of the PFs it lacks.
func present(st *sriov.Host, pol *policy.Policy) (*policy.Policy, []string) {
	out := &policy.Policy{PFs: []policy.PF{}}
	var missing []string
	miss := func(ref string) bool {
		if st.FindPF(ref) != nil {
			return false
		}
		if !slices.Contains(missing, ref) {
			missing = append(missing, ref)
		}
		return true
	}
	for _, pp := range pol.PFs {
		if !miss(pp.Ref()) {
			out.PFs = append(out.PFs, pp)
		}
	}
	for _, pl := range pol.Pools {
		if !miss(pl.PF) {
			out.Pools = append(out.Pools, pl)
		}
	}
	for _, m := range pol.Mirrors {
		if !miss(m.PF) {
			out.Mirrors = append(out.Mirrors, m)
		}
	}
	return out, missing
}

// waitPFs observes the host until every PF pol names is there, at most wait (or until ctx ends).
func (s *Service) waitPFs(ctx context.Context, pol *policy.Policy, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		st, err := s.observe(ctx)
		if err != nil {
			return err
		}
		if _, missing := present(st, pol); len(missing) == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Restore re-applies the stored desired state, as Apply does, to every PF of it that the host has (after
// waiting up to req.WaitPFs for missing ones to appear), then gives every assigned VF its owner's settings
// and driver again (a reboot or PF reset recreated it with defaults), so that status and assignments
// agree. PFs still missing are reported with a *MissingPFsError once the rest is restored.
func (s *Service) Restore(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	d, pol, err := s.storedPolicy()
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if d == nil {
		return nil, &UsageError{What: "restore", Msg: fmt.Sprintf("no desired state in %s: apply a policy first (sriovctl apply -f FILE)", s.dir)}
	}
	if req.WaitPFs > 0 {
		if err := s.waitPFs(ctx, pol, req.WaitPFs); err != nil {
			return nil, fmt.Errorf("restore: waiting for PFs: %w", err)
		}
	}
	ss, err := s.begin(ctx, "restore", false)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	res := &ApplyResult{}
	if !ss.recovered.Empty() {
		res.Recovered = ss.recovered
	}
	// Read again under the lock: a writer that held it may just have stored a new desired state.
	if d, pol, err = s.storedPolicy(); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	} else if d == nil {
		return res, &UsageError{What: "restore", Msg: fmt.Sprintf("the desired state in %s was removed while waiting for the lock", s.dir)}
	}
	req.What, req.Data = "restore", d.Policy
	if _, err := s.reconcileLocked(ctx, pol, req, res); err != nil {
		return res, err
	}
	if len(res.Missing) > 0 {
		return res, &MissingPFsError{PFs: res.Missing}
	}
	return res, nil
}

// StatusResult is the stored desired state and the host's drift from it.
type StatusResult struct {
	StateDir string `json:"stateDir"`
	// Desired is the stored desired state (nil: none stored); Policy is it parsed.
	Desired *apply.Desired `json:"desired,omitempty"`
	Policy  *policy.Policy `json:"policy,omitempty"`
	// Drift is the plan that restore would make (nil without a desired state).
	Drift *plan.Plan `json:"drift,omitempty"`
	// Pending is what killed commands left for recovery.
	Pending *Pending    `json:"pending,omitempty"`
	InSync  bool        `json:"inSync"`
	Host    *sriov.Host `json:"-"`
	// Assignments are the assigned VFs with whether the host still matches their owners' settings.
	Assignments []pool.Held `json:"assignments"`
}

// emptyPolicy: a policy naming nothing (a file holding `~` or `{}`) would replace the desired state
// with nothing.
func emptyPolicy(p *policy.Policy) bool {
	return p == nil || len(p.PFs) == 0 && len(p.Pools) == 0 && len(p.Mirrors) == 0
}

// Status reads the desired state and plans the host's drift from it, read-only.
func (s *Service) Status(ctx context.Context) (*StatusResult, error) {
	out := &StatusResult{StateDir: s.dir}
	pending, err := s.pending(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	if pending.Any() {
		out.Pending = pending
	}
	d, err := apply.LoadDesired(s.dir)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	out.Desired = d
	if d == nil {
		return out, nil
	}
	pol, err := policy.Parse(d.Path, d.Policy)
	if err != nil {
		return nil, fmt.Errorf("status: stored desired state: %w", err)
	}
	out.Policy = pol
	st, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	out.Host = st
	recs, err := s.ledgerRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	drift, err := s.build(ctx, st, withoutAssigned(pol, st, recs), false)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	out.Drift = drift
	out.Assignments = pool.HeldOn(st, recs)
	out.InSync = len(drift.Ops) == 0 && len(drift.Problems) == 0
	for _, h := range out.Assignments {
		out.InSync = out.InSync && h.Host == "ok"
	}
	return out, nil
}
