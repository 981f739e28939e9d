package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
)

// cordonedAnno on the node's SriovNodeState says that the agent cordoned the node (it was schedulable
// before), so that it uncordons only what it cordoned, even after a restart. It lives there because the
// agent may not annotate its Node (admission.yaml).
const cordonedAnno = "sriovctl.io/cordoned"

// cordon marks the node unschedulable, remembering that the agent did it. A node cordoned by someone else
// is left as it is (and not uncordoned afterwards).
func (n *NodeAgent) cordon(ctx context.Context) error {
	var node corev1.Node
	if err := n.live.Get(ctx, types.NamespacedName{Name: n.cfg.NodeName}, &node); err != nil {
		return fmt.Errorf("cordon: %w", err)
	}
	if node.Spec.Unschedulable {
		return nil
	}
	n.setCordoned(true)
	if err := n.markCordoned(ctx, true); err != nil {
		return fmt.Errorf("cordon: %w", err)
	}
	if err := n.c.Patch(ctx, &node, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`))); err != nil {
		return fmt.Errorf("cordon: %w", err)
	}
	n.log.Info("cordoned the node for a disruptive change")
	return nil
}

// uncordon undoes cordon; a node the agent did not cordon is left alone.
func (n *NodeAgent) uncordon(ctx context.Context) error {
	n.mu.Lock()
	cordoned := n.cordoned
	n.mu.Unlock()
	if !cordoned {
		return nil
	}
	var st v1alpha1.SriovNodeState
	if err := n.live.Get(ctx, types.NamespacedName{Name: n.cfg.NodeName}, &st); err != nil {
		return fmt.Errorf("uncordon: %w", err)
	}
	if st.Annotations[cordonedAnno] != "true" {
		n.setCordoned(false)
		return nil
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.cfg.NodeName}}
	if err := n.c.Patch(ctx, node, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"unschedulable":false}}`))); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("uncordon: %w", err)
	}
	if err := n.markCordoned(ctx, false); err != nil {
		return fmt.Errorf("uncordon: %w", err)
	}
	n.setCordoned(false)
	n.log.Info("uncordoned the node")
	return nil
}

// setCordoned remembers, between API calls, whether the agent's cordon may be in place.
func (n *NodeAgent) setCordoned(on bool) {
	n.mu.Lock()
	n.cordoned = on
	n.mu.Unlock()
}

func (n *NodeAgent) markCordoned(ctx context.Context, on bool) error {
	patch := `{"metadata":{"annotations":{"` + cordonedAnno + `":null}}}`
	if on {
		patch = `{"metadata":{"annotations":{"` + cordonedAnno + `":"true"}}}`
	}
	st := &v1alpha1.SriovNodeState{ObjectMeta: metav1.ObjectMeta{Name: n.cfg.NodeName}}
	return n.c.Patch(ctx, st, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// drain evicts the node's pods through the Eviction API, as `kubectl drain` does: PodDisruptionBudgets
// apply, DaemonSet pods (their controller would put them back at once) and mirror pods (the kubelet's
// static pods) stay, finished pods do not matter. It returns "" once no pod that must go is left, else
// why the node is not drained yet (a budget forbids an eviction, pods still terminating); the next call
// tries again.
func (n *NodeAgent) drain(ctx context.Context) (string, error) {
	var pods corev1.PodList
	if err := n.live.List(ctx, &pods, client.MatchingFields{"spec.nodeName": n.cfg.NodeName}); err != nil {
		return "", fmt.Errorf("drain: listing the node's pods: %w", err)
	}
	var blocked, terminating []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if stays(p) {
			continue
		}
		name := p.Namespace + "/" + p.Name
		if p.DeletionTimestamp != nil {
			terminating = append(terminating, name)
			continue
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		err := n.c.SubResource("eviction").Create(ctx, p, ev)
		switch {
		case err == nil:
			n.log.Info("evicted a pod to drain the node", "pod", name)
			terminating = append(terminating, name)
		case apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			// 429: a PodDisruptionBudget forbids it now; the API server's message says which.
			blocked = append(blocked, fmt.Sprintf("pod %s (%v)", name, err))
		default:
			return "", fmt.Errorf("drain: evicting pod %s: %w", name, err)
		}
	}
	if len(blocked) > 0 {
		return "a PodDisruptionBudget forbids evicting " + strings.Join(blocked, "; "), nil
	}
	if len(terminating) > 0 {
		// Evicted pods may still hold VFs until they are gone: wait for them.
		gone, err := n.podsGone(ctx, terminating)
		if err != nil {
			return "", err
		}
		if !gone {
			return "waiting for evicted pods to terminate: " + strings.Join(terminating, ", "), nil
		}
	}
	return "", nil
}

// stays reports whether a drain leaves the pod on the node.
func stays(p *corev1.Pod) bool {
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return true
	}
	if c := metav1.GetControllerOf(p); c != nil && c.Kind == "DaemonSet" {
		return true
	}
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (n *NodeAgent) podsGone(ctx context.Context, names []string) (bool, error) {
	var pods corev1.PodList
	if err := n.live.List(ctx, &pods, client.MatchingFields{"spec.nodeName": n.cfg.NodeName}); err != nil {
		return false, fmt.Errorf("drain: %w", err)
	}
	for _, p := range pods.Items {
		if slices.Contains(names, p.Namespace+"/"+p.Name) {
			return false, nil
		}
	}
	return true, nil
}
