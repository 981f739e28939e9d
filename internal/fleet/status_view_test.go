package fleet_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/fleet"
)

var statusNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(statusNow.Add(-d)) }

func testNode(name string, cordoned bool, labels map[string]string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Unschedulable: cordoned}}
}

func x710() map[string]string { return map[string]string{"sriovctl.io/nic": "x710"} }

func testPolicy(t *testing.T, name string, gen int64, rollout v1alpha1.Rollout) v1alpha1.SriovHostPolicy {
	return v1alpha1.SriovHostPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen},
		Spec: v1alpha1.SriovHostPolicySpec{
			NodeSelector: &metav1.LabelSelector{MatchLabels: x710()},
			Policy:       doc(t, `{pfs: [{name: ens5f0, numVfs: 4, vfs: [{ids: "0-3", vlan: 100}]}]}`),
			Rollout:      rollout,
		},
	}
}

// testState is a node state as an agent publishes it.
func testState(name string, phase v1alpha1.Phase, applied map[string]int64, conds ...metav1.Condition) v1alpha1.SriovNodeState {
	at := ago(30 * time.Second)
	for i := range conds {
		if conds[i].LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = ago(time.Hour)
		}
	}
	return v1alpha1.SriovNodeState{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: v1alpha1.SriovNodeStateStatus{Phase: phase, Policies: []string{"x710-vms"}, ObservedAt: &at,
			AppliedGenerations: applied, Conditions: conds, PlanSummary: "no changes", Plan: &v1alpha1.Plan{Ops: []v1alpha1.Op{}}}}
}

func cond(typ, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg}
}

func testLease(name, holder string, renewed time.Duration, seconds int32) coordinationv1.Lease {
	t := metav1.NewMicroTime(statusNow.Add(-renewed))
	return coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sriovctl-system"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &t, LeaseDurationSeconds: &seconds}}
}

func nodeByName(t *testing.T, f fleet.FleetStatus, name string) fleet.NodeStatus {
	t.Helper()
	for _, n := range f.Nodes {
		if n.Node == name {
			return n
		}
	}
	t.Fatalf("no node %q in %+v", name, f.Nodes)
	return fleet.NodeStatus{}
}

