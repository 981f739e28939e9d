package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/fleet"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// desiredMeta is what one Load found beside the merged policy: which policies (at which generations) it
// came from, which were left out and why. The node state and the rollout decisions read it.
type desiredMeta struct {
	desired *agent.Desired
	// policies are every policy selecting the node, sorted; generations those merged (valid ones).
	policies    []string
	generations map[string]int64
	// invalid maps a selected policy the validator refused (or whose selector is broken) to why.
	invalid   map[string]string
	conflicts []fleet.Conflict
	// mergeErr is set when the union of the valid policies is invalid as a whole: nothing is applied.
	mergeErr error
	// pfPolicies maps a PF key (PCI address where known) to the merged policies that name it.
	pfPolicies map[string][]string
	canonical  func(string) string
}

// Name implements agent.Source.
func (n *NodeAgent) Name() string {
	return "SriovHostPolicies selecting node " + n.cfg.NodeName
}

// Load implements agent.Source: the valid policies selecting the node, merged. A conflict or an invalid
// policy is not an error (the rest still applies; the node state reports it); only an unreachable API or
// a missing Node is.
func (n *NodeAgent) Load(ctx context.Context) (*agent.Desired, error) {
	if err := n.waitSynced(ctx); err != nil {
		return nil, err
	}
	var node corev1.Node
	if err := n.c.Get(ctx, types.NamespacedName{Name: n.cfg.NodeName}, &node); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.cfg.NodeName, err)
	}
	var list v1alpha1.SriovHostPolicyList
	if err := n.c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing SriovHostPolicies: %w", err)
	}
	m := &desiredMeta{generations: map[string]int64{}, invalid: map[string]string{}, pfPolicies: map[string][]string{}}
	m.canonical = n.canonical()
	var sel []fleet.Selected
	for i := range list.Items {
		p := &list.Items[i]
		ok, err := fleet.Selects(p, node.Labels)
		if err != nil {
			m.policies = append(m.policies, p.Name)
			m.invalid[p.Name] = err.Error()
			continue
		}
		if !ok {
			continue
		}
		m.policies = append(m.policies, p.Name)
		pol, err := fleet.PolicyOf(p.Spec.Policy)
		if err != nil {
			m.invalid[p.Name] = err.Error()
			continue
		}
		sel = append(sel, fleet.Selected{Name: p.Name, Generation: p.Generation, Policy: pol})
		m.generations[p.Name] = p.Generation
		for _, pf := range pol.PFs {
			k := m.canonical(pf.Ref())
			if !slices.Contains(m.pfPolicies[k], p.Name) {
				m.pfPolicies[k] = append(m.pfPolicies[k], p.Name)
			}
		}
	}
	slices.Sort(m.policies)
	d := &agent.Desired{Origin: "no SriovHostPolicy selects node " + n.cfg.NodeName}
	if len(sel) > 0 {
		merged, err := fleet.Merge(sel, m.canonical)
		if err != nil {
			m.mergeErr = err
			d.Origin = "SriovHostPolicies " + strings.Join(m.policies, ", ") + " (invalid together: nothing applied)"
		} else {
			m.conflicts = merged.Conflicts
			d.Policy = merged.Policy
			d.Data, _ = json.Marshal(merged.Policy)
			var origin []string
			for _, s := range sel {
				origin = append(origin, fmt.Sprintf("%s (generation %d)", s.Name, s.Generation))
			}
			slices.Sort(origin)
			d.Origin = "SriovHostPolicies " + strings.Join(origin, ", ")
		}
	}
	m.desired = d
	n.mu.Lock()
	for _, name := range m.policies {
		n.selected[name] = true
	}
	n.metas = append(n.metas, m)
	if len(n.metas) > 8 {
		n.metas = slices.Delete(n.metas, 0, len(n.metas)-8)
	}
	n.mu.Unlock()
	return d, nil
}

// metaOf finds what the Load that returned d found (nil if that was too long ago).
func (n *NodeAgent) metaOf(d *agent.Desired) *desiredMeta {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.metas) - 1; i >= 0; i-- {
		if n.metas[i].desired == d {
			return n.metas[i]
		}
	}
	return nil
}

// canonical maps a PF reference to its PCI address on the host last observed, so that two policies
// naming one PF differently (netdev name, PCI address) are merged as one.
func (n *NodeAgent) canonical() func(string) string {
	n.mu.Lock()
	var h *sriov.Host
	if n.lastDrift != nil {
		h = n.lastDrift.Observed
	}
	n.mu.Unlock()
	return func(ref string) string {
		if h != nil {
			if pf := h.FindPF(ref); pf != nil {
				return pf.PCIAddress
			}
		}
		return ref
	}
}

// policiesOf names the merged policies that name the PFs a plan writes disruptively, sorted: the
// policies whose rollout slots a disruptive apply needs.
func (m *desiredMeta) policiesOf(pfs []string) []string {
	var out []string
	for _, pf := range pfs {
		for _, p := range m.pfPolicies[m.canonical(pf)] {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 { // a PF known under another name than the host's: every merged policy, to be safe
		for p := range m.generations {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
