package fleet

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
)

// Snapshot is what `sriovctl fleet status` reads from the API server: every policy, node and node state,
// and the Leases of the agents' namespace (the rollout slots). View turns it into what an operator sees.
type Snapshot struct {
	Policies []v1alpha1.SriovHostPolicy
	Nodes    []corev1.Node
	States   []v1alpha1.SriovNodeState
	Leases   []coordinationv1.Lease
	// Now is when the snapshot was read, for ages and lease expiry.
	Now time.Time
}

// PhaseUnknown is the phase shown for a node that a policy selects but whose agent has published no
// SriovNodeState (the API's phases are what the agent writes; this one no agent writes).
const PhaseUnknown = "Unknown"

// FleetStatus is `sriovctl fleet status --json`: one entry per node and per policy, sorted by name.
type FleetStatus struct {
	Nodes    []NodeStatus    `json:"nodes"`
	Policies []PolicyRollout `json:"policies"`
}

// NodeStatus is one node's line: what its agent published in its SriovNodeState.
type NodeStatus struct {
	Node string `json:"node"`
	// Policies select the node: as its agent reports them, or from the selectors while it reports nothing.
	Policies []string `json:"policies"`
	// Plan is the plan summary ("no changes", "3 changes (1 disruptive)"), empty before the first plan.
	Plan       string `json:"plan"`
	Changes    int    `json:"changes"`
	Disruptive int    `json:"disruptive"`
	// Phase is the agent's phase (Converged, Waiting, Applying, Degraded, Conflict ...) or Unknown.
	Phase string `json:"phase"`
	// Cordoned is set while the Node is unschedulable (a rollout's cordon, or someone else's).
	Cordoned bool                  `json:"cordoned"`
	Drift    []v1alpha1.DriftEntry `json:"drift"`
	// LastError is the last failed apply's error; Message says why the node waits, conflicts or is not
	// ready (the condition that goes with its phase).
	LastError string `json:"lastError,omitempty"`
	Message   string `json:"message,omitempty"`
	// UpdatedAt is when the agent last observed the host (else the newest condition change); AgeSeconds is
	// how long ago, so an agent that stopped publishing shows as a growing age.
	UpdatedAt  *metav1.Time `json:"updatedAt,omitempty"`
	AgeSeconds *int64       `json:"ageSeconds,omitempty"`
	// NodeMissing is set for a SriovNodeState whose Node object no longer exists.
	NodeMissing bool `json:"nodeMissing,omitempty"`
}

// PolicyRollout is one policy's rollout, computed from its matched nodes' states with the agents' own rules
// (PolicyStatus), so it is current even when no agent has written the policy's status lately.
type PolicyRollout struct {
	Policy     string `json:"policy"`
	Generation int64  `json:"generation"`
	Matched    int32  `json:"matched"`
	Converged  int32  `json:"converged"`
	Applying   int32  `json:"applying"`
	Failed     int32  `json:"failed"`
	// Waiting counts matched nodes whose disruptive plan waits for a slot, an unpause or a PDB.
	Waiting int32 `json:"waiting"`
	// MaxUnavailable is spec.rollout.maxUnavailable as written ("2", "25%"); MaxUnavailableNodes what it
	// resolves to for the matched nodes.
	MaxUnavailable      string `json:"maxUnavailable"`
	MaxUnavailableNodes int    `json:"maxUnavailableNodes"`
	Disruption          string `json:"disruption"`
	FailureBudget       int    `json:"failureBudget"`
	// Slots are the rollout slots held now (Leases <policy>-slot-<i> with a holder).
	Slots  []Slot `json:"slots"`
	Paused bool   `json:"paused"`
	// PausedReason is Requested (spec.rollout.pause) or FailureBudgetExceeded; PausedMessage says more.
	PausedReason  string `json:"pausedReason,omitempty"`
	PausedMessage string `json:"pausedMessage,omitempty"`
	// Invalid is the policy validator's refusal (nothing of the policy is applied), empty when valid.
	Invalid string `json:"invalid,omitempty"`
	// Conflict names the nodes where another policy disagrees, empty when none.
	Conflict string `json:"conflict,omitempty"`
}

// Slot is one held rollout slot.
type Slot struct {
	Lease  string `json:"lease"`
	Index  int    `json:"index"`
	Holder string `json:"holder"`
	// RenewedAt is the holder's last renewal; Expired is set once the lease duration has passed since then:
	// the holder died or lost the API, and another node may take the slot.
	RenewedAt *metav1.MicroTime `json:"renewedAt,omitempty"`
	Expired   bool              `json:"expired"`
}

