package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKubernetesLibraries: the Kubernetes client libraries cost every command tens of milliseconds of
// package init, so they live in the companion binary sriovctl-kube; sriovctl itself must not link them.
func TestNoKubernetesLibraries(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/controller-runtime") {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("sriovctl links %d Kubernetes packages (they belong in cmd/sriovctl-kube), e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], ", "))
	}
}
