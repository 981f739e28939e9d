package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Slot Leases are named <policy>-slot-<i> for i < maxUnavailable and carry these.
const (
	slotLabel      = "sriovctl.io/rollout-slot"
	slotPolicyAnno = "sriovctl.io/policy"
)

// slots are a node's rollout slots: one coordination.k8s.io Lease per slot of a policy, held by at most one
// node (holderIdentity, renewed every third of its duration). A slot whose holder stopped renewing it is
// free again after leaseDurationSeconds: a dead node cannot block a rollout. Taking and giving back go
// through optimistic concurrency (resourceVersion), so two nodes never hold one slot.
type slots struct {
	c        client.Client
	live     client.Reader
	ns       string
	holder   string
	duration time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	held map[string]string // policy -> Lease name
}

func slotName(policy string, i int) string { return policy + "-slot-" + strconv.Itoa(i) }

// valid reports whether a Lease is held by someone whose hold has not expired.
func valid(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return false
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return false
	}
	return now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// policyLeases lists the slot Leases of one policy, read live.
func (s *slots) policyLeases(ctx context.Context, policy string) ([]coordinationv1.Lease, error) {
	var list coordinationv1.LeaseList
	if err := s.live.List(ctx, &list, client.InNamespace(s.ns), client.MatchingLabels{slotLabel: "true"}); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(l coordinationv1.Lease) bool { return l.Annotations[slotPolicyAnno] != policy }), nil
}

// holds reports whether this node holds a slot of policy.
func (s *slots) holds(policy string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[policy]
	return ok
}

// heldPolicies lists the policies of which this node holds a slot.
func (s *slots) heldPolicies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.held {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// adopt finds the slots this node held before a restart (by holder identity), so that it resumes with
// them rather than taking more.
func (s *slots) adopt(ctx context.Context) error {
	var list coordinationv1.LeaseList
	if err := s.live.List(ctx, &list, client.InNamespace(s.ns), client.MatchingLabels{slotLabel: "true"}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range list.Items {
		if holderOf(&l) == s.holder && l.Annotations[slotPolicyAnno] != "" {
			s.held[l.Annotations[slotPolicyAnno]] = l.Name
			s.log.Info("resuming with the rollout slot held before a restart", "lease", l.Name)
		}
	}
	return nil
}

// acquire takes a slot of policy unless max nodes hold one already; it returns the holders when none is
// free. A slot already held is kept (renewed).
func (s *slots) acquire(ctx context.Context, policy string, max int) (bool, []string, error) {
	if s.holds(policy) {
		return true, nil, nil
	}
	leases, err := s.policyLeases(ctx, policy)
	if err != nil {
		return false, nil, err
	}
	now := time.Now()
	byName := map[string]*coordinationv1.Lease{}
	var holders []string
	for i := range leases {
		l := &leases[i]
		byName[l.Name] = l
		if valid(l, now) {
			holders = append(holders, holderOf(l))
		}
	}
	slices.Sort(holders)
	if len(holders) >= max { // counts slots beyond max too: maxUnavailable may just have shrunk
		return false, holders, nil
	}
	for i := 0; i < max; i++ {
		name := slotName(policy, i)
		l, ok := byName[name]
		switch {
		case !ok:
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns,
				Labels: map[string]string{slotLabel: "true", "app.kubernetes.io/managed-by": "sriovctl"}, Annotations: map[string]string{slotPolicyAnno: policy}}}
			s.fill(l, now, true)
			err = s.c.Create(ctx, l)
		case valid(l, now):
			continue
		default:
			s.fill(l, now, true)
			err = s.c.Update(ctx, l)
		}
		switch {
		case err == nil:
			s.mu.Lock()
			s.held[policy] = name
			s.mu.Unlock()
			return true, nil, nil
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			continue // another node was quicker: try the next slot
		default:
			return false, nil, fmt.Errorf("rollout slot %s: %w", name, err)
		}
	}
	return false, holders, nil
}

// fill makes l held by this node from now.
func (s *slots) fill(l *coordinationv1.Lease, now time.Time, take bool) {
	secs := int32(s.duration / time.Second)
	t := metav1.NewMicroTime(now)
	l.Spec.HolderIdentity = &s.holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &t
	if take {
		l.Spec.AcquireTime = &t
		n := int32(1)
		if l.Spec.LeaseTransitions != nil {
			n = *l.Spec.LeaseTransitions + 1
		}
		l.Spec.LeaseTransitions = &n
	}
}

// release gives back the slot of policy, if this node holds it. The Lease stays, free, for the next node.
func (s *slots) release(ctx context.Context, policy string) error {
	s.mu.Lock()
	name, ok := s.held[policy]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	err := s.update(ctx, name, func(l *coordinationv1.Lease) bool {
		l.Spec.HolderIdentity, l.Spec.RenewTime, l.Spec.AcquireTime = nil, nil, nil
		return true
	})
	if err != nil {
		return fmt.Errorf("releasing rollout slot %s: %w", name, err)
	}
	s.mu.Lock()
	delete(s.held, policy)
	s.mu.Unlock()
	return nil
}

// update changes this node's Lease name with f, retrying on conflicts; a Lease gone or held by another
// node (ours expired and was taken) is left alone.
func (s *slots) update(ctx context.Context, name string, f func(*coordinationv1.Lease) bool) error {
	for attempt := 0; ; attempt++ {
		var l coordinationv1.Lease
		if err := s.live.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: name}, &l); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		if holderOf(&l) != s.holder {
			return nil
		}
		if !f(&l) {
			return nil
		}
		err := s.c.Update(ctx, &l)
		if err == nil || !apierrors.IsConflict(err) || attempt == 4 {
			return err
		}
	}
}

// releaseAll gives back every slot this node holds.
func (s *slots) releaseAll(ctx context.Context) error {
	var errs []string
	for _, p := range s.heldPolicies() {
		if err := s.release(ctx, p); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// renewLoop renews the held slots every third of their duration until ctx ends. A slot found taken by
// another node (this one stopped renewing for longer than the duration) is forgotten.
func (s *slots) renewLoop(ctx context.Context) {
	t := time.NewTicker(s.duration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		held := maps.Clone(s.held)
		s.mu.Unlock()
		for policy, name := range held {
			lost := true
			err := s.update(ctx, name, func(l *coordinationv1.Lease) bool {
				lost = false
				s.fill(l, time.Now(), false)
				return true
			})
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("renewing a rollout slot failed", "lease", name, "err", err)
				}
				continue
			}
			if lost {
				s.log.Warn("a rollout slot expired and another node took it", "lease", name)
				s.mu.Lock()
				if s.held[policy] == name {
					delete(s.held, policy)
				}
				s.mu.Unlock()
			}
		}
	}
}
