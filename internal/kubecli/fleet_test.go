package kubecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/fleet"
	_ "github.com/sriovctl/sriovctl/internal/kubecli" // sets cli.Kube, as in sriovctl-kube
	"github.com/sriovctl/sriovctl/test/k8s"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs a sriovctl command line in this process, as sriovctl-kube does.
func run(args ...string) result {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// writeKubeconfig writes a kubeconfig for a server that is not there.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	data := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"" + server + "\"}\n" +
		"contexts:\n- name: lab\n  context: {cluster: c, user: u}\ncurrent-context: lab\nusers:\n- name: u\n  user: {token: t}\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFleetStatusRefusals needs no API server: what an operator sees before reaching one.
func TestFleetStatusRefusals(t *testing.T) {
	kc := writeKubeconfig(t, "https://127.0.0.1:1") // nothing listens on port 1
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"unreachable API server", []string{"fleet", "status", "--kubeconfig", kc}, nil, 1,
			"sriovctl: fleet status: cannot reach the Kubernetes API server at https://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused\n"},
		{"KUBECONFIG is read", []string{"fleet", "status", "--json"}, map[string]string{"KUBECONFIG": kc}, 1,
			"sriovctl: fleet status: cannot reach the Kubernetes API server at https://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused\n"},
		{"missing kubeconfig file", []string{"fleet", "status", "--kubeconfig", "/nonexistent/kubeconfig"}, nil, 2,
			"sriovctl: --kubeconfig: invalid value \"/nonexistent/kubeconfig\": no such file\n"},
		{"unknown context", []string{"fleet", "status", "--kubeconfig", kc, "--context", "prod"}, nil, 2,
			"sriovctl: --context: invalid value \"prod\": allowed the kubeconfig's contexts [lab]\n"},
		{"no configuration anywhere", []string{"fleet", "status"}, map[string]string{"KUBECONFIG": "", "HOME": t.TempDir(), "KUBERNETES_SERVICE_HOST": ""}, 2,
			"sriovctl: --kubeconfig: no Kubernetes configuration found: give --kubeconfig FILE, set KUBECONFIG, or write ~/.kube/config (in a pod, the ServiceAccount's is used)\n"},
		{"request timeout must be positive", []string{"fleet", "status", "--kubeconfig", kc, "--request-timeout", "0s"}, nil, 2,
			"sriovctl: --request-timeout: invalid value 0s: allowed more than 0s\n"},
		{"no arguments", []string{"fleet", "status", "node-1"}, nil, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := run(tt.args...)
			if r.code != tt.code || r.stdout != "" || (tt.stderr != "" && r.stderr != tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stderr %q", r.code, r.stdout, r.stderr, tt.code, tt.stderr)
			}
		})
	}
}

