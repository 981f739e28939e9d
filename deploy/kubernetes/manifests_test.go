package kubernetes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/test/k8s"
)

const (
	namespace = "sriovctl-system"
	agentSA   = "sriovctl-agent"
)

// TestKustomizationListsEveryManifest: a manifest added to the folder but not to kustomization.yaml would
// never be installed.
func TestKustomizationListsEveryManifest(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.yaml", "crd/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	listed, err := k8s.KustomizeResources(".")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	sorted := slices.Clone(listed)
	slices.Sort(sorted)
	if !slices.Equal(files, sorted) {
		t.Errorf("kustomization.yaml lists %v; the folder has %v", sorted, files)
	}
	// The CRDs come first so that a single apply can create objects of their kinds.
	if len(listed) < 2 || !strings.HasPrefix(listed[0], "crd/") || !strings.HasPrefix(listed[1], "crd/") {
		t.Errorf("kustomization.yaml must list the CRDs first, got %v", listed)
	}
}

// eventually retries f until it returns nil or the time is up (the API server's caches and admission
// policies take effect shortly after an object is written).
func eventually(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestManifestsOnARealAPIServer applies every manifest to a real kube-apiserver, then checks what users
// and agents see: the schema's defaults and refusals, status documents kept whole, the printer columns,
// and that an agent may write only its own node's objects.
func TestManifestsOnARealAPIServer(t *testing.T) {
	cp := k8s.Start(t, k8s.Options{WithoutCRDs: true})
	if err := k8s.ApplyKustomization(context.Background(), cp.Client, "."); err != nil {
		t.Fatal(err)
	}
	t.Run("policy schema", func(t *testing.T) { testPolicySchema(t, cp) })
	t.Run("example policy", func(t *testing.T) {
		objs, err := k8s.ReadObjects("examples/sriovhostpolicy.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			if err := cp.Client.Create(context.Background(), u, client.FieldValidation("Strict")); err != nil {
				t.Fatalf("examples/sriovhostpolicy.yaml: %v", err)
			}
		}
	})
	t.Run("node state status", func(t *testing.T) { testNodeStateStatus(t, cp) })
	t.Run("agent permissions", func(t *testing.T) { testAgentPermissions(t, cp) })
}

