package nodeagent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/fleet"
)

// strictness orders the disruption modes: a node under several policies goes through the strictest.
var strictness = map[v1alpha1.Disruption]int{v1alpha1.DisruptionNone: 0, v1alpha1.DisruptionCordon: 1, v1alpha1.DisruptionDrain: 2}

// admit is the agent's Admit hook, asked before every disruptive apply. It takes a rollout slot of each
// policy naming a PF the plan resizes (all of them or none, so that two nodes never hold half of what
// each needs), unless that policy's rollout is paused (spec.rollout.pause, or more failed nodes than its
// failureBudget); then cordons or drains the node as the strictest of those policies says. It says no,
// with the reason, while a slot is not free or a PodDisruptionBudget forbids an eviction; the agent asks
// again at its next observation (a Lease or policy change triggers one).
func (n *NodeAgent) admit(ctx context.Context, d *agent.Drift) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	m := n.metaOf(d.Desired)
	if m == nil {
		return false, "the desired state changed meanwhile; planning again"
	}
	var pfs []string
	for _, o := range d.Plan.Ops {
		if o.Disruptive {
			pfs = append(pfs, o.PF)
		}
	}
	type rollout struct {
		policy  *v1alpha1.SriovHostPolicy
		matched []fleet.NodeView
		fleet.Rollout
	}
	var rollouts []rollout
	disruption := v1alpha1.DisruptionNone
	for _, name := range m.policiesOf(pfs) {
		var p v1alpha1.SriovHostPolicy
		if err := n.c.Get(ctx, types.NamespacedName{Name: name}, &p); err != nil {
			return n.wait(ctx, "PolicyUnreadable", fmt.Sprintf("policy %s: %v", name, err))
		}
		matched, err := n.matched(ctx, &p, false)
		if err != nil {
			return n.wait(ctx, "PolicyUnreadable", err.Error())
		}
		r, err := fleet.ResolveRollout(p.Spec.Rollout, len(matched))
		if err != nil {
			return n.wait(ctx, "InvalidRollout", fmt.Sprintf("policy %s: %v", name, err))
		}
		if !n.slots.holds(name) { // a change under way finishes even if the rollout pauses meanwhile
			if why := pausedWhy(&p, matched); why != "" {
				return n.wait(ctx, "Paused", why)
			}
		}
		rollouts = append(rollouts, rollout{&p, matched, r})
		if strictness[r.Disruption] > strictness[disruption] {
			disruption = r.Disruption
		}
	}

	var taken []string
	giveBack := func() {
		for _, p := range taken {
			if err := n.slots.release(ctx, p); err != nil {
				n.log.Warn("giving back a rollout slot failed; it expires by itself", "err", err)
			}
		}
	}
	for _, r := range rollouts {
		held := n.slots.holds(r.policy.Name)
		ok, holders, err := n.slots.acquire(ctx, r.policy.Name, r.MaxUnavailable)
		if err != nil {
			giveBack()
			return n.wait(ctx, "WaitingForSlot", err.Error())
		}
		if !ok {
			giveBack()
			by := "other nodes took the free ones first"
			if len(holders) > 0 {
				by = "held by " + strings.Join(holders, ", ")
			}
			return n.wait(ctx, "WaitingForSlot", fmt.Sprintf("waiting for a rollout slot of policy %s: maxUnavailable %d, %s",
				r.policy.Name, r.MaxUnavailable, by))
		}
		if held {
			continue
		}
		taken = append(taken, r.policy.Name)
		// The cache may not show yet a failure that a node published just before giving back the slot
		// taken now: decide on the live node states.
		matched, err := n.matched(ctx, r.policy, true)
		if err != nil {
			giveBack()
			return n.wait(ctx, "PolicyUnreadable", err.Error())
		}
		if why := pausedWhy(r.policy, matched); why != "" {
			giveBack()
			return n.wait(ctx, "Paused", why)
		}
	}

	if disruption != v1alpha1.DisruptionNone {
		n.activity(ctx, v1alpha1.PhaseDraining, "Cordoning", "holding a rollout slot; cordoning the node ("+string(disruption)+")")
		if err := n.cordon(ctx); err != nil {
			return n.wait(ctx, "CordonFailed", err.Error())
		}
	}
	if disruption == v1alpha1.DisruptionDrain {
		n.activity(ctx, v1alpha1.PhaseDraining, "Draining", "holding a rollout slot; evicting the node's pods")
		why, err := n.drain(ctx)
		if err != nil {
			return n.wait(ctx, "DrainFailed", err.Error())
		}
		if why != "" {
			reason := "WaitingForPods"
			if strings.HasPrefix(why, "a PodDisruptionBudget") {
				reason = "WaitingForPodDisruptionBudget"
			}
			return n.wait(ctx, reason, why)
		}
	}
	n.activity(ctx, v1alpha1.PhaseApplying, "Applying", fmt.Sprintf("applying a disruptive plan (%s) holding rollout slots of %s", fleet.Summary(d.Plan), strings.Join(n.slots.heldPolicies(), ", ")))
	return true, ""
}

// wait publishes why a disruptive plan does not start and returns the agent's answer. A node waiting
// without a slot is not left cordoned (a restarted agent whose slot was taken meanwhile).
func (n *NodeAgent) wait(ctx context.Context, reason, why string) (bool, string) {
	if len(n.slots.heldPolicies()) == 0 {
		if err := n.uncordon(ctx); err != nil {
			n.log.Warn("uncordon failed; retried at the next observation", "err", err)
		}
	}
	n.activity(ctx, v1alpha1.PhaseWaiting, reason, why)
	return false, why
}

// matched lists the nodes a policy selects, with their node states: from the caches, or live (when a
// decision must see what other nodes just published). This node's state is its own latest copy.
func (n *NodeAgent) matched(ctx context.Context, p *v1alpha1.SriovHostPolicy, live bool) ([]fleet.NodeView, error) {
	r := n.live
	if !live {
		r = n.c
	}
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	var states v1alpha1.SriovNodeStateList
	if err := r.List(ctx, &states); err != nil {
		return nil, fmt.Errorf("listing SriovNodeStates: %w", err)
	}
	byName := map[string]*v1alpha1.SriovNodeState{}
	for i := range states.Items {
		byName[states.Items[i].Name] = &states.Items[i]
	}
	if own := n.ownState(); own != nil {
		byName[own.Name] = own
	}
	var out []fleet.NodeView
	for _, node := range nodes.Items {
		ok, err := fleet.Selects(p, node.Labels)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		if ok {
			out = append(out, fleet.NodeView{Name: node.Name, State: byName[node.Name]})
		}
	}
	return out, nil
}

// pausedWhy says why the policy's rollout is paused ("" when it is not), by the rules of its status.
func pausedWhy(p *v1alpha1.SriovHostPolicy, matched []fleet.NodeView) string {
	st := fleet.PolicyStatus(p, matched, nil, metav1.NewTime(time.Now()))
	if !st.Paused {
		return ""
	}
	msg := "the rollout is paused"
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.PolicyPaused); c != nil {
		msg = c.Message
	}
	return "policy " + p.Name + ": " + msg
}
