package cli_test

import (
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

// TestQuietSilencesNotes: vf set's igb reload note is printed by default and not with -q; the write is
// made either way.
func TestQuietSilencesNotes(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "2")
	r := clitest.MustRun(t, "--lab", lab, "vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:01")
	if !strings.Contains(r.Stderr, "note: igb:") {
		t.Errorf("vf set without -q: stderr %q, want the igb reload note", r.Stderr)
	}
	r = clitest.MustRun(t, "--lab", lab, "vf", "set", "ens5f0", "1", "--mac", "02:00:00:00:00:02", "-q")
	if r.Stderr != "" || !strings.Contains(r.Stdout, "02:00:00:00:00:02") {
		t.Errorf("vf set -q: stdout %q, stderr %q; want the change and no note", r.Stdout, r.Stderr)
	}
	if out := clitest.MustRun(t, "--lab", lab, "--json", "show", "ens5f0").Stdout; !strings.Contains(out, "02:00:00:00:00:02") {
		t.Errorf("vf set -q did not set the MAC: %s", out)
	}
}
