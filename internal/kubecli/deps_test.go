package kubecli_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/cli"
	_ "github.com/sriovctl/sriovctl/internal/kubecli"
)

// TestSriovctlLinksNoKubernetesClient: the Kubernetes client libraries cost every sriovctl command their
// initialisation, so only the companion binary may link them (sigs.k8s.io/yaml is a plain YAML library).
func TestSriovctlLinksNoKubernetesClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	tests := []struct {
		pkg  string
		want bool
	}{
		{"github.com/sriovctl/sriovctl/cmd/sriovctl", false},
		{"github.com/sriovctl/sriovctl/cmd/sriovctl-kube", true},
	}
	for _, tt := range tests {
		out, err := exec.Command("go", "list", "-deps", tt.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tt.pkg, err)
		}
		var kube []string
		for _, p := range strings.Fields(string(out)) {
			if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/controller-runtime") {
				kube = append(kube, p)
			}
		}
		if got := len(kube) > 0; got != tt.want {
			t.Errorf("%s links %d Kubernetes client packages (%.3v...); want any: %v", tt.pkg, len(kube), kube, tt.want)
		}
	}
}

// TestCompanionHasTheAgentHook: sriovctl-kube runs `agent --kubernetes` itself rather than exec'ing itself.
func TestCompanionHasTheAgentHook(t *testing.T) {
	if cli.Kube.RunAgent == nil {
		t.Fatal("importing kubecli does not set cli.Kube.RunAgent")
	}
}