// SlotLeaseName is the name of a policy's i-th rollout slot Lease in the agents' namespace.
func SlotLeaseName(policy string, i int) string { return policy + "-slot-" + strconv.Itoa(i) }

// slotIndex returns i when lease is SlotLeaseName(policy, i).
func slotIndex(policy, lease string) (int, bool) {
	rest, ok := strings.CutPrefix(lease, policy+"-slot-")
	if !ok || rest == "" || strings.TrimLeft(rest, "0123456789") != "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil
}

// View computes the fleet's status from a snapshot. Nodes listed are those with a SriovNodeState and those
// a policy selects; a node no policy selects and no agent reports on has nothing to show.
func View(s Snapshot) FleetStatus {
	out := FleetStatus{Nodes: []NodeStatus{}, Policies: []PolicyRollout{}}
	now := metav1.NewTime(s.Now)
	states := make(map[string]*v1alpha1.SriovNodeState, len(s.States))
	for i := range s.States {
		states[s.States[i].Name] = &s.States[i]
	}
	nodes := make(map[string]*corev1.Node, len(s.Nodes))
	for i := range s.Nodes {
		nodes[s.Nodes[i].Name] = &s.Nodes[i]
	}
	policies := slices.Clone(s.Policies)
	slices.SortFunc(policies, func(a, b v1alpha1.SriovHostPolicy) int { return cmp.Compare(a.Name, b.Name) })

	// Which policies select which nodes, by the selectors (an invalid selector selects nothing; the
	// policy's line says why).
	selected := map[string][]string{}
	selectorErr := map[string]error{}
	for i := range policies {
		p := &policies[i]
		for _, n := range s.Nodes {
			ok, err := Selects(p, n.Labels)
			if err != nil {
				selectorErr[p.Name] = err
				break
			}
			if ok {
				selected[n.Name] = append(selected[n.Name], p.Name)
			}
		}
	}

	names := make([]string, 0, len(states)+len(selected))
	for n := range states {
		names = append(names, n)
	}
	for n := range selected {
		if states[n] == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		out.Nodes = append(out.Nodes, nodeStatus(name, states[name], nodes[name], selected[name], s.Now))
	}

	for i := range policies {
		p := &policies[i]
		var views []NodeView
		var waiting int32
		for _, n := range s.Nodes {
			if slices.Contains(selected[n.Name], p.Name) {
				views = append(views, NodeView{Name: n.Name, State: states[n.Name]})
				if st := states[n.Name]; st != nil && st.Status.Phase == v1alpha1.PhaseWaiting {
					waiting++
				}
			}
		}
		validation := selectorErr[p.Name]
		if validation == nil {
			_, validation = PolicyOf(p.Spec.Policy)
		}
		st := PolicyStatus(p, views, validation, now)
		r := PolicyRollout{Policy: p.Name, Generation: p.Generation, Matched: st.Matched, Converged: st.Converged,
			Applying: st.Applying, Failed: st.Failed, Waiting: waiting, Paused: st.Paused, Slots: []Slot{}}
		r.MaxUnavailable = "1"
		if mu := p.Spec.Rollout.MaxUnavailable; mu != nil {
			r.MaxUnavailable = mu.String()
		}
		if ro, err := ResolveRollout(p.Spec.Rollout, len(views)); err == nil {
			r.MaxUnavailableNodes, r.Disruption, r.FailureBudget = ro.MaxUnavailable, string(ro.Disruption), ro.FailureBudget
		} else {
			r.Disruption = string(p.Spec.Rollout.Disruption)
		}
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.PolicyPaused); c != nil && c.Status == metav1.ConditionTrue {
			r.PausedReason, r.PausedMessage = c.Reason, c.Message
		}
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.PolicyValid); c != nil && c.Status == metav1.ConditionFalse {
			r.Invalid = c.Message
		}
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.PolicyConflict); c != nil && c.Status == metav1.ConditionTrue {
			r.Conflict = c.Message
		}
		r.Slots = slots(p.Name, s.Leases, s.Now)
		out.Policies = append(out.Policies, r)
	}
	return out
}

