package agent

// This file is the one adapter between the agent and the service layer (internal/service), the path
// every sriovctl command writes the host through: the agent observes with Service.Drift and repairs with
// Service.Reconcile, the same lock, recovery, planner, journal, rollback and owners' settings as
// `sriovctl restore`. Nothing else in the agent writes the host.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/service"
)

// LocalEngine is the Engine over a host backend and a state directory, through the service layer.
type LocalEngine struct {
	Host     host.Host
	StateDir string
}

func (e *LocalEngine) service(opts service.Options) *service.Service {
	return service.New(e.Host, e.StateDir, opts)
}

// Drift implements Engine.
func (e *LocalEngine) Drift(ctx context.Context, d *Desired) (*Drift, error) {
	r, err := e.service(service.Options{}).Drift(ctx, d.policy())
	if err != nil {
		return nil, err
	}
	return newDrift(r, d), nil
}

func (d *Desired) policy() *policy.Policy {
	if d == nil {
		return nil
	}
	return d.Policy
}

func newDrift(r *service.DriftResult, d *Desired) *Drift {
	return &Drift{Observed: r.Host, Desired: d, Plan: r.Plan, Missing: r.Missing, Assignments: r.Assignments,
		Mirrors: r.Mirrors, Pending: r.Pending, At: time.Now().UTC()}
}

// errNotAdmitted stops a disruptive repair before it writes anything.
var errNotAdmitted = errors.New("disruptive repair not allowed")

// Repair implements Engine.
func (e *LocalEngine) Repair(ctx context.Context, src Source, opts RepairOptions) (*Repair, error) {
	var des *Desired
	svc := e.service(service.Options{Waiting: opts.Waiting})
	r, err := svc.Reconcile(ctx, service.ReconcileRequest{
		What: "agent repair",
		Load: func(ctx context.Context) (*policy.Policy, error) {
			var err error
			if des, err = src.Load(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", src.Name(), err)
			}
			return des.policy(), nil
		},
		Confirm: func(*plan.Plan) error {
			if opts.AllowDisruptive {
				return nil
			}
			return errNotAdmitted
		},
	})
	res := &Repair{}
	if r == nil {
		return res, err
	}
	if !r.Recovered.Empty() {
		res.Recovered = r.Recovered
	}
	res.Writes, res.RolledBack, res.Unrestored = r.Writes, r.RolledBack, r.Unrestored
	for _, a := range r.Reasserted {
		res.Reasserted = append(res.Reasserted, fmt.Sprintf("%s vf %d: %s's settings again", a.PF, a.VF, a.Owner))
	}
	if r.Drift == nil {
		return res, err
	}
	res.Drift = newDrift(r.Drift, des)
	res.Planned, res.Ops = describe(res.Drift)
	switch {
	case errors.Is(err, errNotAdmitted):
		res.Skipped = "disruptive"
		return res, nil
	case err != nil:
		var pe *service.ProblemsError
		if errors.As(err, &pe) {
			res.Skipped = "problems"
		}
		return res, err
	case res.Drift.InSync():
		res.Skipped = "in sync"
	}
	return res, nil
}

// describe is a drift's summary and its writes, one line each: the plan's, then the owners' settings.
func describe(d *Drift) (string, []string) {
	var ops []string
	summary := "no changes"
	if d.Plan != nil {
		summary = d.Plan.Summary()
		for _, o := range d.Plan.Ops {
			ops = append(ops, o.Describe())
		}
	}
	n := 0
	for _, a := range d.Assignments {
		if a.Drifted() {
			n++
			ops = append(ops, fmt.Sprintf("%s vf %d (assigned to %s, pool %s): %s", a.PF, a.VF, a.Owner, a.Pool, a.Host))
		}
	}
	if n > 0 {
		if d.Plan == nil || len(d.Plan.Ops) == 0 {
			summary = ""
		} else {
			summary += "; "
		}
		summary += fmt.Sprintf("%d assigned VF(s) back to their owners' settings", n)
	}
	return summary, ops
}