// policyObject builds a SriovHostPolicy from the YAML of its spec.
func policyObject(t *testing.T, name, spec string) *unstructured.Unstructured {
	t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatalf("test spec %s: %v", name, err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": s}}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind("SriovHostPolicy")
	u.SetName(name)
	return u
}

func testPolicySchema(t *testing.T, cp *k8s.ControlPlane) {
	ctx := context.Background()
	tests := []struct {
		name string
		spec string
		// wantErr are fragments of the API server's refusal, "" for an accepted object.
		wantErr []string
	}{
		{"minimal", "policy: {pfs: [{name: ens2f0, numVfs: 4}]}", nil},
		{"by pci address, percent, drain", `
nodeSelector: {matchExpressions: [{key: sriovctl.io/nic, operator: In, values: [e810, x710]}]}
policy:
  pfs:
    - pciAddress: "0000:3b:00.0"
      numVfs: 16
      vfs:
        - {ids: "0-7", vlan: 100, qos: 3, vlanProto: 802.1ad, linkState: enable, minTxRateMbps: 100, maxTxRateMbps: 1000}
        - {ids: "8", mac: "02:00:00:00:00:08", spoofchk: false, trust: true, queryRss: true, driver: vfio-pci}
  mirrors: [{name: tap, pf: "0000:3b:00.0", vfs: "9,10", mac: "02:00:00:00:00:99", strategy: same-mac}]
  pools: [{name: vms, pf: "0000:3b:00.0", ids: "11-15", driver: vfio-pci}]
rollout: {maxUnavailable: "25%", disruption: drain, pause: true, failureBudget: 0}`, nil},
		{"name and pci address", `policy: {pfs: [{name: ens2f0, pciAddress: "0000:3b:00.0"}]}`, []string{"spec.policy.pfs[0]", "exactly one"}},
		{"neither name nor pci address", `policy: {pfs: [{numVfs: 2}]}`, []string{"spec.policy.pfs[0]", "exactly one"}},
		{"bad pci address", `policy: {pfs: [{pciAddress: "3b:00.0"}]}`, []string{"spec.policy.pfs[0].pciAddress"}},
		{"negative numVfs", `policy: {pfs: [{name: ens2f0, numVfs: -1}]}`, []string{"spec.policy.pfs[0].numVfs", "greater than or equal to 0"}},
		{"vlan out of range", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0", vlan: 4095}]}]}`, []string{"spec.policy.pfs[0].vfs[0].vlan", "less than or equal to 4094"}},
		{"qos without vlan", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0", qos: 3}]}]}`, []string{"a QoS priority needs a VLAN"}},
		{"min rate above max", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0", minTxRateMbps: 500, maxTxRateMbps: 100}]}]}`, []string{"minTxRateMbps must not exceed maxTxRateMbps"}},
		{"bad link state", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0", linkState: up}]}]}`, []string{"spec.policy.pfs[0].vfs[0].linkState", `"auto"`}},
		{"bad vlan proto", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0", vlanProto: "802.1x"}]}]}`, []string{"spec.policy.pfs[0].vfs[0].vlanProto"}},
		{"bad ids", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0-"}]}]}`, []string{"spec.policy.pfs[0].vfs[0].ids"}},
		{"bad mac", `policy: {pfs: [{name: ens2f0, vfs: [{ids: "0", mac: "02:00:00:00:00"}]}]}`, []string{"spec.policy.pfs[0].vfs[0].mac"}},
		{"unknown policy key", `policy: {pfs: [{name: ens2f0, numvfs: 4}]}`, []string{`unknown field "spec.policy.pfs[0].numvfs"`}},
		{"no policy", `rollout: {maxUnavailable: 1}`, []string{"spec.policy", "Required"}},
		{"maxUnavailable 0", `{policy: {pfs: []}, rollout: {maxUnavailable: 0}}`, []string{"spec.rollout.maxUnavailable", "at least 1"}},
		{"maxUnavailable 150%", `{policy: {pfs: []}, rollout: {maxUnavailable: "150%"}}`, []string{"spec.rollout.maxUnavailable", "1% to 100%"}},
		{"bad disruption", `{policy: {pfs: []}, rollout: {disruption: reboot}}`, []string{"spec.rollout.disruption", `"none", "cordon", "drain"`}},
		{"negative failure budget", `{policy: {pfs: []}, rollout: {failureBudget: -1}}`, []string{"spec.rollout.failureBudget"}},
		{"bad mirror strategy", `policy: {pfs: [], mirrors: [{name: m, pf: ens2f0, vfs: "1,2", strategy: magic}]}`, []string{"spec.policy.mirrors[0].strategy"}},
		{"bad pool name", `policy: {pfs: [], pools: [{name: "-x", pf: ens2f0, ids: "1"}]}`, []string{"spec.policy.pools[0].name"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := policyObject(t, fmt.Sprintf("schema-%d", i), tt.spec)
			// Strict, as kubectl sends it: unknown fields are refused rather than dropped.
			err := cp.Client.Create(ctx, u, client.FieldValidation("Strict"))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("refused a valid policy: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted an invalid policy; want a refusal mentioning %q", tt.wantErr)
			}
			for _, frag := range tt.wantErr {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("refusal %q does not mention %q", err, frag)
				}
			}
			// Nothing was stored.
			if err := cp.Client.Get(ctx, types.NamespacedName{Name: u.GetName()}, &v1alpha1.SriovHostPolicy{}); !apierrors.IsNotFound(err) {
				t.Errorf("a refused policy is readable: %v", err)
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		var got v1alpha1.SriovHostPolicy
		if err := cp.Client.Get(ctx, types.NamespacedName{Name: "schema-0"}, &got); err != nil {
			t.Fatal(err)
		}
		r := got.Spec.Rollout
		if r.MaxUnavailable == nil || *r.MaxUnavailable != intstr.FromInt32(1) || r.Disruption != v1alpha1.DisruptionCordon ||
			r.FailureBudget == nil || *r.FailureBudget != 1 || r.Pause {
			t.Errorf("rollout defaults = %+v (maxUnavailable %v, failureBudget %v); want maxUnavailable 1, disruption cordon, failureBudget 1, pause false",
				r, r.MaxUnavailable, r.FailureBudget)
		}
	})
}

// filledHost is an observed host with every kind of field set, as an agent would publish it.
func filledHost() *v1alpha1.HostState {
	vf := v1alpha1.VFState{ID: 0, PCIAddress: "0000:01:10.0", Netdev: "ens5f0v0", Driver: "igbvf", NetdevMAC: "02:aa:00:00:00:01",
		VFConfig: v1alpha1.VFConfig{MAC: "02:00:00:00:00:10", VLAN: 100, QoS: 3, VLANProto: "802.1Q", SpoofCheck: true,
			LinkState: "auto", MinTxRateMbps: 10, MaxTxRateMbps: 100, QueryRSS: true}}
	vf1 := vf
	vf1.ID, vf1.PCIAddress, vf1.Netdev, vf1.Driver, vf1.NetdevMAC = 1, "0000:01:10.2", "", "vfio-pci", ""
	return &v1alpha1.HostState{PFs: []v1alpha1.PFState{{
		Name: "ens5f0", PCIAddress: "0000:01:00.0", Driver: "igb", VendorID: "8086", DeviceID: "10c9", VFDeviceID: "10ca",
		TotalVFs: 7, NumVFs: 2, MAC: "52:54:00:12:34:56", MTU: 1500, OperState: "up", EswitchMode: "legacy",
		VFs: []v1alpha1.VFState{vf, vf1}, MirrorRules: []v1alpha1.MirrorRule{{Name: "tap", MAC: "02:00:00:00:00:99", VFs: []int{0, 1}}},
	}}}
}

func testNodeStateStatus(t *testing.T, cp *k8s.ControlPlane) {
	ctx := context.Background()
	ns := &v1alpha1.SriovNodeState{ObjectMeta: metav1.ObjectMeta{Name: "status-node"}}
	if err := cp.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	host := filledHost()
	prior := host.PFs[0].VFs
	ns.Status = v1alpha1.SriovNodeStateStatus{
		Phase:       v1alpha1.PhaseApplying,
		PlanSummary: "3 changes (1 disruptive)",
		Policies:    []string{"a", "b"},
		Observed:    host,
		ObservedAt:  &metav1.Time{Time: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)},
		Plan: &v1alpha1.Plan{
			Ops: []v1alpha1.Op{
				{Kind: "numvfs", PF: "ens5f0", VF: -1, From: v1alpha1.Value{NumVFs: 2}, To: v1alpha1.Value{NumVFs: 0}, PriorVFs: prior, Reason: "resize 2 -> 4 goes through 0", Disruptive: true},
				{Kind: "numvfs", PF: "ens5f0", VF: -1, To: v1alpha1.Value{NumVFs: 4}},
				{Kind: "vlan", PF: "ens5f0", VF: 3, To: v1alpha1.Value{VLAN: 200, QoS: 1, VLANProto: "802.1Q"}, From: v1alpha1.Value{VLANProto: "802.1Q"}},
			},
			Problems: []v1alpha1.Problem{{Kind: "unsupported", PF: "ens5f0", VF: 3, Field: "pfs[0].vfs[0].trust", Msg: "igb has no trust"}},
			Notes:    []string{"igbvf is reloaded on VF 3"},
			Resizes:  []v1alpha1.Resize{{PF: "ens5f0", From: 2, To: 4, Restored: []int{0, 1}}},
		},
		Drift:              []v1alpha1.DriftEntry{{PF: "ens5f0", VF: 1, Field: "vlan", Desired: "100", Observed: "0"}},
		AppliedGenerations: map[string]int64{"a": 3, "b": 1},
		LastError:          "ens5f0 vf 3: vlan: operation not supported",
		Conditions: []metav1.Condition{
			{Type: v1alpha1.NodeReady, Status: metav1.ConditionFalse, Reason: "Applying", Message: "applying generation 3 of a", LastTransitionTime: metav1.Now()},
			{Type: v1alpha1.NodeDrifted, Status: metav1.ConditionTrue, Reason: "HostChanged", Message: "ens5f0 vf 1: vlan", LastTransitionTime: metav1.Now()},
		},
	}
	want := ns.Status.DeepCopy()
	if err := cp.Client.Status().Update(ctx, ns); err != nil {
		t.Fatalf("status update refused: %v", err)
	}
	var got v1alpha1.SriovNodeState
	if err := cp.Client.Get(ctx, types.NamespacedName{Name: "status-node"}, &got); err != nil {
		t.Fatal(err)
	}
	// Times come back at second precision.
	for i := range want.Conditions {
		want.Conditions[i].LastTransitionTime = got.Status.Conditions[i].LastTransitionTime
	}
	// Compared as JSON, what clients read: times come back in the local zone.
	a, _ := json.Marshal(got.Status)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("the API server changed the status (pruned a field?)\n got: %s\nwant: %s", a, b)
	}

	// What `kubectl get sriovnodestates` shows.
	table := getTable(t, cp.Config, "/apis/sriovctl.io/v1alpha1/sriovnodestates/status-node")
	wantCells := map[string]any{"Name": "status-node", "Phase": "Applying", "Plan": "3 changes (1 disruptive)", "Ready": "False", "Drifted": "True"}
	for col, want := range wantCells {
		if got := table[col]; got != want {
			t.Errorf("kubectl get sriovnodestates: column %s = %v, want %v (row %v)", col, got, want, table)
		}
	}
}

// getTable asks the API server for the table kubectl prints and returns the first row by column name.
func getTable(t *testing.T, cfg *rest.Config, path string) map[string]any {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	var tab metav1.Table
	if err := json.Unmarshal(body, &tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 1 {
		t.Fatalf("GET %s: %d rows, want 1", path, len(tab.Rows))
	}
	row := map[string]any{}
	for i, c := range tab.ColumnDefinitions {
		if i < len(tab.Rows[0].Cells) {
			row[c.Name] = tab.Rows[0].Cells[i]
		}
	}
	return row
}

func testAgentPermissions(t *testing.T, cp *k8s.ControlPlane) {
	ctx := context.Background()
	for _, n := range []string{"node-a", "node-b"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"sriovctl.io/nic": "x710"}}}
		if err := cp.Client.Create(ctx, node); err != nil {
			t.Fatal(err)
		}
	}
	user, groups := k8s.ServiceAccount(namespace, agentSA)
	agentA := cp.As(t, user, groups, map[string][]string{k8s.NodeNameExtra: {"node-a"}})
	unbound := cp.As(t, user, groups, nil) // the agent's token used outside a pod

	state := func(name string) *v1alpha1.SriovNodeState {
		return &v1alpha1.SriovNodeState{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	cordon := func(name string) error {
		return agentA.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`)))
	}
	relabel := func(name string) error {
		return agentA.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}},
			client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"sriovctl.io/nic":"e810"}}}`)))
	}

	// The admission policy takes effect shortly after it is created: wait until it refuses the first case.
	eventually(t, 30*time.Second, "admission policy active", func() error {
		err := agentA.Create(ctx, state("node-b"))
		if err == nil {
			_ = cp.Client.Delete(ctx, state("node-b"))
			return errors.New("agent of node-a created the node state of node-b")
		}
		if !strings.Contains(err.Error(), "may not write") {
			return err
		}
		return nil
	})

	tests := []struct {
		name string
		do   func() error
		// want: "" allowed, "forbidden" refused by RBAC, else a fragment of the admission policy's message
		want string
	}{
		{"list policies", func() error { return agentA.List(ctx, &v1alpha1.SriovHostPolicyList{}) }, ""},
		{"watch nodes (list)", func() error { return agentA.List(ctx, &corev1.NodeList{}) }, ""},
		{"create a policy", func() error {
			return agentA.Create(ctx, &v1alpha1.SriovHostPolicy{ObjectMeta: metav1.ObjectMeta{Name: "evil"}})
		}, "forbidden"},
		{"delete a policy", func() error {
			return agentA.Delete(ctx, &v1alpha1.SriovHostPolicy{ObjectMeta: metav1.ObjectMeta{Name: "schema-0"}})
		}, "forbidden"},
		{"create own node state", func() error { return agentA.Create(ctx, state("node-a")) }, ""},
		{"update own node state status", func() error {
			s := state("node-a")
			if err := agentA.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
				return err
			}
			s.Status.Phase = v1alpha1.PhaseConverged
			return agentA.Status().Update(ctx, s)
		}, ""},
		{"create another node's state", func() error { return agentA.Create(ctx, state("node-b")) }, "may not write sriovnodestates node-b"},
		{"unbound token, own node state", func() error { return unbound.Create(ctx, state("node-a")) }, "token not bound to a pod"},
		{"cordon own node", func() error { return cordon("node-a") }, ""},
		{"cordon another node", func() error { return cordon("node-b") }, "may not write nodes node-b"},
		{"relabel own node", func() error { return relabel("node-a") }, "only spec.unschedulable"},
		{"delete own node", func() error { return agentA.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}) }, "forbidden"},
		{"take a rollout slot", func() error {
			return agentA.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "slot-0", Namespace: namespace}})
		}, ""},
		{"lease in another namespace", func() error {
			return agentA.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "slot-0", Namespace: "default"}})
		}, "forbidden"},
		{"list pods to drain", func() error { return agentA.List(ctx, &corev1.PodList{}) }, ""},
		{"read secrets", func() error { return agentA.List(ctx, &corev1.SecretList{}) }, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want == "forbidden" && !apierrors.IsForbidden(err):
				t.Errorf("want a refusal by RBAC, got %v", err)
			case tt.want != "" && tt.want != "forbidden" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("want a refusal mentioning %q, got %v", tt.want, err)
			}
		})
	}

	// What was refused left nothing behind.
	var b corev1.Node
	if err := cp.Client.Get(ctx, types.NamespacedName{Name: "node-b"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.Unschedulable {
		t.Error("node-b was cordoned by node-a's agent")
	}
	var a corev1.Node
	if err := cp.Client.Get(ctx, types.NamespacedName{Name: "node-a"}, &a); err != nil {
		t.Fatal(err)
	}
	if a.Labels["sriovctl.io/nic"] != "x710" {
		t.Errorf("node-a's labels changed to %v", a.Labels)
	}
	if !a.Spec.Unschedulable {
		t.Error("node-a's agent could not cordon its node")
	}
}
