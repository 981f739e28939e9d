// Package fleet is the Kubernetes-independent logic of sriovctl's fleet mode: it turns SriovHostPolicy
// objects (api/v1alpha1) into the project's policy documents, decides which policies select a node, merges
// the selected ones into one desired state with their conflicts, resolves a policy's rollout settings, and
// computes a policy's status from its nodes' SriovNodeStates. It talks to no API server and touches no
// host, so the agent's Kubernetes mode, `sriovctl fleet status` and tests share one set of rules.
package fleet

import (
	"encoding/json"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// PolicyOf runs the project's policy validator on a SriovHostPolicy's spec.policy (what the CRD schema
// cannot check: VF ids beyond numVfs, a VF in two entries, a MAC for several VFs, pools sharing a VF) and
// returns the parsed policy. Errors name the field, e.g. "spec.policy: pfs[0].vfs[1].ids: VF 9 does not
// exist with numVfs 8 (allowed 0-7)"; they belong in the policy's Valid condition.
func PolicyOf(doc v1alpha1.PolicyDocument) (*policy.Policy, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse("spec.policy", data) // JSON is YAML: the same strict parser as a policy file
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			pe.Line = 0 // a line of our own serialisation means nothing to the object's author
		}
		return nil, err
	}
	return p, nil
}

// Selects reports whether a policy's node selector selects a node with these labels. A policy without a
// selector selects every node.
func Selects(p *v1alpha1.SriovHostPolicy, nodeLabels map[string]string) (bool, error) {
	if p.Spec.NodeSelector == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.NodeSelector)
	if err != nil {
		return false, fmt.Errorf("spec.nodeSelector: %w", err)
	}
	return sel.Matches(labels.Set(nodeLabels)), nil
}

// Rollout is a policy's rollout settings with the defaults applied and maxUnavailable resolved to a count.
type Rollout struct {
	MaxUnavailable int
	Disruption     v1alpha1.Disruption
	Pause          bool
	FailureBudget  int
}

// ResolveRollout applies the CRD's defaults (the API server applies them too; objects built in Go may lack
// them) and turns maxUnavailable into a node count for a policy matching `matched` nodes: a percentage
// rounds down but never below 1, so a rollout always makes progress.
func ResolveRollout(r v1alpha1.Rollout, matched int) (Rollout, error) {
	out := Rollout{MaxUnavailable: 1, Disruption: r.Disruption, Pause: r.Pause, FailureBudget: 1}
	if out.Disruption == "" {
		out.Disruption = v1alpha1.DisruptionCordon
	}
	switch out.Disruption {
	case v1alpha1.DisruptionNone, v1alpha1.DisruptionCordon, v1alpha1.DisruptionDrain:
	default:
		return Rollout{}, fmt.Errorf("spec.rollout.disruption: invalid value %q: allowed none, cordon or drain", out.Disruption)
	}
	if r.FailureBudget != nil {
		if *r.FailureBudget < 0 {
			return Rollout{}, fmt.Errorf("spec.rollout.failureBudget: invalid value %d: allowed 0 or more", *r.FailureBudget)
		}
		out.FailureBudget = int(*r.FailureBudget)
	}
	if r.MaxUnavailable != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(r.MaxUnavailable, matched, false)
		if err != nil || (r.MaxUnavailable.Type == intstr.Int && n < 1) {
			return Rollout{}, fmt.Errorf("spec.rollout.maxUnavailable: invalid value %q: allowed a count of at least 1 or a percentage from 1%% to 100%%", r.MaxUnavailable.String())
		}
		out.MaxUnavailable = max(n, 1)
	}
	return out, nil
}

// Observed converts the `show --json` document into the API's status.observed.
func Observed(h *sriov.Host) (*v1alpha1.HostState, error) {
	out := &v1alpha1.HostState{}
	return out, roundTrip(h, out)
}

// PlanOf converts a plan (the `plan --json` document) into the API's status.plan.
func PlanOf(p *plan.Plan) (*v1alpha1.Plan, error) {
	out := &v1alpha1.Plan{}
	if err := roundTrip(p, out); err != nil {
		return nil, err
	}
	if out.Ops == nil {
		out.Ops = []v1alpha1.Op{} // "no changes" reads as an empty list, as plan --json prints it
	}
	return out, nil
}

// roundTrip copies a project document into its API mirror through JSON: the two have the same JSON by
// construction (api/v1alpha1's tests), so nothing is lost.
func roundTrip(from, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, to)
}

// DriftOf lists, from a plan between the host and the state last applied, what differs: one entry per
// planned write, the observed value being the write's From and the desired its To.
func DriftOf(p *plan.Plan) []v1alpha1.DriftEntry {
	if p == nil {
		return nil
	}
	out := make([]v1alpha1.DriftEntry, 0, len(p.Ops))
	for _, o := range p.Ops {
		out = append(out, v1alpha1.DriftEntry{PF: o.PF, VF: o.VF, Field: string(o.Kind),
			Desired: o.To.Format(o.Kind), Observed: o.From.Format(o.Kind)})
	}
	return out
}

// Summary is a plan's one-line summary as `sriovctl plan` ends it (status.planSummary).
func Summary(p *plan.Plan) string {
	if p == nil {
		return ""
	}
	s := p.Summary()
	if len(p.Problems) > 0 {
		s += fmt.Sprintf(", %d problems", len(p.Problems))
	}
	return s
}