// TestFleetStatusOnARealAPIServer runs fleet status against kube-apiserver: first without the CRDs, then
// with the deployment applied and a rollout under way, as an operator would read it.
func TestFleetStatusOnARealAPIServer(t *testing.T) {
	cp := k8s.Start(t, k8s.Options{WithoutCRDs: true})
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, cp.Env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("without the CRDs", func(t *testing.T) {
		r := run("fleet", "status", "--kubeconfig", kc)
		if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
			!strings.Contains(r.stderr, "the sriovctl.io CRDs are not installed") || !strings.Contains(r.stderr, "kubectl apply -f deploy/kubernetes/crd") {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	ctx := context.Background()
	if err := k8s.ApplyKustomization(ctx, cp.Client, k8s.DeployDir()); err != nil {
		t.Fatal(err)
	}
	t.Run("nothing yet", func(t *testing.T) {
		r := run("fleet", "status", "--kubeconfig", kc, "--json")
		if r.code != 0 || r.stdout != "{\n  \"nodes\": [],\n  \"policies\": []\n}\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	now := time.Now()
	makeFleet(t, cp.Client, now)

	t.Run("text", func(t *testing.T) {
		r := run("fleet", "status", "--kubeconfig", kc)
		want := `NODE    POLICIES         PLAN                      PHASE              DRIFT                AGE  MESSAGE
node-1  x710-vms         2 changes (1 disruptive)  Draining,cordoned  -                    10m  cordoned; applying next
node-2  x710-vms,zone-a  2 changes (1 disruptive)  Waiting            -                    10m  waiting for a rollout slot of x710-vms
node-3  x710-vms         1 changes (0 disruptive)  Degraded           1: ens2f0 vf 4 vlan  10m  set ens2f0 VF 4 vlan 100: operation not permitted (rolled back)
node-4  x710-vms         -                         Unknown            -                    -    no SriovNodeState: sriovctl's agent has not reported from this node (is it running there?)
node-5  -                no changes                Converged          -                    10m

policy x710-vms (generation 1): disruption cordon, maxUnavailable 2, failure budget 1
  nodes:    4 matched, 0 converged, 1 applying, 1 waiting, 1 failed
  slots:    node-1 (x710-vms-slot-0), node-4 (x710-vms-slot-1, expired)
  paused:   no

policy zone-a (generation 1): disruption none, maxUnavailable 50% (1 node), failure budget 1
  nodes:    1 matched, 0 converged, 0 applying, 1 waiting, 0 failed
  slots:    none held
  paused:   Requested: spec.rollout.pause is set: no new disruptive change starts
`
		if r.code != 0 || r.stderr != "" || r.stdout != want {
			t.Fatalf("exit %d, stderr %q, stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, want)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := run("fleet", "status", "--kubeconfig", kc, "--json")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		var got fleet.FleetStatus
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		var nodes []string
		for _, n := range got.Nodes {
			nodes = append(nodes, n.Node+":"+n.Phase)
		}
		if want := []string{"node-1:Draining", "node-2:Waiting", "node-3:Degraded", "node-4:Unknown", "node-5:Converged"}; !reflect.DeepEqual(nodes, want) {
			t.Errorf("nodes = %v, want %v", nodes, want)
		}
		if n := got.Nodes[0]; n.Changes != 2 || n.Disruptive != 1 || !n.Cordoned || n.AgeSeconds == nil || *n.AgeSeconds < 600 {
			t.Errorf("node-1 = %+v", n)
		}
		if n := got.Nodes[2]; n.LastError == "" || len(n.Drift) != 1 || n.Drift[0].Desired != "100" || n.Drift[0].Observed != "7" {
			t.Errorf("node-3 = %+v", n)
		}
		p := got.Policies[0]
		if p.Policy != "x710-vms" || p.Matched != 4 || p.Failed != 1 || p.MaxUnavailableNodes != 2 || len(p.Slots) != 2 ||
			p.Slots[0].Holder != "node-1" || p.Slots[0].Expired || p.Slots[1].Holder != "node-4" || !p.Slots[1].Expired {
			t.Errorf("x710-vms = %+v", p)
		}
		if p := got.Policies[1]; !p.Paused || p.PausedReason != "Requested" || p.Slots == nil {
			t.Errorf("zone-a = %+v", p)
		}
		// Empty lists are [] for consumers that iterate, never null.
		if strings.Contains(r.stdout, "null") {
			t.Errorf("JSON has a null:\n%s", r.stdout)
		}
	})

	t.Run("another namespace holds no slots", func(t *testing.T) {
		r := run("fleet", "status", "--kubeconfig", kc, "--json", "--namespace", "default")
		var got fleet.FleetStatus
		if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil {
			t.Fatalf("exit %d, %v, stderr %q", r.code, err, r.stderr)
		}
		if s := got.Policies[0].Slots; len(s) != 0 {
			t.Errorf("slots in namespace default: %+v", s)
		}
	})

	t.Run("sriovctl hands the command to sriovctl-kube", func(t *testing.T) {
		dir := buildBinaries(t)
		cmd := exec.Command(filepath.Join(dir, "sriovctl"), "fleet", "status", "--kubeconfig", kc, "--json")
		cmd.Env = append(os.Environ(), "PATH=/nonexistent") // the companion is found beside sriovctl
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %s", err, errb.String())
		}
		var got fleet.FleetStatus
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Nodes) != 5 || len(got.Policies) != 2 {
			t.Fatalf("%v: %s", err, out.String())
		}
	})
}

// makeFleet writes the objects a rollout of x710-vms in progress leaves: nodes, two policies, four agents'
// node states (one node's agent never reported) and two slot Leases, one of them of a dead agent.
func makeFleet(t *testing.T, c client.Client, now time.Time) {
	t.Helper()
	ctx := context.Background()
	x710 := map[string]string{"sriovctl.io/nic": "x710"}
	nodes := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: x710}, Spec: corev1.NodeSpec{Unschedulable: true}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-2", Labels: map[string]string{"sriovctl.io/nic": "x710", "zone": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-3", Labels: x710}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-4", Labels: x710}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-5"}},
	}
	for _, n := range nodes {
		if err := c.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := k8s.ReadObjects(filepath.Join(k8s.DeployDir(), "examples", "sriovhostpolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	zone := &v1alpha1.SriovHostPolicy{}
	if err := json.Unmarshal([]byte(`{"metadata":{"name":"zone-a"},"spec":{
		"nodeSelector":{"matchLabels":{"zone":"a"}},
		"policy":{"pfs":[{"name":"ens2f1","numVfs":2}]},
		"rollout":{"pause":true,"disruption":"none","maxUnavailable":"50%"}}}`), zone); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, zone); err != nil {
		t.Fatal(err)
	}

	observed := metav1.NewTime(now.Add(-10 * time.Minute))
	changed := metav1.NewTime(now.Add(-time.Hour))
	condition := func(typ, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: changed}
	}
	resize := v1alpha1.Op{Kind: "numvfs", PF: "ens2f0", VF: -1, From: v1alpha1.Value{NumVFs: 4}, To: v1alpha1.Value{NumVFs: 8}, Disruptive: true}
	vlan := v1alpha1.Op{Kind: "vlan", PF: "ens2f0", VF: 4, From: v1alpha1.Value{VLAN: 7}, To: v1alpha1.Value{VLAN: 100}}
	states := map[string]v1alpha1.SriovNodeStateStatus{
		"node-1": {Phase: v1alpha1.PhaseDraining, PlanSummary: "2 changes (1 disruptive)", Policies: []string{"x710-vms"},
			Plan: &v1alpha1.Plan{Ops: []v1alpha1.Op{resize, vlan}}, Conditions: []metav1.Condition{condition(v1alpha1.NodeApplying, "Draining", "cordoned; applying next")}},
		"node-2": {Phase: v1alpha1.PhaseWaiting, PlanSummary: "2 changes (1 disruptive)", Policies: []string{"x710-vms", "zone-a"},
			Plan: &v1alpha1.Plan{Ops: []v1alpha1.Op{resize, vlan}}, Conditions: []metav1.Condition{condition(v1alpha1.NodeApplying, "WaitingForSlot", "waiting for a rollout slot of x710-vms")}},
		"node-3": {Phase: v1alpha1.PhaseDegraded, PlanSummary: "1 changes (0 disruptive)", Policies: []string{"x710-vms"},
			Plan: &v1alpha1.Plan{Ops: []v1alpha1.Op{vlan}}, LastError: "set ens2f0 VF 4 vlan 100: operation not permitted (rolled back)",
			Drift:      []v1alpha1.DriftEntry{{PF: "ens2f0", VF: 4, Field: "vlan", Desired: "100", Observed: "7"}},
			Conditions: []metav1.Condition{condition(v1alpha1.NodeDegraded, "ApplyFailed", "rolled back")}},
		"node-5": {Phase: v1alpha1.PhaseConverged, PlanSummary: "no changes", Plan: &v1alpha1.Plan{Ops: []v1alpha1.Op{}},
			Conditions: []metav1.Condition{condition(v1alpha1.NodeReady, "Converged", "the host matches")}},
	}
	for name, status := range states {
		st := &v1alpha1.SriovNodeState{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(ctx, st); err != nil {
			t.Fatal(err)
		}
		st.Status = status
		st.Status.ObservedAt = &observed
		if err := c.Status().Update(ctx, st); err != nil {
			t.Fatal(err)
		}
	}

	lease := func(name, holder string, renewed time.Time) *coordinationv1.Lease {
		at := metav1.NewMicroTime(renewed)
		seconds := int32(15)
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sriovctl-system"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &at, RenewTime: &at, LeaseDurationSeconds: &seconds}}
	}
	for _, l := range []*coordinationv1.Lease{
		lease("x710-vms-slot-0", "node-1", now.Add(time.Hour)), // renewed "in the future": held for the whole test
		lease("x710-vms-slot-1", "node-4", now.Add(-time.Hour)),
	} {
		if err := c.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
}

// buildBinaries builds sriovctl and sriovctl-kube side by side, as `make build` and the package install them.
func buildBinaries(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/sriovctl", "./cmd/sriovctl-kube")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}
