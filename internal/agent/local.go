package agent

// This file is the one adapter between the agent and today's packages (apply, plan, ledger, pool,
// mirror). The service layer replaces it; nothing else in the agent imports those packages' writers.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// LocalEngine is the Engine over a host backend and a state directory, with the same lock, journal,
// recovery and ledger rules as the CLI's apply, restore and pool commands.
type LocalEngine struct {
	Host     host.Host
	StateDir string
}

// Drift implements Engine.
func (e *LocalEngine) Drift(ctx context.Context, d *Desired) (*Drift, error) {
	st, err := e.Host.Observe(ctx)
	if err != nil {
		return nil, fmt.Errorf("observe host: %w", err)
	}
	recs, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	return e.drift(st, d, recs), nil
}

// records reads the ledger; no ledger file means nothing is assigned.
func (e *LocalEngine) records(ctx context.Context) ([]ledger.Record, error) {
	if _, err := os.Stat(filepath.Join(e.StateDir, ledger.DBFile)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	l, err := ledger.Open(ctx, e.StateDir)
	if err != nil {
		return nil, fmt.Errorf("read the VF ledger: %w", err)
	}
	defer l.Close()
	return l.All()
}

func (e *LocalEngine) drift(st *sriov.Host, d *Desired, recs []ledger.Record) *Drift {
	out := &Drift{Observed: st, Desired: d, At: time.Now().UTC(), Assignments: []Assignment{}, Mirrors: []mirror.Group{}}
	ledger.SortByOwner(recs)
	for _, r := range recs {
		a := Assignment{Record: r, Host: "ok"}
		pf := st.FindPF(r.PFAddress)
		var cur *sriov.VF
		if pf != nil {
			cur = pf.VF(r.VF)
		}
		if cur == nil {
			a.Host = "missing"
		} else if diff := pool.Drift(*cur, r); len(diff) > 0 {
			a.Host = "drift: " + strings.Join(diff, ", ")
		}
		out.Assignments = append(out.Assignments, a)
	}
	recorded, _ := mirror.OpenStore(e.StateDir).List()
	if groups := recorded; true {
		for _, g := range groups {
			g.Health = mirror.Health(st, g)
			out.Mirrors = append(out.Mirrors, g)
		}
	}
	if d != nil && d.Policy != nil {
		for _, m := range d.Policy.Mirrors {
			g := mirror.Group{Name: m.Name, PF: m.PF, VFs: m.VFIDs, MAC: m.MAC, Strategy: m.Strategy, Source: mirror.SourcePolicy}
			g.Health = mirror.Health(st, g)
			out.Mirrors = append(out.Mirrors, g)
		}
		out.Plan = plan.Build(st, withoutAssigned(d.Policy, st, recs), plan.Options{
			Contributors: []plan.Contributor{mirror.Contributor(recorded), ownersContributor(recs)},
		})
	}
	return out
}

// Repair implements Engine.
func (e *LocalEngine) Repair(ctx context.Context, src Source, opts RepairOptions) (*Repair, error) {
	lock, err := apply.AcquireContext(ctx, e.StateDir, true)
	if errors.Is(err, apply.ErrLocked) {
		if opts.Waiting != nil {
			holder, _, _ := strings.Cut(err.Error(), ";")
			opts.Waiting(holder)
		}
		lock, err = apply.AcquireContext(ctx, e.StateDir, false)
	}
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	res := &Repair{}
	if res.Recovered, err = apply.Recover(ctx, e.Host, e.StateDir); err != nil {
		return res, fmt.Errorf("recover an interrupted apply: %w", err)
	}
	if err := e.repairLedger(ctx); err != nil {
		return res, err
	}
	d, err := src.Load(ctx)
	if err != nil {
		return res, fmt.Errorf("load desired state (%s): %w", src.Name(), err)
	}
	if res.Drift, err = e.Drift(ctx, d); err != nil {
		return res, err
	}
	p := res.Drift.Plan
	switch {
	case p == nil || len(p.Ops) == 0 && len(p.Problems) == 0:
		res.Skipped, res.Planned = "in sync", "no changes"
		return res, nil
	case len(p.Problems) > 0:
		res.Skipped, res.Planned = "problems", p.Summary()
		return res, &PlanError{Plan: p}
	}
	res.Planned = p.Summary()
	for _, o := range p.Ops {
		res.Ops = append(res.Ops, o.Describe())
	}
	if p.Disruptive() > 0 && !opts.AllowDisruptive {
		res.Skipped = "disruptive"
		return res, nil
	}
	// nil policy data: the desired state stays as stored; a repair does not store it again.
	r, err := apply.Run(ctx, e.Host, res.Drift.Observed, p, nil, e.StateDir, "agent repair")
	res.Writes, res.RolledBack, res.Unrestored = r.Writes, r.RolledBack, r.Unrestored
	return res, err
}

// repairLedger finishes assign and release commands a crash interrupted, as every pool command does
// first, so that the plan sees each VF either assigned or free.
func (e *LocalEngine) repairLedger(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(e.StateDir, ledger.DBFile)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := ledger.Open(ctx, e.StateDir)
	if err != nil {
		return fmt.Errorf("open the VF ledger: %w", err)
	}
	defer l.Close()
	_, err = (&pool.Manager{Host: e.Host, Ledger: l}).Repair(ctx)
	return err
}

// PlanError says the plan has problems (the desired state does not fit the host, or a driver or another
// feature refuses it): nothing was written.
type PlanError struct{ Plan *plan.Plan }

func (e *PlanError) Error() string {
	return fmt.Sprintf("%d problem(s), first: %s; nothing was changed", len(e.Plan.Problems), e.Plan.Problems[0])
}

// Reason is the first problem's kind, for metrics.
func (e *PlanError) Reason() string { return "plan_" + e.Plan.Problems[0].Kind }

// withoutAssigned returns a copy of pol whose pfs entries leave out the VFs the ledger holds: an assigned
// VF's desired settings are its owner's (ownersContributor), not the policy's.
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

// ownersContributor makes each assigned VF's owner settings and driver desired, and refuses (like the
// pools' own check, which this build replaces) a plan that would destroy an assigned VF: a VM uses it.
func ownersContributor(recs []ledger.Record) plan.Contributor {
	return plan.Contributor{
		Name: "owners",
		Desire: func(b *plan.Builder) {
			for _, r := range recs {
				if r.State != ledger.StateAssigned {
					continue
				}
				pf := b.Host.FindPF(r.PFAddress)
				if pf == nil {
					continue
				}
				t := b.Target(pf.Name, "", 0)
				if t == nil || r.VF >= t.NumVFs {
					continue
				}
				drv := r.Driver
				t.Set(r.VF, ownerSettings(r), &drv, "assigned to "+r.Owner+" (pool "+r.Pool+")", 0)
			}
		},
		Check: func(b *plan.Builder) {
			// Only VF count changes take a VF from its owner here: settings writes to an assigned VF are
			// this plan putting the owner's settings back.
			sub := &plan.Builder{Host: b.Host, Policy: b.Policy, Opts: b.Opts, Plan: &plan.Plan{}}
			for _, o := range b.Plan.Ops {
				if o.VF < 0 {
					sub.Plan.Ops = append(sub.Plan.Ops, o)
				}
			}
			pool.CheckPlan(sub, recs)
			b.Plan.Problems = append(b.Plan.Problems, sub.Plan.Problems...)
			b.Plan.Notes = append(b.Plan.Notes, sub.Plan.Notes...)
		},
	}
}

// ownerSettings is every setting the owner's VF was given; the admin MAC only when there was one (a VF
// handed out without one gets its MAC from whoever uses it, as pool.Drift says).
func ownerSettings(r ledger.Record) sriov.VFSettings {
	c := r.Config
	s := sriov.VFSettings{VLAN: &c.VLAN, QoS: &c.QoS, VLANProto: &c.VLANProto, SpoofCheck: &c.SpoofCheck, Trust: &c.Trust,
		LinkState: &c.LinkState, MinTxRateMbps: &c.MinTxRateMbps, MaxTxRateMbps: &c.MaxTxRateMbps, QueryRSS: &c.QueryRSS}
	if r.Settings.MAC != nil || c.MAC != sriov.ZeroMAC {
		s.MAC = &c.MAC
	}
	return s
}