func TestView(t *testing.T) {
	budget0 := int32(0)
	tests := []struct {
		name  string
		snap  func(t *testing.T) fleet.Snapshot
		check func(t *testing.T, f fleet.FleetStatus)
	}{
		{
			name: "empty cluster: empty lists, not null",
			snap: func(t *testing.T) fleet.Snapshot { return fleet.Snapshot{Now: statusNow} },
			check: func(t *testing.T, f fleet.FleetStatus) {
				data, _ := json.Marshal(f)
				if string(data) != `{"nodes":[],"policies":[]}` {
					t.Errorf("JSON = %s", data)
				}
			},
		},
		{
			name: "a selected node without a state is Unknown; unselected nodes without state are left out",
			snap: func(t *testing.T) fleet.Snapshot {
				return fleet.Snapshot{Now: statusNow, Policies: []v1alpha1.SriovHostPolicy{testPolicy(t, "x710-vms", 1, v1alpha1.Rollout{})},
					Nodes: []corev1.Node{testNode("node-1", false, x710()), testNode("other", false, nil)}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				if len(f.Nodes) != 1 {
					t.Fatalf("nodes = %+v, want node-1 only", f.Nodes)
				}
				n := f.Nodes[0]
				if n.Phase != fleet.PhaseUnknown || !reflect.DeepEqual(n.Policies, []string{"x710-vms"}) || !strings.Contains(n.Message, "agent") || n.AgeSeconds != nil {
					t.Errorf("node = %+v", n)
				}
				if p := f.Policies[0]; p.Matched != 1 || p.Converged != 0 {
					t.Errorf("policy = %+v", p)
				}
			},
		},
		{
			name: "plan summary, counts, drift, age and cordon",
			snap: func(t *testing.T) fleet.Snapshot {
				st := testState("node-1", v1alpha1.PhaseApplying, nil, cond(v1alpha1.NodeApplying, "Applying", "applying 3 writes"))
				st.Status.PlanSummary = "" // counted from the plan then
				st.Status.Plan = &v1alpha1.Plan{Ops: []v1alpha1.Op{{Kind: "numvfs", PF: "ens5f0", VF: -1, Disruptive: true}, {Kind: "vlan", PF: "ens5f0", VF: 0}, {Kind: "vlan", PF: "ens5f0", VF: 1}}}
				st.Status.Drift = []v1alpha1.DriftEntry{{PF: "ens5f0", VF: 0, Field: "vlan", Desired: "100", Observed: "7"}}
				return fleet.Snapshot{Now: statusNow, Policies: []v1alpha1.SriovHostPolicy{testPolicy(t, "x710-vms", 1, v1alpha1.Rollout{})},
					Nodes: []corev1.Node{testNode("node-1", true, x710())}, States: []v1alpha1.SriovNodeState{st}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				n := f.Nodes[0]
				if n.Plan != "3 changes (1 disruptive)" || n.Changes != 3 || n.Disruptive != 1 || n.Phase != "Applying" || !n.Cordoned || n.Message != "applying 3 writes" {
					t.Errorf("node = %+v", n)
				}
				if len(n.Drift) != 1 || n.Drift[0].Observed != "7" {
					t.Errorf("drift = %+v", n.Drift)
				}
				if n.AgeSeconds == nil || *n.AgeSeconds != 30 {
					t.Errorf("age = %v, want 30 s since observedAt", n.AgeSeconds)
				}
				if p := f.Policies[0]; p.Applying != 1 {
					t.Errorf("policy = %+v", p)
				}
			},
		},
		{
			name: "waiting, converged and degraded nodes; failures beyond the budget pause the rollout",
			snap: func(t *testing.T) fleet.Snapshot {
				p := testPolicy(t, "x710-vms", 2, v1alpha1.Rollout{FailureBudget: &budget0, MaxUnavailable: ptr(intstr.FromString("50%"))})
				deg := testState("node-3", v1alpha1.PhaseDegraded, map[string]int64{"x710-vms": 1}, cond(v1alpha1.NodeDegraded, "ApplyFailed", "rolled back"))
				deg.Status.LastError = "set VF 0 vlan: operation not permitted"
				return fleet.Snapshot{Now: statusNow, Policies: []v1alpha1.SriovHostPolicy{p},
					Nodes: []corev1.Node{testNode("node-1", false, x710()), testNode("node-2", false, x710()), testNode("node-3", false, x710()), testNode("node-4", false, x710())},
					States: []v1alpha1.SriovNodeState{
						testState("node-1", v1alpha1.PhaseConverged, map[string]int64{"x710-vms": 2}),
						testState("node-2", v1alpha1.PhaseWaiting, map[string]int64{"x710-vms": 1}, cond(v1alpha1.NodeApplying, "WaitingForSlot", "waiting for a rollout slot of x710-vms (held by node-4)")),
						deg,
						testState("node-4", v1alpha1.PhaseDraining, map[string]int64{"x710-vms": 1}),
					}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				if n := nodeByName(t, f, "node-2"); n.Phase != "Waiting" || n.Message != "waiting for a rollout slot of x710-vms (held by node-4)" {
					t.Errorf("node-2 = %+v", n)
				}
				if n := nodeByName(t, f, "node-3"); n.LastError != "set VF 0 vlan: operation not permitted" || n.Message != "rolled back" {
					t.Errorf("node-3 = %+v", n)
				}
				p := f.Policies[0]
				want := fleet.PolicyRollout{Policy: "x710-vms", Generation: 2, Matched: 4, Converged: 1, Applying: 1, Failed: 1, Waiting: 1,
					MaxUnavailable: "50%", MaxUnavailableNodes: 2, Disruption: "cordon", FailureBudget: 0, Slots: []fleet.Slot{},
					Paused: true, PausedReason: "FailureBudgetExceeded", PausedMessage: p.PausedMessage}
				if !reflect.DeepEqual(p, want) {
					t.Errorf("policy =\n%+v, want\n%+v", p, want)
				}
				if !strings.Contains(p.PausedMessage, "node-3") {
					t.Errorf("paused message %q does not name the failed node", p.PausedMessage)
				}
			},
		},
		{
			name: "pause requested",
			snap: func(t *testing.T) fleet.Snapshot {
				return fleet.Snapshot{Now: statusNow, Policies: []v1alpha1.SriovHostPolicy{testPolicy(t, "x710-vms", 1, v1alpha1.Rollout{Pause: true, Disruption: v1alpha1.DisruptionDrain})}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				if p := f.Policies[0]; !p.Paused || p.PausedReason != "Requested" || p.Disruption != "drain" || p.Matched != 0 {
					t.Errorf("policy = %+v", p)
				}
			},
		},
		{
			name: "slots: held, expired, free and other policies' leases",
			snap: func(t *testing.T) fleet.Snapshot {
				free := testLease("x710-vms-slot-2", "", time.Minute, 15)
				unrenewed := testLease("x710-vms-slot-3", "node-3", 0, 15)
				unrenewed.Spec.RenewTime = nil // never renewed: free for the agents, so shown expired
				return fleet.Snapshot{Now: statusNow, Policies: []v1alpha1.SriovHostPolicy{testPolicy(t, "x710-vms", 1, v1alpha1.Rollout{MaxUnavailable: ptr(intstr.FromInt32(3))}), testPolicy(t, "x710-vms-slot", 1, v1alpha1.Rollout{})},
					Leases: []coordinationv1.Lease{
						testLease("x710-vms-slot-1", "node-2", 20*time.Second, 15), // expired 5 s ago
						testLease("x710-vms-slot-0", "node-1", 2*time.Second, 15),
						free,
						unrenewed,
						testLease("x710-vms-slot-slot-0", "node-9", 0, 15), // the other policy's
						testLease("x710-vms-slot-01", "node-8", 0, 15),     // not a slot name
						testLease("kube-node-lease", "node-7", 0, 15),
					}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				var got []string
				for _, s := range f.Policies[0].Slots {
					got = append(got, s.Lease+"="+s.Holder+map[bool]string{true: " expired"}[s.Expired])
				}
				if want := []string{"x710-vms-slot-0=node-1", "x710-vms-slot-1=node-2 expired", "x710-vms-slot-3=node-3 expired"}; !reflect.DeepEqual(got, want) {
					t.Errorf("x710-vms slots = %q, want %q", got, want)
				}
				if s := f.Policies[1].Slots; len(s) != 1 || s[0].Holder != "node-9" {
					t.Errorf("x710-vms-slot slots = %+v", s)
				}
			},
		},
		{
			name: "conflict and an invalid policy",
			snap: func(t *testing.T) fleet.Snapshot {
				bad := testPolicy(t, "bad", 1, v1alpha1.Rollout{})
				bad.Spec.Policy = doc(t, `{pfs: [{name: ens5f0, numVfs: 2, vfs: [{ids: "5"}]}]}`)
				st := testState("node-1", v1alpha1.PhaseConflict, nil, cond(v1alpha1.NodeConflict, "Conflict", "ens5f0 numVfs: x710-vms says 4, other says 8"))
				return fleet.Snapshot{Now: statusNow, Policies: []v1alpha1.SriovHostPolicy{bad, testPolicy(t, "x710-vms", 1, v1alpha1.Rollout{})},
					Nodes: []corev1.Node{testNode("node-1", false, x710())}, States: []v1alpha1.SriovNodeState{st}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				if n := f.Nodes[0]; n.Phase != "Conflict" || !strings.Contains(n.Message, "x710-vms says 4") {
					t.Errorf("node = %+v", n)
				}
				if p := f.Policies[0]; p.Policy != "bad" || !strings.Contains(p.Invalid, "VF 5 does not exist") {
					t.Errorf("bad = %+v", p)
				}
				if p := f.Policies[1]; p.Invalid != "" || !strings.Contains(p.Conflict, "node-1") {
					t.Errorf("x710-vms = %+v", p)
				}
			},
		},
		{
			name: "a state whose node is gone",
			snap: func(t *testing.T) fleet.Snapshot {
				return fleet.Snapshot{Now: statusNow, States: []v1alpha1.SriovNodeState{testState("gone", v1alpha1.PhaseConverged, nil)}}
			},
			check: func(t *testing.T, f fleet.FleetStatus) {
				if n := f.Nodes[0]; !n.NodeMissing || !strings.Contains(n.Message, "left the cluster") || n.Phase != "Converged" {
					t.Errorf("node = %+v", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, fleet.View(tt.snap(t))) })
	}
}

func ptr[T any](v T) *T { return &v }
