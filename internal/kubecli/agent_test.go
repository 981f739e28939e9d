package kubecli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	corev1 "k8s.io/api/core/v1"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/test/k8s"
)

// TestAgentKubernetesFlags: the fleet-mode flags are checked before anything starts (exit 2, one line
// naming the flag).
func TestAgentKubernetesFlags(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb")
	t.Setenv("NODE_NAME", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // the test may itself run in a pod: no in-cluster configuration here
	run := func(args ...string) (int, string) {
		var stderr strings.Builder
		code := cli.Run(context.Background(), args, nil, &strings.Builder{}, &stderr)
		return code, stderr.String()
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--node-name", "n1"}, 2, "--node-name: needs --kubernetes"},
		{[]string{"--kubeconfig", "/x"}, 2, "--kubeconfig: needs --kubernetes"},
		{[]string{"--kubernetes", "--repair-disruptive"}, 2, "--repair-disruptive: not with --kubernetes"},
		{[]string{"--kubernetes", "--log-format", "xml"}, 2, "--log-format"},
		{[]string{"--kubernetes"}, 2, "--node-name: missing"},
		{[]string{"--kubernetes", "--node-name", "n1", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, 2, `none": no such file`},
		{[]string{"--kubernetes", "--node-name", "n1"}, 2, "--kubeconfig: not running in a pod"},
	} {
		sock := filepath.Join(t.TempDir(), "a.sock")
		code, stderr := run(append([]string{"--lab", labDir, "agent", "--socket", sock, "--metrics", ""}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestSriovctlRunsTheCompanion: sriovctl itself has no Kubernetes code; `sriovctl agent --kubernetes` runs
// sriovctl-kube from beside it with the same command line, or says that it is missing.
func TestSriovctlRunsTheCompanion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	labDir := clitest.NewLab(t, "igb0=igb")
	t.Setenv("NODE_NAME", "")
	args := []string{"--lab", labDir, "agent", "--kubernetes", "--metrics", ""}
	dir := filepath.Dir(clitest.Binary(t))
	kube := filepath.Join(dir, cli.KubeBinary)
	os.Remove(kube)
	if r := clitest.Run(t, args...); r.Code != 1 || !strings.Contains(r.Stderr, "needs sriovctl-kube") {
		t.Errorf("without the companion: exit %d, %q; want exit 1 naming sriovctl-kube", r.Code, r.Stderr)
	}
	build := exec.Command("go", "build", "-o", kube, "github.com/sriovctl/sriovctl/cmd/sriovctl-kube")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v: %s", cli.KubeBinary, err, out)
	}
	// The companion's own flag check answers: it ran, with the same arguments.
	if r := clitest.Run(t, args...); r.Code != 2 || !strings.Contains(r.Stderr, "--node-name: missing") {
		t.Errorf("with the companion: exit %d, %q; want exit 2 from sriovctl-kube's --node-name check", r.Code, r.Stderr)
	}
}

// TestAgentKubernetesCommand runs `sriovctl agent --kubernetes` as a user would (a kubeconfig, a node
// name, a lab host) against a real API server: the policy selecting the node is applied to the lab and the
// node's SriovNodeState says Converged.
func TestAgentKubernetesCommand(t *testing.T) {
	cp := k8s.Start(t, k8s.Options{})
	ctx := context.Background()
	if err := cp.Client.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, cp.Env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	labDir := filepath.Join(t.TempDir(), "lab")
	if _, err := lab.Init(labDir, []lab.NIC{{Name: "ens1f0", Profile: "ice", TotalVFs: 8}}); err != nil {
		t.Fatal(err)
	}
	four := 4
	p := &v1alpha1.SriovHostPolicy{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: v1alpha1.SriovHostPolicySpec{Policy: v1alpha1.PolicyDocument{PFs: []v1alpha1.PFPolicy{{Name: "ens1f0", NumVFs: &four}}}}}
	if err := cp.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- cli.Run(runCtx, []string{"--lab", labDir, "agent", "--kubernetes", "--kubeconfig", kubeconfig, "--node-name", "n1",
			"--namespace", "default", "--socket", filepath.Join(t.TempDir(), "a.sock"), "--metrics", "", "--resync", "200ms"}, nil, &strings.Builder{}, &stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st v1alpha1.SriovNodeState
		err := cp.Client.Get(ctx, types.NamespacedName{Name: "n1"}, &st)
		if err == nil && st.Status.Phase == v1alpha1.PhaseConverged && st.Status.AppliedGenerations["all"] == p.Generation {
			if st.Status.Observed == nil || len(st.Status.Observed.PFs) != 1 || st.Status.Observed.PFs[0].NumVFs != 4 {
				t.Errorf("published host %+v; want ens1f0 with 4 VFs", st.Status.Observed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node state not converged: %+v (err %v); agent stderr: %s", st.Status, err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("agent exit %d after stop: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
}
