package fleet

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
)

// NodeView is what the policy status needs of one matched node: its SriovNodeState (nil when its agent
// has not written one yet).
type NodeView struct {
	Name  string
	State *v1alpha1.SriovNodeState
}

// PolicyStatus computes a policy's status from the nodes its selector matches, keeping the conditions'
// transition times from prev where their status did not change. A node counts as:
//   - converged when it applied the policy's current generation and is neither degraded nor in conflict;
//   - applying when it is draining or applying (it holds a rollout slot if the plan is disruptive);
//   - failed when its last apply failed (Degraded) and it has not applied the current generation.
//
// The rollout is paused when spec.rollout.pause is set (reason Requested) or when more nodes failed than
// spec.rollout.failureBudget allows (reason FailureBudgetExceeded): then no new disruptive apply starts.
func PolicyStatus(p *v1alpha1.SriovHostPolicy, nodes []NodeView, validationErr error, now metav1.Time) v1alpha1.SriovHostPolicyStatus {
	st := v1alpha1.SriovHostPolicyStatus{ObservedGeneration: p.Generation, Matched: int32(len(nodes))}
	var failed, conflicted []string
	for _, n := range nodes {
		if n.State == nil {
			continue
		}
		s := n.State.Status
		current := s.AppliedGenerations[p.Name] == p.Generation
		switch {
		case s.Phase == v1alpha1.PhaseConflict || meta.IsStatusConditionTrue(s.Conditions, v1alpha1.NodeConflict):
			conflicted = append(conflicted, n.Name)
		case current && s.Phase != v1alpha1.PhaseDegraded:
			st.Converged++
		case s.Phase == v1alpha1.PhaseApplying || s.Phase == v1alpha1.PhaseDraining:
			st.Applying++
		case s.Phase == v1alpha1.PhaseDegraded:
			failed = append(failed, n.Name)
		}
	}
	st.Failed = int32(len(failed))
	st.Conditions = slices.Clone(p.Status.Conditions)
	set := func(typ string, ok bool, reason, msg string) {
		c := metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: p.Generation, LastTransitionTime: now}
		if ok {
			c.Status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, c)
	}

	if validationErr != nil {
		set(v1alpha1.PolicyValid, false, "Invalid", validationErr.Error())
	} else {
		set(v1alpha1.PolicyValid, true, "Valid", "the policy passed sriovctl's policy validator")
	}

	rollout, err := ResolveRollout(p.Spec.Rollout, len(nodes))
	budget := rollout.FailureBudget
	switch {
	case err != nil:
		st.Paused = true
		set(v1alpha1.PolicyPaused, true, "Invalid", err.Error())
	case p.Spec.Rollout.Pause:
		st.Paused = true
		set(v1alpha1.PolicyPaused, true, "Requested", "spec.rollout.pause is set: no new disruptive change starts")
	case len(failed) > budget:
		st.Paused = true
		set(v1alpha1.PolicyPaused, true, "FailureBudgetExceeded",
			fmt.Sprintf("%d nodes failed (%s), more than the failure budget of %d: no new disruptive change starts; fix them, then raise spec.rollout.failureBudget or let them recover", len(failed), list(failed), budget))
	default:
		set(v1alpha1.PolicyPaused, false, "Running", "disruptive changes roll out")
	}

	pending := st.Matched - st.Converged
	switch {
	case pending == 0:
		set(v1alpha1.PolicyProgressing, false, "Converged", fmt.Sprintf("all %d matched nodes applied generation %d", st.Matched, p.Generation))
	case st.Paused:
		set(v1alpha1.PolicyProgressing, false, "Paused", fmt.Sprintf("%d of %d nodes converged; the rollout is paused", st.Converged, st.Matched))
	default:
		set(v1alpha1.PolicyProgressing, true, "Rolling", fmt.Sprintf("%d of %d nodes converged, %d applying", st.Converged, st.Matched, st.Applying))
	}

	if len(conflicted) > 0 {
		set(v1alpha1.PolicyConflict, true, "Conflict", fmt.Sprintf("another policy disagrees on nodes %s: see their SriovNodeState", list(conflicted)))
	} else {
		set(v1alpha1.PolicyConflict, false, "NoConflict", "no other policy disagrees on a matched node")
	}
	return st
}

// list names at most five nodes.
func list(names []string) string {
	slices.Sort(names)
	if len(names) > 5 {
		return fmt.Sprintf("%v and %d more", names[:5], len(names)-5)
	}
	return fmt.Sprint(names)
}
