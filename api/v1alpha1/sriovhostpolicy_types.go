package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Disruption says what a node goes through before a disruptive change (one that destroys VFs) is applied.
// +kubebuilder:validation:Enum=none;cordon;drain
type Disruption string

// The disruption modes.
const (
	// DisruptionNone applies the change with the node schedulable and its pods in place.
	DisruptionNone Disruption = "none"
	// DisruptionCordon marks the node unschedulable while the change is applied.
	DisruptionCordon Disruption = "cordon"
	// DisruptionDrain cordons the node and evicts its pods (honouring PodDisruptionBudgets; DaemonSet
	// pods stay) before the change is applied.
	DisruptionDrain Disruption = "drain"
)

// Rollout governs how a policy's disruptive changes reach its nodes. Non-disruptive changes are applied on
// every node at once and take no rollout slot.
type Rollout struct {
	// MaxUnavailable is how many nodes (a count, or a percentage of the matched nodes rounded down, at least
	// one) may go through a disruptive change at the same time.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="a count of at least 1 or a percentage from 1% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// Disruption is what a node goes through before a disruptive change.
	// +optional
	// +kubebuilder:default=cordon
	Disruption Disruption `json:"disruption,omitempty"`
	// Pause stops new disruptive applies from starting; those under way finish.
	// +optional
	Pause bool `json:"pause,omitempty"`
	// FailureBudget is how many nodes may fail a disruptive apply before the rollout pauses itself.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	FailureBudget *int32 `json:"failureBudget,omitempty"`
}

// SriovHostPolicySpec is the desired SR-IOV state of the nodes a policy selects.
type SriovHostPolicySpec struct {
	// NodeSelector selects the nodes by label; an empty selector selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	// Policy is the policy document applied on each selected node.
	Policy PolicyDocument `json:"policy"`
	// Rollout governs disruptive changes.
	// +optional
	// +kubebuilder:default={}
	Rollout Rollout `json:"rollout,omitempty"`
}

// Condition types of a SriovHostPolicy.
const (
	// PolicyValid is False when the project's policy validator refused the document (reason Invalid).
	PolicyValid = "Valid"
	// PolicyProgressing is True while matched nodes have not converged to the current generation.
	PolicyProgressing = "Progressing"
	// PolicyPaused is True while the rollout is paused, by spec.rollout.pause (reason Requested) or by
	// itself after failures beyond the failure budget (reason FailureBudgetExceeded).
	PolicyPaused = "Paused"
	// PolicyConflict is True while another policy sets the same PF or VF field to a different value on a
	// node both select; the message names the node, the other policy and the field.
	PolicyConflict = "Conflict"
)

// SriovHostPolicyStatus is the rollout's progress, written by the agents.
type SriovHostPolicyStatus struct {
	// ObservedGeneration is the generation the counts describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Matched is how many nodes the selector selects.
	// +optional
	Matched int32 `json:"matched"`
	// Converged is how many matched nodes have applied the current generation.
	// +optional
	Converged int32 `json:"converged"`
	// Applying is how many nodes are applying it now (each holding a rollout slot if disruptive).
	// +optional
	Applying int32 `json:"applying"`
	// Failed is how many nodes failed to apply it.
	// +optional
	Failed int32 `json:"failed"`
	// Paused is true while no new disruptive apply may start.
	// +optional
	Paused bool `json:"paused"`
	// Conditions are Valid, Progressing, Paused and Conflict.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SriovHostPolicy is an SR-IOV policy for the nodes its selector selects.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=shp,categories=sriovctl
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matched`
// +kubebuilder:printcolumn:name="Converged",type=integer,JSONPath=`.status.converged`
// +kubebuilder:printcolumn:name="Applying",type=integer,JSONPath=`.status.applying`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.status.paused`
// +kubebuilder:printcolumn:name="Disruption",type=string,JSONPath=`.spec.rollout.disruption`,priority=1
// +kubebuilder:printcolumn:name="MaxUnavailable",type=string,JSONPath=`.spec.rollout.maxUnavailable`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SriovHostPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SriovHostPolicySpec   `json:"spec"`
	Status SriovHostPolicyStatus `json:"status,omitempty"`
}

// SriovHostPolicyList is a list of SriovHostPolicy.
// +kubebuilder:object:root=true
type SriovHostPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SriovHostPolicy `json:"items"`
}
