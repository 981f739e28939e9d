package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phase is where a node's agent stands with its node's desired state.
// +kubebuilder:validation:Enum=Pending;Converged;Drifted;Waiting;Draining;Applying;Degraded;Conflict;Invalid
type Phase string

// The phases of a node.
const (
	// PhasePending: the agent has not planned yet.
	PhasePending Phase = "Pending"
	// PhaseConverged: the host matches the merged desired state; status.plan is empty.
	PhaseConverged Phase = "Converged"
	// PhaseDrifted: the host moved away from the desired state and the agent may not repair it by itself
	// (disruptive drift, or report-only repair); status.drift says what differs.
	PhaseDrifted Phase = "Drifted"
	// PhaseWaiting: a disruptive plan waits for a rollout slot, an unpaused rollout or a
	// PodDisruptionBudget; the Applying condition's message says which.
	PhaseWaiting Phase = "Waiting"
	// PhaseDraining: the node holds a slot and is being cordoned or drained.
	PhaseDraining Phase = "Draining"
	// PhaseApplying: the plan is being applied.
	PhaseApplying Phase = "Applying"
	// PhaseDegraded: the last apply failed and was rolled back; lastError says why.
	PhaseDegraded Phase = "Degraded"
	// PhaseConflict: policies selecting this node disagree; nothing is applied to the PFs concerned.
	PhaseConflict Phase = "Conflict"
	// PhaseInvalid: a selected policy does not fit this host (no such PF, VF count above sriov_totalvfs).
	PhaseInvalid Phase = "Invalid"
)

// Condition types of a SriovNodeState.
const (
	// NodeReady is True when the host matches the merged desired state of every selected policy.
	NodeReady = "Ready"
	// NodeDrifted is True while the host differs from the state the agent last applied.
	NodeDrifted = "Drifted"
	// NodeApplying is True while a plan waits for a slot, drains or applies; the reason says which.
	NodeApplying = "Applying"
	// NodeDegraded is True after an apply failed (and was rolled back); the message is the error.
	NodeDegraded = "Degraded"
	// NodeConflict is True while selected policies disagree on a PF or VF field.
	NodeConflict = "Conflict"
)

// SriovNodeStateSpec is empty: a node state is written by its node's agent only, in its status.
type SriovNodeStateSpec struct{}

// SriovNodeStateStatus is what a node's agent observed, planned and applied.
type SriovNodeStateStatus struct {
	// Phase summarises the node's state.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// PlanSummary is "no changes" or "N changes (M disruptive)", as `sriovctl plan` ends.
	// +optional
	PlanSummary string `json:"planSummary,omitempty"`
	// Policies are the names of the policies that select this node, sorted.
	// +optional
	// +listType=set
	Policies []string `json:"policies,omitempty"`
	// Observed is the host as `sriovctl show --json` prints it.
	// +optional
	Observed *HostState `json:"observed,omitempty"`
	// ObservedAt is when Observed was read.
	// +optional
	ObservedAt *metav1.Time `json:"observedAt,omitempty"`
	// Plan is the plan from the observed host to the merged desired state, as `sriovctl plan --json`
	// prints it. It is published before it is applied.
	// +optional
	Plan *Plan `json:"plan,omitempty"`
	// Drift lists what differs from the state the agent last applied.
	// +optional
	// +listType=atomic
	Drift []DriftEntry `json:"drift,omitempty"`
	// AppliedGenerations maps each selected policy's name to the generation last applied on this node.
	// +optional
	AppliedGenerations map[string]int64 `json:"appliedGenerations,omitempty"`
	// LastError is the error of the last failed apply or observation, empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// Conditions are Ready, Drifted, Applying, Degraded and Conflict.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DriftEntry is one difference between the host and its desired state.
type DriftEntry struct {
	// PF is the PF's netdev name.
	PF string `json:"pf"`
	// VF is the VF id, -1 for the PF itself.
	VF int `json:"vf"`
	// Field is the attribute group (numvfs, mac, vlan, spoofchk, trust, linkState, rate, queryRss, driver).
	Field string `json:"field"`
	// Desired and Observed are the values, as sriovctl prints them.
	// +optional
	Desired string `json:"desired,omitempty"`
	// +optional
	Observed string `json:"observed,omitempty"`
}

// SriovNodeState is one node's SR-IOV state, named after the node and written by its agent.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=sns,categories=sriovctl
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.status.planSummary`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Drifted",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`
// +kubebuilder:printcolumn:name="Policies",type=string,JSONPath=`.status.policies`,priority=1
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.lastError`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SriovNodeState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec   SriovNodeStateSpec   `json:"spec,omitempty"`
	Status SriovNodeStateStatus `json:"status,omitempty"`
}

// SriovNodeStateList is a list of SriovNodeState.
// +kubebuilder:object:root=true
type SriovNodeStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SriovNodeState `json:"items"`
}