// phaseCondition is the condition whose message says why a node is in a phase.
var phaseCondition = map[v1alpha1.Phase]string{
	v1alpha1.PhaseWaiting:  v1alpha1.NodeApplying,
	v1alpha1.PhaseDraining: v1alpha1.NodeApplying,
	v1alpha1.PhaseApplying: v1alpha1.NodeApplying,
	v1alpha1.PhaseDegraded: v1alpha1.NodeDegraded,
	v1alpha1.PhaseConflict: v1alpha1.NodeConflict,
	v1alpha1.PhaseDrifted:  v1alpha1.NodeDrifted,
}

func nodeStatus(name string, st *v1alpha1.SriovNodeState, node *corev1.Node, selected []string, now time.Time) NodeStatus {
	ns := NodeStatus{Node: name, Policies: slices.Clone(selected), Drift: []v1alpha1.DriftEntry{}}
	if node != nil {
		ns.Cordoned = node.Spec.Unschedulable
	}
	if st == nil {
		ns.Phase = PhaseUnknown
		ns.Message = "no SriovNodeState: sriovctl's agent has not reported from this node (is it running there?)"
		if ns.Policies == nil {
			ns.Policies = []string{}
		}
		return ns
	}
	s := st.Status
	ns.NodeMissing = node == nil
	if len(s.Policies) > 0 || ns.Policies == nil {
		ns.Policies = slices.Clone(s.Policies)
		if ns.Policies == nil {
			ns.Policies = []string{}
		}
	}
	ns.Phase = string(s.Phase)
	if ns.Phase == "" {
		ns.Phase = string(v1alpha1.PhasePending)
	}
	ns.Plan = s.PlanSummary
	if s.Plan != nil {
		ns.Changes = len(s.Plan.Ops)
		for _, o := range s.Plan.Ops {
			if o.Disruptive {
				ns.Disruptive++
			}
		}
		if ns.Plan == "" {
			ns.Plan = planSummary(ns.Changes, ns.Disruptive)
		}
	}
	ns.Drift = append(ns.Drift, s.Drift...)
	ns.LastError = s.LastError
	if typ, ok := phaseCondition[s.Phase]; ok {
		if c := meta.FindStatusCondition(s.Conditions, typ); c != nil && c.Status == metav1.ConditionTrue {
			ns.Message = c.Message
		}
	}
	if c := meta.FindStatusCondition(s.Conditions, v1alpha1.NodeReady); ns.Message == "" && s.Phase != v1alpha1.PhaseConverged && c != nil && c.Status != metav1.ConditionTrue {
		ns.Message = c.Message
	}
	if ns.NodeMissing && ns.Message == "" {
		ns.Message = "no Node object of this name: the node left the cluster; its SriovNodeState stays until deleted"
	}

	updated := s.ObservedAt
	for _, c := range s.Conditions {
		if updated == nil || c.LastTransitionTime.After(updated.Time) {
			updated = c.LastTransitionTime.DeepCopy()
		}
	}
	if updated == nil && !st.CreationTimestamp.IsZero() {
		updated = st.CreationTimestamp.DeepCopy()
	}
	if updated != nil {
		ns.UpdatedAt = updated
		age := int64(max(now.Sub(updated.Time), 0) / time.Second)
		ns.AgeSeconds = &age
	}
	return ns
}

// planSummary is plan.Plan.Summary for counts read back from the API.
func planSummary(changes, disruptive int) string {
	if changes == 0 {
		return "no changes"
	}
	return fmt.Sprintf("%d changes (%d disruptive)", changes, disruptive)
}

// slots lists a policy's held slot Leases, by index.
func slots(policy string, leases []coordinationv1.Lease, now time.Time) []Slot {
	out := []Slot{}
	for _, l := range leases {
		i, ok := slotIndex(policy, l.Name)
		if !ok || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			continue
		}
		sl := Slot{Lease: l.Name, Index: i, Holder: *l.Spec.HolderIdentity}
		// The agents' rule: a hold without a renewal time or a duration, or not renewed within its
		// duration, is free for another node to take.
		sl.Expired = true
		if r := l.Spec.RenewTime; r != nil {
			sl.RenewedAt = r.DeepCopy()
			if d := l.Spec.LeaseDurationSeconds; d != nil {
				sl.Expired = !now.Before(r.Add(time.Duration(*d) * time.Second))
			}
		}
		out = append(out, sl)
	}
	slices.SortFunc(out, func(a, b Slot) int { return cmp.Compare(a.Index, b.Index) })
	return out
}
