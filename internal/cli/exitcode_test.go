package cli_test

import (
	"path/filepath"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

// TestExitCodeFlag: with --exit-code, plan exits 3 while it has changes and status while the host has
// drifted, 0 once there are none; without it both exit 0 either way; errors keep 1 and 2.
func TestExitCodeFlag(t *testing.T) {
	labDir := clitest.NewLab(t, "eth0=ice:8")
	lab := []string{"--lab", labDir}
	pol := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, pol, "pfs: [{name: eth0, numVfs: 2, vfs: [{ids: \"0\", vlan: 10}]}]\n")
	code := func(args ...string) int { return clitest.Run(t, append(lab, args...)...).Code }
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"plan", "-f", pol}, 0},
		{[]string{"plan", "-f", pol, "--exit-code"}, 3},
		{[]string{"plan", "-f", pol, "--exit-code", "--json"}, 3},
		{[]string{"plan", "-f", filepath.Join(t.TempDir(), "missing.yaml"), "--exit-code"}, 2},
	} {
		if got := code(tc.args...); got != tc.want {
			t.Fatalf("%v: exit %d, want %d", tc.args, got, tc.want)
		}
	}
	clitest.MustRun(t, append(lab, "apply", "-f", pol, "--yes")...)
	if got := code("plan", "-f", pol, "--exit-code"); got != 0 {
		t.Fatalf("plan --exit-code after apply: exit %d, want 0", got)
	}
	if got := code("status", "--exit-code"); got != 0 {
		t.Fatalf("status --exit-code in sync: exit %d, want 0", got)
	}
	// A hand change is drift.
	clitest.MustRun(t, append(lab, "vf", "set", "eth0", "0", "--vlan", "11")...)
	if got := code("status", "--exit-code"); got != 3 {
		t.Fatalf("status --exit-code with drift: exit %d, want 3", got)
	}
	if got := code("status"); got != 0 {
		t.Fatalf("status without --exit-code: exit %d, want 0", got)
	}
}
