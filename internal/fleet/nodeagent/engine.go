package nodeagent

import (
	"context"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/agent"
)

// engine wraps the host's engine (the service layer: lock, journal, rollback) to record each apply's
// outcome in the node state and, after a disruptive one, to uncordon and give back the slots.
type engine struct {
	inner agent.Engine
	n     *NodeAgent
}

// Drift implements agent.Engine.
func (e *engine) Drift(ctx context.Context, d *agent.Desired) (*agent.Drift, error) {
	return e.inner.Drift(ctx, d)
}

// Repair implements agent.Engine. A failed apply was rolled back by the service layer; the node reports
// Degraded with the error before it gives its slot back, so that the next node's failure-budget check
// counts it. A repair cut short because the agent stops leaves slot and cordon to the restarted agent.
func (e *engine) Repair(ctx context.Context, src agent.Source, opts agent.RepairOptions) (*agent.Repair, error) {
	n := e.n
	if !opts.AllowDisruptive {
		n.activity(ctx, v1alpha1.PhaseApplying, "Applying", "applying a non-disruptive plan: no rollout slot, no cordon")
	}
	rep, err := e.inner.Repair(ctx, src, opts)
	if ctx.Err() != nil {
		return rep, err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	n.mu.Lock()
	switch {
	case err != nil:
		n.status.failed, n.status.lastError = true, err.Error()
	case rep != nil && rep.Skipped == "disruptive":
	default:
		n.status.failed, n.status.lastError = false, ""
	}
	n.status.activity = ""
	failed := n.status.failed
	n.mu.Unlock()
	if failed {
		n.publish(pctx)
	}
	if opts.AllowDisruptive {
		n.settle(pctx)
	}
	return rep, err
}
