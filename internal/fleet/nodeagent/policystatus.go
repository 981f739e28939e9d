package nodeagent

import (
	"context"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/fleet"
)

// Policy statuses are written by the agents themselves, there being no controller. Each policy has one
// writer: the agent of its first matched node (by name) that is alive, i.e. whose node state was published
// within two heartbeats. It recomputes the status (fleet.PolicyStatus over its caches and its own latest
// node state) whenever a policy, Node or node state changed, and writes it when it differs, with
// optimistic concurrency (an update carrying the resourceVersion it read; on a conflict it reads again and
// recomputes), so that a rollout over N nodes costs about one status write per change of a node, not one
// per agent. A policy selecting no node is written by any agent: its status does not depend on who
// computes it, so only the first write differs.

// kickStatus asks for the policy statuses to be recomputed; bursts merge into one.
func (n *NodeAgent) kickStatus() {
	select {
	case n.statusKick <- struct{}{}:
	default:
	}
}

func (n *NodeAgent) policyStatusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.statusKick:
		}
		select { // gather the burst
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.StatusDelay):
		}
		n.writePolicyStatuses(ctx)
	}
}

func (n *NodeAgent) writePolicyStatuses(ctx context.Context) {
	n.mu.Lock()
	var names []string
	for p := range n.selected {
		names = append(names, p)
	}
	n.mu.Unlock()
	// A policy that selects no node has no agent of its own: every agent writes its (node-independent)
	// status, which they all compute alike, so only the first write differs.
	var all v1alpha1.SriovHostPolicyList
	if err := n.c.List(ctx, &all); err == nil {
		for i := range all.Items {
			p := &all.Items[i]
			if slices.Contains(names, p.Name) || (p.Status.ObservedGeneration == p.Generation && p.Status.Matched == 0) {
				continue
			}
			if matched, err := n.matched(ctx, p, false); err == nil && len(matched) == 0 {
				names = append(names, p.Name)
			}
		}
	}
	slices.Sort(names)
	for _, name := range names {
		stillSelected, err := n.writePolicyStatus(ctx, name)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("updating a policy's status failed; retried at the next change", "policy", name, "err", err)
			}
			continue
		}
		if !stillSelected { // its status now counts this node out: no longer this agent's business
			n.mu.Lock()
			delete(n.selected, name)
			n.mu.Unlock()
		}
	}
}

// writePolicyStatus recomputes one policy's status and writes it if it changed; it reports whether the
// policy still selects this node.
// Only the policy's writer (see above) writes.
func (n *NodeAgent) writePolicyStatus(ctx context.Context, name string) (bool, error) {
	selects := true
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		r := n.live
		if first {
			r = n.c
		}
		first = false
		var p v1alpha1.SriovHostPolicy
		if err := r.Get(ctx, types.NamespacedName{Name: name}, &p); err != nil {
			if apierrors.IsNotFound(err) {
				selects = false
				return nil
			}
			return err
		}
		matched, err := n.matched(ctx, &p, false)
		if err != nil {
			return err
		}
		selects = slices.ContainsFunc(matched, func(v fleet.NodeView) bool { return v.Name == n.cfg.NodeName })
		if w := n.writerOf(matched); w != "" && w != n.cfg.NodeName {
			return nil
		}
		_, verr := fleet.PolicyOf(p.Spec.Policy)
		st := fleet.PolicyStatus(&p, matched, verr, metav1.NewTime(time.Now()))
		if equality.Semantic.DeepEqual(p.Status, st) {
			return nil
		}
		p.Status = st
		return n.c.Status().Update(ctx, &p)
	})
	return selects, err
}

// writerOf names the node whose agent writes the status of a policy matching these nodes: the first by
// name whose state was published lately ("" when there is none).
func (n *NodeAgent) writerOf(matched []fleet.NodeView) string {
	alive := time.Now().Add(-2*n.cfg.Heartbeat - time.Minute)
	w := ""
	for _, v := range matched {
		fresh := v.Name == n.cfg.NodeName ||
			v.State != nil && v.State.Status.ObservedAt != nil && v.State.Status.ObservedAt.After(alive)
		if fresh && (w == "" || strings.Compare(v.Name, w) < 0) {
			w = v.Name
		}
	}
	return w
}
