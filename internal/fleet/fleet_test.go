package fleet_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/fleet"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// doc reads a spec.policy written as YAML, as a user would put it in the object.
func doc(t *testing.T, y string) v1alpha1.PolicyDocument {
	t.Helper()
	var d v1alpha1.PolicyDocument
	if err := yaml.UnmarshalStrict([]byte(y), &d); err != nil {
		t.Fatalf("test document: %v", err)
	}
	return d
}

func TestPolicyOf(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string // "" = valid
	}{
		{"valid", `{pfs: [{name: ens2f0, numVfs: 8, vfs: [{ids: "0-3", vlan: 100, vlanProto: "802.1AD"}]}], pools: [{name: vms, pf: ens2f0, ids: "4-7"}]}`, ""},
		{"VF beyond numVfs", `{pfs: [{name: ens2f0, numVfs: 8, vfs: [{ids: "9"}]}]}`, "spec.policy: pfs[0].vfs[0].ids: VF 9 does not exist with numVfs 8 (allowed 0-7)"},
		{"VF in two entries", `{pfs: [{name: ens2f0, vfs: [{ids: "0-3"}, {ids: "3"}]}]}`, "pfs[0].vfs[1].ids: VF 3 already appears"},
		{"MAC for several VFs", `{pfs: [{name: ens2f0, vfs: [{ids: "0-1", mac: "02:00:00:00:00:01"}]}]}`, "pfs[0].vfs[0].mac: a MAC is for a single VF"},
		{"multicast MAC", `{pfs: [{name: ens2f0, vfs: [{ids: "0", mac: "01:00:00:00:00:01"}]}]}`, "pfs[0].vfs[0].mac"},
		{"pools share a VF", `{pfs: [], pools: [{name: a, pf: ens2f0, ids: "0-3"}, {name: b, pf: ens2f0, ids: "3"}]}`, `pools[1].ids: VF 3 of ens2f0 is already in pool "a"`},
		{"same PF twice", `{pfs: [{name: ens2f0}, {name: ens2f0}]}`, `pfs[1]: PF "ens2f0" already appears in pfs[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := fleet.PolicyOf(doc(t, tt.doc))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got := *p.PFs[0].VFs[0].VLANProto; got != sriov.VLANProto8021AD {
					t.Errorf("vlanProto = %q, want it normalised to 802.1ad", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "spec.policy:1:") {
				t.Errorf("error %q carries a line of the serialised document", err)
			}
		})
	}
}

func TestSelects(t *testing.T) {
	node := map[string]string{"sriovctl.io/nic": "x710", "zone": "a"}
	tests := []struct {
		name string
		sel  *metav1.LabelSelector
		want bool
	}{
		{"no selector selects every node", nil, true},
		{"empty selector selects every node", &metav1.LabelSelector{}, true},
		{"matching label", &metav1.LabelSelector{MatchLabels: map[string]string{"sriovctl.io/nic": "x710"}}, true},
		{"other value", &metav1.LabelSelector{MatchLabels: map[string]string{"sriovctl.io/nic": "e810"}}, false},
		{"expression", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"b"}}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1alpha1.SriovHostPolicy{Spec: v1alpha1.SriovHostPolicySpec{NodeSelector: tt.sel}}
			got, err := fleet.Selects(p, node)
			if err != nil || got != tt.want {
				t.Errorf("Selects = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	bad := &v1alpha1.SriovHostPolicy{Spec: v1alpha1.SriovHostPolicySpec{NodeSelector: &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: "Near"}}}}}
	if _, err := fleet.Selects(bad, node); err == nil || !strings.Contains(err.Error(), "spec.nodeSelector") {
		t.Errorf("an invalid selector: error = %v, want one naming spec.nodeSelector", err)
	}
}

func TestResolveRollout(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	is := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	tests := []struct {
		name    string
		r       v1alpha1.Rollout
		matched int
		want    fleet.Rollout
		wantErr string
	}{
		{"defaults", v1alpha1.Rollout{}, 8, fleet.Rollout{MaxUnavailable: 1, Disruption: v1alpha1.DisruptionCordon, FailureBudget: 1}, ""},
		{"count", v1alpha1.Rollout{MaxUnavailable: is(intstr.FromInt32(2)), Disruption: v1alpha1.DisruptionDrain, FailureBudget: i32(0)}, 8,
			fleet.Rollout{MaxUnavailable: 2, Disruption: v1alpha1.DisruptionDrain, FailureBudget: 0}, ""},
		{"percent rounds down", v1alpha1.Rollout{MaxUnavailable: is(intstr.FromString("30%"))}, 10, fleet.Rollout{MaxUnavailable: 3, Disruption: v1alpha1.DisruptionCordon, FailureBudget: 1}, ""},
		{"percent never below 1", v1alpha1.Rollout{MaxUnavailable: is(intstr.FromString("10%"))}, 3, fleet.Rollout{MaxUnavailable: 1, Disruption: v1alpha1.DisruptionCordon, FailureBudget: 1}, ""},
		{"count 0", v1alpha1.Rollout{MaxUnavailable: is(intstr.FromInt32(0))}, 3, fleet.Rollout{}, "spec.rollout.maxUnavailable"},
		{"not a percentage", v1alpha1.Rollout{MaxUnavailable: is(intstr.FromString("two"))}, 3, fleet.Rollout{}, "spec.rollout.maxUnavailable"},
		{"bad disruption", v1alpha1.Rollout{Disruption: "reboot"}, 3, fleet.Rollout{}, "spec.rollout.disruption"},
		{"negative budget", v1alpha1.Rollout{FailureBudget: i32(-1)}, 3, fleet.Rollout{}, "spec.rollout.failureBudget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fleet.ResolveRollout(tt.r, tt.matched)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ResolveRollout = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func selected(t *testing.T, name, y string) fleet.Selected {
	t.Helper()
	p, err := fleet.PolicyOf(doc(t, y))
	if err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	return fleet.Selected{Name: name, Generation: 1, Policy: p}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		// want is the merged policy as YAML (compared after parsing), wantConflicts the conflicts' texts.
		want          string
		wantConflicts []string
	}{
		{
			name: "different PFs add up",
			a:    `{pfs: [{name: ens2f0, numVfs: 4}]}`,
			b:    `{pfs: [{name: ens3f0, numVfs: 2, vfs: [{ids: "0-1", vlan: 10}]}]}`,
			want: `{pfs: [{name: ens2f0, numVfs: 4}, {name: ens3f0, numVfs: 2, vfs: [{ids: "0-1", vlan: 10}]}]}`,
		},
		{
			name: "same PF, agreeing and complementary fields",
			a:    `{pfs: [{name: ens2f0, numVfs: 4, vfs: [{ids: "0-3", vlan: 100}]}]}`,
			b:    `{pfs: [{name: ens2f0, numVfs: 4, vfs: [{ids: "2-3", vlan: 100, trust: true}, {ids: "0", mac: "02:00:00:00:00:01"}]}]}`,
			want: `{pfs: [{name: ens2f0, numVfs: 4, vfs: [{ids: "0", vlan: 100, mac: "02:00:00:00:00:01"}, {ids: "1", vlan: 100}, {ids: "2-3", vlan: 100, trust: true}]}]}`,
		},
		{
			name:          "different VF counts: the PF is left out",
			a:             `{pfs: [{name: ens2f0, numVfs: 4}, {name: ens3f0, numVfs: 1}]}`,
			b:             `{pfs: [{name: ens2f0, numVfs: 8}]}`,
			want:          `{pfs: [{name: ens3f0, numVfs: 1}]}`,
			wantConflicts: []string{"ens2f0 numVfs: policy a wants 4, policy b wants 8"},
		},
		{
			name: "PF settings besides the VF count are kept: MTU, eswitch mode, a PF selected by match",
			a:    `{pfs: [{name: ens2f0, numVfs: 4, mtu: 9000}, {match: {driver: ice}, eswitchMode: switchdev}]}`,
			b:    `{pfs: [{name: ens2f0, mtu: 9000, eswitchMode: legacy}]}`,
			want: `{pfs: [{name: ens2f0, numVfs: 4, mtu: 9000, eswitchMode: legacy}, {match: {driver: ice}, eswitchMode: switchdev}]}`,
		},
		{
			name:          "different MTUs: the PF is left out",
			a:             `{pfs: [{name: ens2f0, mtu: 9000}, {name: ens3f0, mtu: 1500}]}`,
			b:             `{pfs: [{name: ens2f0, mtu: 1500}]}`,
			want:          `{pfs: [{name: ens3f0, mtu: 1500}]}`,
			wantConflicts: []string{"ens2f0 mtu: policy a wants 9000, policy b wants 1500"},
		},
		{
			name:          "different VLAN on one VF",
			a:             `{pfs: [{name: ens2f0, vfs: [{ids: "0-3", vlan: 100}]}]}`,
			b:             `{pfs: [{name: ens2f0, vfs: [{ids: "3", vlan: 200}]}], pools: [{name: p, pf: ens2f0, ids: "0"}]}`,
			want:          `{pfs: []}`,
			wantConflicts: []string{"ens2f0 vf 3 vlan: policy a wants 100, policy b wants 200"},
		},
		{
			name:          "same pool name, different VFs",
			a:             `{pfs: [], pools: [{name: vms, pf: ens2f0, ids: "0-3"}]}`,
			b:             `{pfs: [], pools: [{name: vms, pf: ens2f0, ids: "0-7"}]}`,
			want:          `{pfs: []}`,
			wantConflicts: []string{"ens2f0 pools[vms]"},
		},
		{
			name:          "two pools claim one VF",
			a:             `{pfs: [], pools: [{name: vms, pf: ens2f0, ids: "0-3"}]}`,
			b:             `{pfs: [], pools: [{name: dpdk, pf: ens2f0, ids: "3-5"}]}`,
			want:          `{pfs: []}`,
			wantConflicts: []string{"ens2f0 vf 3 pool: policy a wants vms, policy b wants dpdk"},
		},
		{
			name: "identical pools and mirrors in both",
			a:    `{pfs: [], pools: [{name: vms, pf: ens2f0, ids: "0-3"}], mirrors: [{name: tap, pf: ens2f0, vfs: "4,5"}]}`,
			b:    `{pfs: [], pools: [{name: vms, pf: ens2f0, ids: "0-3"}], mirrors: [{name: tap, pf: ens2f0, vfs: "4,5"}]}`,
			want: `{pfs: [], pools: [{name: vms, pf: ens2f0, ids: "0-3"}], mirrors: [{name: tap, pf: ens2f0, vfs: "4,5"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Given in reverse order: the merge sorts by policy name.
			m, err := fleet.Merge([]fleet.Selected{selected(t, "b", tt.b), selected(t, "a", tt.a)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range m.Conflicts {
				got = append(got, c.String())
			}
			if len(got) != len(tt.wantConflicts) {
				t.Fatalf("conflicts = %q, want %q", got, tt.wantConflicts)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.wantConflicts[i]) {
					t.Errorf("conflict %d = %q, want it to contain %q", i, got[i], tt.wantConflicts[i])
				}
			}
			want, err := policy.Parse("want", []byte(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			a, _ := yaml.Marshal(m.Policy)
			b, _ := yaml.Marshal(want)
			if string(a) != string(b) {
				t.Errorf("merged policy:\n%s\nwant:\n%s", a, b)
			}
		})
	}

	t.Run("one PF named two ways", func(t *testing.T) {
		canonical := func(ref string) string {
			if ref == "ens2f0" {
				return "0000:3b:00.0"
			}
			return ref
		}
		m, err := fleet.Merge([]fleet.Selected{
			selected(t, "a", `{pfs: [{name: ens2f0, numVfs: 4}]}`),
			selected(t, "b", `{pfs: [{pciAddress: "0000:3b:00.0", numVfs: 8}]}`),
		}, canonical)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Conflicts) != 1 || len(m.Policy.PFs) != 0 || len(m.ConflictedPFs) != 1 {
			t.Errorf("conflicts %v, PFs %v, conflicted %v: want one conflict and the PF left out", m.Conflicts, m.Policy.PFs, m.ConflictedPFs)
		}
	})

	t.Run("union invalid as a whole", func(t *testing.T) {
		_, err := fleet.Merge([]fleet.Selected{
			selected(t, "a", `{pfs: [{name: ens2f0, numVfs: 4}]}`),
			selected(t, "b", `{pfs: [{name: ens2f0, vfs: [{ids: "6", vlan: 5}]}]}`),
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "policies a+b") || !strings.Contains(err.Error(), "VF 6 does not exist with numVfs 4") {
			t.Errorf("error = %v, want the validator's, naming both policies", err)
		}
	})

	t.Run("nothing selected", func(t *testing.T) {
		m, err := fleet.Merge(nil, nil)
		if err != nil || m.Policy != nil {
			t.Errorf("Merge(nil) = %+v, %v; want no policy", m, err)
		}
	})
}

func TestDocumentsForStatus(t *testing.T) {
	h := &sriov.Host{PFs: []sriov.PF{{Name: "ens5f0", Driver: "ixgbe", TotalVFs: 4, NumVFs: 1, VFs: []sriov.VF{{ID: 0, VFConfig: sriov.DefaultVFConfig()}}}}}
	obs, err := fleet.Observed(h)
	if err != nil || obs.PFs[0].Name != "ens5f0" || obs.PFs[0].VFs[0].VLANProto != "802.1Q" || !obs.PFs[0].VFs[0].SpoofCheck {
		t.Errorf("Observed = %+v, %v", obs, err)
	}

	empty, err := fleet.PlanOf(&plan.Plan{})
	if err != nil || empty.Ops == nil || len(empty.Ops) != 0 {
		t.Errorf("PlanOf(no changes).Ops = %#v, %v; want an empty list", empty.Ops, err)
	}
	if got := fleet.Summary(&plan.Plan{}); got != "no changes" {
		t.Errorf("Summary = %q", got)
	}

	one := 1
	pol := &policy.Policy{PFs: []policy.PF{{Name: "ens5f0", NumVFs: &one, VFs: []policy.VFGroup{{IDs: "0", VLAN: &one, VFIDs: []int{0}}}}}}
	p := plan.Build(h, pol, plan.Options{})
	if len(p.Problems) > 0 {
		t.Fatalf("plan problems: %v", p.Problems)
	}
	drift := fleet.DriftOf(p)
	if len(drift) != 1 || drift[0] != (v1alpha1.DriftEntry{PF: "ens5f0", VF: 0, Field: "vlan", Desired: drift[0].Desired, Observed: drift[0].Observed}) ||
		!strings.Contains(drift[0].Desired, "1") || drift[0].Desired == drift[0].Observed {
		t.Errorf("DriftOf = %+v, want one vlan entry 0 -> 1", drift)
	}
	if got := fleet.Summary(p); got != "1 change (0 disruptive)" {
		t.Errorf("Summary = %q", got)
	}
}

func nodeState(phase v1alpha1.Phase, applied map[string]int64, conds ...metav1.Condition) *v1alpha1.SriovNodeState {
	return &v1alpha1.SriovNodeState{Status: v1alpha1.SriovNodeStateStatus{Phase: phase, AppliedGenerations: applied, Conditions: conds}}
}

func TestPolicyStatus(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	gen := map[string]int64{"p": 3}
	old := map[string]int64{"p": 2}
	base := func(pause bool, budget int32) *v1alpha1.SriovHostPolicy {
		p := &v1alpha1.SriovHostPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 3}}
		p.Spec.Rollout.Pause = pause
		p.Spec.Rollout.FailureBudget = &budget
		return p
	}
	tests := []struct {
		name   string
		policy *v1alpha1.SriovHostPolicy
		nodes  []fleet.NodeView
		valErr error
		want   v1alpha1.SriovHostPolicyStatus // counts only
		conds  map[string]string              // condition type -> "Status/Reason"
	}{
		{
			name:   "rolling",
			policy: base(false, 1),
			nodes: []fleet.NodeView{{"n1", nodeState(v1alpha1.PhaseConverged, gen)}, {"n2", nodeState(v1alpha1.PhaseDraining, old)},
				{"n3", nodeState(v1alpha1.PhaseWaiting, old)}, {"n4", nil}, {"n5", nodeState(v1alpha1.PhaseDegraded, old)}},
			want:  v1alpha1.SriovHostPolicyStatus{Matched: 5, Converged: 1, Applying: 1, Failed: 1},
			conds: map[string]string{"Valid": "True/Valid", "Paused": "False/Running", "Progressing": "True/Rolling", "Conflict": "False/NoConflict"},
		},
		{
			name:   "failures beyond the budget pause the rollout",
			policy: base(false, 1),
			nodes:  []fleet.NodeView{{"n1", nodeState(v1alpha1.PhaseDegraded, old)}, {"n2", nodeState(v1alpha1.PhaseDegraded, old)}, {"n3", nodeState(v1alpha1.PhaseConverged, gen)}},
			want:   v1alpha1.SriovHostPolicyStatus{Matched: 3, Converged: 1, Failed: 2, Paused: true},
			conds:  map[string]string{"Paused": "True/FailureBudgetExceeded", "Progressing": "False/Paused"},
		},
		{
			name:   "failures within the budget",
			policy: base(false, 2),
			nodes:  []fleet.NodeView{{"n1", nodeState(v1alpha1.PhaseDegraded, old)}, {"n2", nodeState(v1alpha1.PhaseDegraded, old)}},
			want:   v1alpha1.SriovHostPolicyStatus{Matched: 2, Failed: 2},
			conds:  map[string]string{"Paused": "False/Running"},
		},
		{
			name:   "paused by request",
			policy: base(true, 1),
			nodes:  []fleet.NodeView{{"n1", nodeState(v1alpha1.PhaseWaiting, old)}},
			want:   v1alpha1.SriovHostPolicyStatus{Matched: 1, Paused: true},
			conds:  map[string]string{"Paused": "True/Requested"},
		},
		{
			name:   "converged, one node in conflict is not",
			policy: base(false, 1),
			nodes: []fleet.NodeView{{"n1", nodeState(v1alpha1.PhaseConverged, gen)},
				{"n2", nodeState(v1alpha1.PhaseConflict, gen, metav1.Condition{Type: v1alpha1.NodeConflict, Status: metav1.ConditionTrue})}},
			want:  v1alpha1.SriovHostPolicyStatus{Matched: 2, Converged: 1},
			conds: map[string]string{"Conflict": "True/Conflict", "Progressing": "True/Rolling"},
		},
		{
			name:   "all converged, invalid elsewhere",
			policy: base(false, 1),
			nodes:  []fleet.NodeView{{"n1", nodeState(v1alpha1.PhaseConverged, gen)}},
			valErr: errors.New("spec.policy: pfs[0].vfs[0].ids: VF 9 does not exist"),
			want:   v1alpha1.SriovHostPolicyStatus{Matched: 1, Converged: 1},
			conds:  map[string]string{"Valid": "False/Invalid", "Progressing": "False/Converged"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fleet.PolicyStatus(tt.policy, tt.nodes, tt.valErr, now)
			counts := got
			counts.Conditions, counts.ObservedGeneration = nil, 0
			if !reflect.DeepEqual(counts, tt.want) {
				t.Errorf("counts = %+v, want %+v", counts, tt.want)
			}
			if got.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", got.ObservedGeneration)
			}
			for typ, want := range tt.conds {
				c := meta.FindStatusCondition(got.Conditions, typ)
				if c == nil || string(c.Status)+"/"+c.Reason != want {
					t.Errorf("condition %s = %+v, want %s", typ, c, want)
				}
			}
		})
	}

	t.Run("transition time kept while the status holds", func(t *testing.T) {
		p := base(false, 1)
		first := fleet.PolicyStatus(p, nil, nil, now)
		p.Status = first
		later := fleet.PolicyStatus(p, nil, nil, metav1.NewTime(now.Add(time.Hour)))
		if c := meta.FindStatusCondition(later.Conditions, v1alpha1.PolicyValid); !c.LastTransitionTime.Equal(&now) {
			t.Errorf("Valid's lastTransitionTime moved to %v", c.LastTransitionTime)
		}
	})
}
