package nodeagent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

// TestFleet runs the fleet scenarios against one control plane, each on its own nodes and policies.
func TestFleet(t *testing.T) {
	e := startEnv(t)
	t.Run("disruptive and non-disruptive rollouts", func(t *testing.T) { testRollouts(t, e) })
	t.Run("failed apply and failure budget", func(t *testing.T) { testFailureBudget(t, e) })
	t.Run("pause", func(t *testing.T) { testPause(t, e) })
	t.Run("conflict", func(t *testing.T) { testConflict(t, e) })
	t.Run("relabel", func(t *testing.T) { testRelabel(t, e) })
	t.Run("agent killed holding a slot", func(t *testing.T) { testKilled(t, e) })
	t.Run("drain", func(t *testing.T) { testDrain(t, e) })
}

// testRollouts: 8 nodes, a disruptive change with maxUnavailable 2 never has more than 2 nodes holding a
// slot or cordoned; then a non-disruptive change reaches them all in parallel without slot or cordon.
func testRollouts(t *testing.T, e *env) {
	f := e.fleet(t, "roll", 8, options{})
	rec := f.record()
	gen := f.policy("roll", `policy: {pfs: [{name: ens1f0, numVfs: 4}]}
rollout: {maxUnavailable: 2, disruption: cordon}`)
	f.converged("roll", gen, 60*time.Second)
	// 0 -> 4 VFs destroys nothing: no slot, no cordon.
	if s := rec.snapshot(); s.maxHolders != 0 || s.maxCordoned != 0 {
		t.Errorf("creating VFs took slots (%d) or cordoned nodes (%d)", s.maxHolders, s.maxCordoned)
	}

	rec.reset()
	start := time.Now()
	gen = f.policy("roll", `policy: {pfs: [{name: ens1f0, numVfs: 2}]}
rollout: {maxUnavailable: 2, disruption: cordon}`)
	f.converged("roll", gen, 90*time.Second)
	t.Logf("disruptive change on 8 nodes, maxUnavailable 2: converged in %s", time.Since(start).Round(time.Millisecond))
	s := rec.snapshot()
	if s.maxHolders > 2 || s.maxCordoned > 2 {
		t.Errorf("at one moment %d nodes held a slot and %d were cordoned; maxUnavailable is 2", s.maxHolders, s.maxCordoned)
	}
	if s.maxHolders == 0 || len(s.everCordoned) != 8 {
		t.Errorf("the disruptive change took %d slots at most and cordoned %d of 8 nodes", s.maxHolders, len(s.everCordoned))
	}
	for _, nd := range f.nodes {
		if got := nd.numVFs(t, "ens1f0"); got != 2 {
			t.Errorf("%s: %d VFs, want 2", nd.name, got)
		}
	}
	eventually(t, 10*time.Second, "slots released, nodes uncordoned", func() string {
		if h := f.leaseHolders("roll"); len(h) > 0 {
			return fmt.Sprintf("slots held by %v", h)
		}
		for _, nd := range f.nodes {
			if f.unschedulable(nd.name) {
				return nd.name + " still cordoned"
			}
		}
		return ""
	})
	f.policyCounts("roll", 8, 8, 0)

	// A non-disruptive change: a VLAN on every VF. Each write takes 150ms on every lab, so that
	// simultaneous applies are visible.
	for _, nd := range f.nodes {
		if err := nd.lab.SetFault(lab.FaultConfig{Delay: 150 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	rec.reset()
	start = time.Now()
	gen = f.policy("roll", `policy: {pfs: [{name: ens1f0, numVfs: 2, vfs: [{ids: "0-1", vlan: 100}]}]}
rollout: {maxUnavailable: 2, disruption: cordon}`)
	f.converged("roll", gen, 60*time.Second)
	t.Logf("non-disruptive change on 8 nodes: converged in %s", time.Since(start).Round(time.Millisecond))
	s = rec.snapshot()
	if len(s.takes) > 0 || s.maxCordoned > 0 {
		t.Errorf("a non-disruptive change took slots %v or cordoned %d nodes", s.takes, s.maxCordoned)
	}
	if s.maxApplying <= 2 {
		t.Errorf("at most %d nodes applied at once; a non-disruptive change should reach them in parallel (phase changes %v)", s.maxApplying, s.changes)
	}
	f.policyCounts("roll", 8, 8, 0)
}

// policyCounts waits until the policy's status shows these counts (the agents write it).
func (f *fleet) policyCounts(name string, matched, converged, failed int32) {
	f.t.Helper()
	eventually(f.t, 15*time.Second, "policy "+name+" status", func() string {
		p := f.getPolicy(name)
		st := p.Status
		if st.Matched != matched || st.Converged != converged || st.Failed != failed || st.ObservedGeneration != p.Generation {
			return fmt.Sprintf("matched %d converged %d applying %d failed %d (generation %d of %d); want %d/%d/-/%d",
				st.Matched, st.Converged, st.Applying, st.Failed, st.ObservedGeneration, p.Generation, matched, converged, failed)
		}
		return ""
	})
}

// cond is a condition of a node state or policy, or a zero one.
func cond(conds []metav1.Condition, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// show is the node's host as `sriovctl show --json` prints it, for "unchanged" checks.
func (nd *node) show(t *testing.T) string {
	t.Helper()
	h, err := nd.lab.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return applytest.Normalize(h)
}

// testFailureBudget: an apply the host refuses leaves that host as it was and the node Degraded while
// the others converge; a second failed node, beyond failureBudget 1, pauses the rollout.
func testFailureBudget(t *testing.T, e *env) {
	f := e.fleet(t, "fail", 4, options{backoff: time.Minute}) // a failed node stays failed for the test
	rollout := "rollout: {maxUnavailable: 1, disruption: cordon, failureBudget: 1}"
	gen := f.policy("fail", "policy: {pfs: [{name: ens1f0, numVfs: 4}]}\n"+rollout)
	f.converged("fail", gen, 60*time.Second)

	bad := f.nodes[0]
	before := bad.show(t)
	if err := bad.lab.SetFault(lab.FaultConfig{FailAt: 1, Errno: "EBUSY"}); err != nil {
		t.Fatal(err)
	}
	gen = f.policy("fail", "policy: {pfs: [{name: ens1f0, numVfs: 2}]}\n"+rollout)
	f.converged("fail", gen, 60*time.Second, f.nodes[1:]...)
	eventually(t, 20*time.Second, bad.name+" Degraded", func() string {
		s := f.state(bad.name).Status
		if s.Phase != v1alpha1.PhaseDegraded || cond(s.Conditions, v1alpha1.NodeDegraded).Status != metav1.ConditionTrue || !strings.Contains(s.LastError, "busy") {
			return fmt.Sprintf("phase %s, lastError %q", s.Phase, s.LastError)
		}
		return ""
	})
	if got := bad.show(t); got != before {
		t.Errorf("the failed apply changed %s's host:\n%s", bad.name, applytest.Diff(got, before))
	}
	f.policyCounts("fail", 4, 3, 1)
	if p := f.getPolicy("fail"); p.Status.Paused {
		t.Errorf("one failure within failureBudget 1 paused the rollout: %+v", p.Status.Conditions)
	}
	eventually(t, 10*time.Second, "slot released after the failure", func() string {
		if h := f.leaseHolders("fail"); len(h) > 0 {
			return fmt.Sprintf("held by %v", h)
		}
		if f.unschedulable(bad.name) {
			return bad.name + " still cordoned"
		}
		return ""
	})

	// A second node fails the next change: 2 failed > failureBudget 1.
	if err := f.nodes[1].lab.SetFault(lab.FaultConfig{FailAt: 1, Errno: "EBUSY"}); err != nil {
		t.Fatal(err)
	}
	rec := f.record()
	gen = f.policy("fail", "policy: {pfs: [{name: ens1f0, numVfs: 3}]}\n"+rollout)
	var pausedAt time.Time
	eventually(t, 60*time.Second, "the rollout pauses itself", func() string {
		p := f.getPolicy("fail")
		c := cond(p.Status.Conditions, v1alpha1.PolicyPaused)
		if !p.Status.Paused || c.Reason != "FailureBudgetExceeded" || p.Status.Failed != 2 {
			return fmt.Sprintf("paused %v failed %d, Paused condition %s: %s", p.Status.Paused, p.Status.Failed, c.Reason, c.Message)
		}
		pausedAt = time.Now()
		return ""
	})
	time.Sleep(2 * time.Second)
	// What an operator sees of a new disruptive apply: a node draining or applying. (A node may still take
	// a slot and give it back at once, having found the failures on the live node states.)
	for _, c := range rec.snapshot().changes {
		if c.at.After(pausedAt) && (c.phase == v1alpha1.PhaseDraining || c.phase == v1alpha1.PhaseApplying) {
			t.Errorf("%s went %s at %s, after the rollout paused at %s", c.node, c.phase, c.at.Format(time.StampMilli), pausedAt.Format(time.StampMilli))
		}
	}
	for _, nd := range f.nodes[2:] {
		s := f.state(nd.name).Status
		c := cond(s.Conditions, v1alpha1.NodeApplying)
		if s.AppliedGenerations["fail"] != gen && (s.Phase != v1alpha1.PhaseWaiting || !strings.Contains(c.Message, "failure budget")) {
			t.Errorf("%s neither converged nor waits for the paused rollout: phase %s, %s: %s", nd.name, s.Phase, c.Reason, c.Message)
		}
	}
}

// testPause: spec.rollout.pause holds back disruptive applies (no slot, no cordon); unpausing resumes.
func testPause(t *testing.T, e *env) {
	f := e.fleet(t, "pause", 3, options{})
	gen := f.policy("pause", "policy: {pfs: [{name: ens1f0, numVfs: 4}]}")
	f.converged("pause", gen, 60*time.Second)
	rec := f.record()
	f.policy("pause", "policy: {pfs: [{name: ens1f0, numVfs: 2}]}\nrollout: {pause: true}")
	eventually(t, 20*time.Second, "every node waits for the paused rollout", func() string {
		for _, nd := range f.nodes {
			s := f.state(nd.name).Status
			c := cond(s.Conditions, v1alpha1.NodeApplying)
			if s.Phase != v1alpha1.PhaseWaiting || c.Reason != "Paused" || s.PlanSummary != "2 changes (1 disruptive)" {
				return fmt.Sprintf("%s: phase %s, plan %q, %s: %s", nd.name, s.Phase, s.PlanSummary, c.Reason, c.Message)
			}
		}
		return ""
	})
	p := f.getPolicy("pause")
	if c := cond(p.Status.Conditions, v1alpha1.PolicyPaused); !p.Status.Paused || c.Reason != "Requested" {
		t.Errorf("policy status paused %v, Paused %s %s", p.Status.Paused, c.Status, c.Reason)
	}
	time.Sleep(time.Second)
	if s := rec.snapshot(); len(s.takes) > 0 || s.maxCordoned > 0 {
		t.Errorf("a paused rollout took slots %v or cordoned %d nodes", s.takes, s.maxCordoned)
	}
	for _, nd := range f.nodes {
		if got := nd.numVFs(t, "ens1f0"); got != 4 {
			t.Errorf("%s: %d VFs while paused, want 4", nd.name, got)
		}
	}
	gen = f.policy("pause", "policy: {pfs: [{name: ens1f0, numVfs: 2}]}\nrollout: {pause: false}")
	f.converged("pause", gen, 60*time.Second)
	for _, nd := range f.nodes {
		if got := nd.numVFs(t, "ens1f0"); got != 2 {
			t.Errorf("%s: %d VFs after unpausing, want 2", nd.name, got)
		}
	}
}

// testConflict: two policies want different VF counts on one PF: Conflict on the node and on both
// policies, that PF untouched, the PF only one of them names applied.
func testConflict(t *testing.T, e *env) {
	f := e.fleet(t, "conflict", 1, options{nics: []lab.NIC{{Name: "ens1f0", Profile: "ice", TotalVFs: 8}, {Name: "ens2f0", Profile: "ice", TotalVFs: 8}}})
	nd := f.nodes[0]
	f.policy("conflict-a", "policy: {pfs: [{name: ens1f0, numVfs: 4}, {name: ens2f0, numVfs: 2}]}")
	f.policy("conflict-b", "policy: {pfs: [{name: ens1f0, numVfs: 6}]}")
	eventually(t, 30*time.Second, "Conflict on the node", func() string {
		s := f.state(nd.name).Status
		c := cond(s.Conditions, v1alpha1.NodeConflict)
		if s.Phase != v1alpha1.PhaseConflict || c.Status != metav1.ConditionTrue ||
			!strings.Contains(c.Message, "ens1f0 numVfs: policy conflict-a wants 4, policy conflict-b wants 6") {
			return fmt.Sprintf("phase %s, Conflict %s: %s", s.Phase, c.Status, c.Message)
		}
		return ""
	})
	for _, name := range []string{"conflict-a", "conflict-b"} {
		eventually(t, 15*time.Second, "Conflict on policy "+name, func() string {
			c := cond(f.getPolicy(name).Status.Conditions, v1alpha1.PolicyConflict)
			if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, nd.name) {
				return fmt.Sprintf("Conflict %s: %s", c.Status, c.Message)
			}
			return ""
		})
	}
	eventually(t, 15*time.Second, "the PF no policy disagrees on is applied", func() string {
		if got := nd.numVFs(t, "ens2f0"); got != 2 {
			return fmt.Sprintf("ens2f0 has %d VFs", got)
		}
		return ""
	})
	if got := nd.numVFs(t, "ens1f0"); got != 0 {
		t.Errorf("ens1f0, which the policies disagree on, has %d VFs; want it untouched (0)", got)
	}
}

// testRelabel: labelling a node brings it under a policy; removing the label takes it out and leaves its
// host as it is.
func testRelabel(t *testing.T, e *env) {
	f := e.fleet(t, "relabel", 1, options{})
	nd := f.nodes[0]
	gen := f.policy("relabel", "nodeSelector: {matchLabels: {sriovctl.io/nic: e810}}\npolicy: {pfs: [{name: ens1f0, numVfs: 4}]}")
	eventually(t, 15*time.Second, "an unselected node", func() string {
		s := f.state(nd.name).Status
		if s.Phase != v1alpha1.PhaseConverged || len(s.Policies) != 0 {
			return fmt.Sprintf("phase %s, policies %v", s.Phase, s.Policies)
		}
		return ""
	})
	f.policyCounts("relabel", 0, 0, 0)
	relabel := func(v *string) {
		var n corev1.Node
		if err := f.e.c.Get(context.Background(), types.NamespacedName{Name: nd.name}, &n); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			delete(n.Labels, "sriovctl.io/nic")
		} else {
			n.Labels["sriovctl.io/nic"] = *v
		}
		if err := f.e.c.Update(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
	}
	e810 := "e810"
	relabel(&e810)
	f.converged("relabel", gen, 30*time.Second)
	if got := nd.numVFs(t, "ens1f0"); got != 4 {
		t.Errorf("labelled node: %d VFs, want 4", got)
	}
	f.policyCounts("relabel", 1, 1, 0)
	relabel(nil)
	eventually(t, 15*time.Second, "the node leaves the policy", func() string {
		s := f.state(nd.name).Status
		if len(s.Policies) != 0 || s.Phase != v1alpha1.PhaseConverged {
			return fmt.Sprintf("phase %s, policies %v", s.Phase, s.Policies)
		}
		return ""
	})
	f.policyCounts("relabel", 0, 0, 0)
	if got := nd.numVFs(t, "ens1f0"); got != 4 {
		t.Errorf("a node leaving a policy keeps its VFs: %d, want 4", got)
	}
}

// testKilled: an agent killed while it holds a slot does not block the rollout: its slot expires and
// another node takes it; restarted, the agent converges and uncordons its node.
func testKilled(t *testing.T, e *env) {
	f := e.fleet(t, "kill", 3, options{leaseDuration: 2 * time.Second})
	rollout := "rollout: {maxUnavailable: 1, disruption: cordon}"
	gen := f.policy("kill", "policy: {pfs: [{name: ens1f0, numVfs: 4}]}\n"+rollout)
	f.converged("kill", gen, 60*time.Second)
	for _, nd := range f.nodes { // slow writes: the first node is still applying when it is killed
		if err := nd.lab.SetFault(lab.FaultConfig{Delay: 700 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	rec := f.record()
	gen = f.policy("kill", "policy: {pfs: [{name: ens1f0, numVfs: 2}]}\n"+rollout)
	var victim *node
	eventually(t, 30*time.Second, "a node takes the slot", func() string {
		h := f.leaseHolders("kill")
		if len(h) == 0 {
			return "no holder"
		}
		for _, nd := range f.nodes {
			if nd.name == h[0] {
				victim = nd
			}
		}
		return ""
	})
	killedAt := time.Now()
	f.kill(victim)
	if err := victim.lab.SetFault(lab.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	var others []*node
	for _, nd := range f.nodes {
		if nd != victim {
			others = append(others, nd)
		}
	}
	f.converged("kill", gen, 60*time.Second, others...)
	s := rec.snapshot()
	if s.maxHolders > 1 {
		t.Errorf("%d nodes held the slot at once (maxUnavailable 1)", s.maxHolders)
	}
	// The killed agent released nothing: its slot went to another node when it expired.
	for _, r := range s.releases {
		if r.holder == victim.name && r.at.After(killedAt) {
			t.Errorf("the killed agent's slot %s was released at %s", r.lease, r.at.Format(time.StampMilli))
		}
	}
	if !slices.ContainsFunc(s.takes, func(tk take) bool { return tk.at.After(killedAt) && tk.holder != victim.name }) {
		t.Errorf("no other node took the slot after the kill: takes %v", s.takes)
	}
	f.start(victim)
	f.converged("kill", gen, 60*time.Second)
	if got := victim.numVFs(t, "ens1f0"); got != 2 {
		t.Errorf("restarted %s: %d VFs, want 2", victim.name, got)
	}
	eventually(t, 10*time.Second, "restarted node uncordoned, slot free", func() string {
		if f.unschedulable(victim.name) {
			return victim.name + " still cordoned"
		}
		if h := f.leaseHolders("kill"); len(h) > 0 {
			return fmt.Sprintf("slot held by %v", h)
		}
		return ""
	})
}

// testDrain: drain mode evicts the node's pods through the Eviction API, keeps DaemonSet pods, and waits,
// saying why, while a PodDisruptionBudget forbids an eviction.
func testDrain(t *testing.T, e *env) {
	f := e.fleet(t, "drain", 1, options{})
	nd := f.nodes[0]
	ctx := context.Background()
	rollout := "rollout: {disruption: drain}"
	gen := f.policy("drain", "policy: {pfs: [{name: ens1f0, numVfs: 4}]}\n"+rollout)
	f.converged("drain", gen, 30*time.Second)

	zero := int64(0)
	pod := func(name string, owner []metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}, OwnerReferences: owner},
			Spec: corev1.PodSpec{NodeName: nd.name, TerminationGracePeriodSeconds: &zero, Containers: []corev1.Container{{Name: "c", Image: "example"}}}}
	}
	yes := true
	web, ds := pod("web", nil), pod("ds", []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "0000", Controller: &yes}})
	for _, p := range []*corev1.Pod{web, ds} {
		if err := f.e.c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		// Running and ready, as a kubelet would report: the Eviction API lets pending pods go regardless.
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if err := f.e.c.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if err := f.e.c.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	// No disruption controller runs here: write the budget's status as it would (1 healthy, 1 needed).
	setBudget := func(allowed int32) {
		if err := f.e.c.Get(ctx, client.ObjectKeyFromObject(pdb), pdb); err != nil {
			t.Fatal(err)
		}
		pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed,
			CurrentHealthy: 1, DesiredHealthy: 1 - allowed, ExpectedPods: 1}
		if err := f.e.c.Status().Update(ctx, pdb); err != nil {
			t.Fatal(err)
		}
	}
	setBudget(0)

	gen = f.policy("drain", "policy: {pfs: [{name: ens1f0, numVfs: 2}]}\n"+rollout)
	eventually(t, 30*time.Second, "the drain waits for the PodDisruptionBudget", func() string {
		s := f.state(nd.name).Status
		c := cond(s.Conditions, v1alpha1.NodeApplying)
		if s.Phase != v1alpha1.PhaseWaiting || c.Reason != "WaitingForPodDisruptionBudget" || !strings.Contains(c.Message, "default/web") {
			return fmt.Sprintf("phase %s, %s: %s", s.Phase, c.Reason, c.Message)
		}
		return ""
	})
	if !f.unschedulable(nd.name) {
		t.Error("a node being drained is not cordoned")
	}
	if got := nd.numVFs(t, "ens1f0"); got != 4 {
		t.Errorf("applied before the drain finished: %d VFs", got)
	}
	setBudget(1)
	f.converged("drain", gen, 30*time.Second)
	if err := f.e.c.Get(ctx, client.ObjectKeyFromObject(web), web); !apierrors.IsNotFound(err) && web.DeletionTimestamp == nil {
		t.Errorf("pod web was not evicted: %v", err)
	}
	if err := f.e.c.Get(ctx, client.ObjectKeyFromObject(ds), ds); err != nil || ds.DeletionTimestamp != nil {
		t.Errorf("the DaemonSet's pod was evicted: %v", err)
	}
	if got := nd.numVFs(t, "ens1f0"); got != 2 {
		t.Errorf("after the drain: %d VFs, want 2", got)
	}
	eventually(t, 10*time.Second, "uncordoned", func() string {
		if f.unschedulable(nd.name) {
			return "still cordoned"
		}
		return ""
	})
}
