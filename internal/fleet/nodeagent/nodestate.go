package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/fleet"
)

// nodeStatus is what the node state says beyond the latest observation: the outcome of applies and what
// the agent is doing now.
type nodeStatus struct {
	reportOnly bool
	// applied maps each policy to the generation last applied here.
	applied map[string]int64
	// failed is set by a failed apply until the host matches the desired state again; lastError says why.
	failed    bool
	lastError string
	// activity is Waiting, Draining or Applying while a plan is under way ("" otherwise), with the
	// Applying condition's reason and message.
	activity        v1alpha1.Phase
	reason, message string
}

// opTimeout bounds each API call made from the agent's loop, which has no deadline of its own.
const opTimeout = 30 * time.Second

// ensureNodeState creates the node's SriovNodeState (owned by its Node, so it goes with it) unless it
// exists, and loads what a previous run of the agent recorded.
func (n *NodeAgent) ensureNodeState(ctx context.Context) error {
	var st v1alpha1.SriovNodeState
	err := n.live.Get(ctx, types.NamespacedName{Name: n.cfg.NodeName}, &st)
	if apierrors.IsNotFound(err) {
		var node corev1.Node
		if err := n.c.Get(ctx, types.NamespacedName{Name: n.cfg.NodeName}, &node); err != nil {
			return fmt.Errorf("node %s: %w", n.cfg.NodeName, err)
		}
		st = v1alpha1.SriovNodeState{ObjectMeta: metav1.ObjectMeta{Name: n.cfg.NodeName,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}}}
		err = n.c.Create(ctx, &st)
	}
	if err != nil {
		return fmt.Errorf("SriovNodeState %s: %w", n.cfg.NodeName, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.published = st.DeepCopy()
	n.cordoned = st.Annotations[cordonedAnno] == "true"
	n.status.applied = maps.Clone(st.Status.AppliedGenerations)
	if n.status.applied == nil {
		n.status.applied = map[string]int64{}
	}
	if st.Status.Phase == v1alpha1.PhaseDegraded {
		n.status.failed, n.status.lastError = true, st.Status.LastError
	}
	return nil
}

// observed is the agent's Observed hook: it records the observation, settles what a finished (or
// abandoned) disruptive change left (slots, cordon), and publishes the node state before anything is
// applied.
func (n *NodeAgent) observed(d *agent.Drift) {
	ctx, cancel := context.WithTimeout(n.ctx(), opTimeout)
	defer cancel()
	m := n.metaOf(d.Desired)
	disruptive := d.Plan != nil && len(d.Plan.Problems) == 0 && d.Plan.Disruptive() > 0
	n.mu.Lock()
	n.lastDrift, n.lastMeta = d, m
	st := &n.status
	switch {
	case d.InSync():
		if m != nil && len(d.Missing) == 0 && m.mergeErr == nil {
			n.recordApplied(m)
		}
		st.failed, st.lastError = false, ""
		st.activity = ""
	case st.failed || st.reportOnly || (d.Plan != nil && len(d.Plan.Problems) > 0):
		st.activity = ""
	case disruptive:
		if st.activity == "" || st.activity == v1alpha1.PhaseApplying {
			n.setActivity(v1alpha1.PhaseWaiting, "WaitingForSlot", "a disruptive plan waits for a rollout slot")
		}
	default:
		n.setActivity(v1alpha1.PhaseApplying, "Applying", "applying a non-disruptive plan: no rollout slot, no cordon")
	}
	n.waiting = disruptive
	n.mu.Unlock()
	if !disruptive {
		// A disruptive change finished, or is no longer wanted: give back what it took.
		n.settle(ctx)
	}
	n.publish(ctx)
}

// settle uncordons the node (if the agent cordoned it) and releases its slots; done after every apply that
// held them and whenever the plan needs them no more (an agent restarted after applying).
func (n *NodeAgent) settle(ctx context.Context) {
	if err := n.uncordon(ctx); err != nil {
		n.log.Warn("uncordon failed; retried at the next observation", "err", err)
		return // keep the slot while cordoned: the node is still unavailable
	}
	if err := n.slots.releaseAll(ctx); err != nil {
		n.log.Warn("releasing rollout slots failed; they expire by themselves", "err", err)
	}
}

// recordApplied notes that the host matches the merged state of m's policies: each merged policy that no
// conflict concerns is applied at its generation. Policies no longer selecting the node are dropped.
// Called with n.mu held.
func (n *NodeAgent) recordApplied(m *desiredMeta) {
	conflicted := map[string]bool{}
	for _, c := range m.conflicts {
		conflicted[c.Policies[0]], conflicted[c.Policies[1]] = true, true
	}
	out := map[string]int64{}
	for p, g := range n.status.applied {
		if slices.Contains(m.policies, p) {
			out[p] = g
		}
	}
	for p, g := range m.generations {
		if !conflicted[p] {
			out[p] = g
		}
	}
	n.status.applied = out
}

// setActivity is called with n.mu held.
func (n *NodeAgent) setActivity(p v1alpha1.Phase, reason, msg string) {
	n.status.activity, n.status.reason, n.status.message = p, reason, msg
}

// activity sets what the agent is doing and publishes it.
func (n *NodeAgent) activity(ctx context.Context, p v1alpha1.Phase, reason, msg string) {
	n.mu.Lock()
	n.setActivity(p, reason, msg)
	n.mu.Unlock()
	n.publish(ctx)
}

// publish writes the node state from the latest observation, unless nothing changed (then only every
// Heartbeat, for observedAt). Only this agent writes it, so a merge patch from the last written copy
// needs no resourceVersion.
func (n *NodeAgent) publish(ctx context.Context) {
	n.mu.Lock()
	if n.lastDrift == nil || n.published == nil {
		n.mu.Unlock()
		return
	}
	prev := n.published
	status := n.buildStatus(n.lastDrift, n.lastMeta, prev.Status.Conditions)
	heartbeat := time.Since(n.publishedAt) > n.cfg.Heartbeat
	n.mu.Unlock()
	if !heartbeat && sameStatus(prev.Status, status) {
		return
	}
	next := prev.DeepCopy()
	next.Status = status
	if err := n.c.Status().Patch(ctx, next, client.MergeFrom(prev)); err != nil {
		n.log.Warn("publishing the node state failed; retried at the next observation", "err", err)
		return
	}
	n.mu.Lock()
	n.published, n.publishedAt = next, time.Now()
	n.mu.Unlock()
	n.kickStatus()
}

// sameStatus compares two statuses but for when the host was observed.
func sameStatus(a, b v1alpha1.SriovNodeStateStatus) bool {
	a.ObservedAt, b.ObservedAt = nil, nil
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// buildStatus is the node state for an observation. Called with n.mu held.
func (n *NodeAgent) buildStatus(d *agent.Drift, m *desiredMeta, prevConds []metav1.Condition) v1alpha1.SriovNodeStateStatus {
	st := n.status
	out := v1alpha1.SriovNodeStateStatus{LastError: st.lastError, AppliedGenerations: maps.Clone(st.applied), PlanSummary: "no changes"}
	if len(out.AppliedGenerations) == 0 {
		out.AppliedGenerations = nil
	}
	if obs, err := fleet.Observed(d.Observed); err == nil && d.Observed != nil {
		out.Observed = obs
		at := metav1.NewTime(d.At)
		out.ObservedAt = &at
	}
	if d.Plan != nil {
		out.Plan, _ = fleet.PlanOf(d.Plan)
		out.PlanSummary = fleet.Summary(d.Plan)
	}
	var conflicts, invalid []string
	upToDate := true
	if m != nil {
		out.Policies = m.policies
		for _, c := range m.conflicts {
			conflicts = append(conflicts, c.String())
		}
		for _, p := range slices.Sorted(maps.Keys(m.invalid)) {
			invalid = append(invalid, fmt.Sprintf("policy %s: %s", p, m.invalid[p]))
		}
		if m.mergeErr != nil {
			invalid = append(invalid, m.mergeErr.Error())
		}
		for p, g := range m.generations {
			upToDate = upToDate && st.applied[p] == g
		}
	}
	if d.Plan != nil {
		for _, pr := range d.Plan.Problems {
			invalid = append(invalid, pr.String())
		}
	}
	for _, pf := range d.Missing {
		invalid = append(invalid, "PF "+pf+" is not on this host")
	}
	// Drift is the host moving away from what was applied; a new generation's plan is not drift.
	if upToDate && d.Plan != nil && len(d.Plan.Ops) > 0 {
		out.Drift = fleet.DriftOf(d.Plan)
	}
	inSync := d.InSync()

	switch {
	case st.activity != "":
		out.Phase = st.activity
	case len(conflicts) > 0:
		out.Phase = v1alpha1.PhaseConflict
	case len(invalid) > 0:
		out.Phase = v1alpha1.PhaseInvalid
	case st.failed && !inSync:
		out.Phase = v1alpha1.PhaseDegraded
	case inSync:
		out.Phase = v1alpha1.PhaseConverged
	case st.reportOnly:
		out.Phase = v1alpha1.PhaseDrifted
	default:
		out.Phase = v1alpha1.PhasePending
	}

	now := metav1.Now()
	out.Conditions = slices.Clone(prevConds)
	set := func(typ string, ok bool, reason, msg string) {
		c := metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: now}
		if ok {
			c.Status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&out.Conditions, c)
	}
	ready := out.Phase == v1alpha1.PhaseConverged
	switch {
	case ready:
		set(v1alpha1.NodeReady, true, "Converged", "the host matches the merged desired state of "+policyList(out.Policies))
	case len(invalid) > 0:
		set(v1alpha1.NodeReady, false, string(out.Phase), strings.Join(invalid, "; "))
	default:
		set(v1alpha1.NodeReady, false, string(out.Phase), out.PlanSummary)
	}
	if len(out.Drift) > 0 {
		var what []string
		for _, e := range out.Drift {
			what = append(what, fmt.Sprintf("%s vf %d %s: %s, want %s", e.PF, e.VF, e.Field, e.Observed, e.Desired))
		}
		set(v1alpha1.NodeDrifted, true, "HostChanged", strings.Join(what, "; "))
	} else {
		set(v1alpha1.NodeDrifted, false, "NoDrift", "the host has not moved away from the state last applied")
	}
	if st.activity != "" {
		set(v1alpha1.NodeApplying, true, st.reason, st.message)
	} else {
		set(v1alpha1.NodeApplying, false, "Idle", "nothing under way")
	}
	if st.failed {
		set(v1alpha1.NodeDegraded, true, "ApplyFailed", "the last apply failed and was rolled back: "+st.lastError)
	} else {
		set(v1alpha1.NodeDegraded, false, "ApplySucceeded", "no failed apply")
	}
	if len(conflicts) > 0 {
		set(v1alpha1.NodeConflict, true, "PoliciesDisagree", strings.Join(conflicts, "; ")+"; nothing is applied to these PFs")
	} else {
		set(v1alpha1.NodeConflict, false, "NoConflict", "the selected policies agree")
	}
	return out
}

func policyList(p []string) string {
	if len(p) == 0 {
		return "no policy"
	}
	return "policies " + strings.Join(p, ", ")
}

// ownState is the node state as last published, for the policy status counts.
func (n *NodeAgent) ownState() *v1alpha1.SriovNodeState {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.published == nil {
		return nil
	}
	return n.published.DeepCopy()
}
