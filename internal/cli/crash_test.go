package cli_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/clitest"
)

// Two policies that differ everywhere, so that every apply has work to do: VF counts (resizes included),
// MACs (igb reloads), VLANs, trust, drivers.
var crashPolicies = []string{`pfs:
  - name: igb0
    numVfs: 4
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:10"
        vlan: 100
      - ids: "1-3"
        trust: true
        spoofchk: false
  - name: ice0
    numVfs: 6
    vfs:
      - ids: "0-4"
        vlan: 20
        qos: 3
      - ids: "5"
        driver: vfio-pci
`, `pfs:
  - name: igb0
    numVfs: 3
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:20"
      - ids: "2"
        driver: vfio-pci
  - name: ice0
    numVfs: 8
    vfs:
      - ids: "0-7"
        maxTxRateMbps: 2000
        trust: true
`}

func showNormalized(t *testing.T, labDir string) string {
	t.Helper()
	s, err := applytest.NormalizeJSON([]byte(clitest.MustRun(t, "--lab", labDir, "show", "--json").Stdout))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startApply runs `sriovctl apply` in the background.
func startApply(t *testing.T, labDir, pol string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(clitest.Binary(t), "--lab", labDir, "apply", "-f", pol, "--yes")
	cmd.Env = append(os.Environ(), "SRIOVCTL_LAB=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestKill9DuringApply kills a slowed apply at random points between its writes (asserting that the kill
// landed mid-apply: some writes made, the journal there): `recover` then puts the host back exactly as it
// was before, and a new apply (which recovers first) converges.
func TestKill9DuringApply(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb", "ice0=ice:8")
	dir := t.TempDir()
	pols := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}
	for i, p := range pols {
		if err := os.WriteFile(p, []byte(crashPolicies[i]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pols[1], "--yes")
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	const delay = 25 * time.Millisecond
	for i := range 6 {
		pol := pols[i%2]
		before := showNormalized(t, labDir)
		var planned struct {
			Changes int `json:"changeCount"`
		}
		if err := json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "plan", "-f", pol, "--json").Stdout), &planned); err != nil || planned.Changes < 2 {
			t.Fatalf("plan: %+v %v", planned, err)
		}
		clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", delay.String())
		start := labOps(t, labDir)
		// Kill once the journal says operation k is about to run (operations 0..k-1 done), 1 <= k < all of
		// them: in the middle of the apply.
		k := 1 + rng.IntN(planned.Changes-1)
		cmd := startApply(t, labDir, pol)
		waitJournalNext(t, cmd, filepath.Join(labDir, "state", "apply.journal"), k)
		cmd.Process.Kill()
		cmd.Wait()
		clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
		if n := labOps(t, labDir) - start; n < uint64(k) || n >= uint64(planned.Changes) {
			t.Fatalf("round %d: the kill did not land mid-apply: %d of %d writes made, killed at operation %d", i, n, planned.Changes, k)
		}
		if _, err := os.Stat(filepath.Join(labDir, "state", "apply.journal")); err != nil {
			t.Fatalf("round %d: the kill did not land mid-apply (no journal): %v", i, err)
		}
		if i%4 < 2 {
			// recover: exactly as before (or, if the apply had committed, at the policy).
			r := clitest.MustRun(t, "--lab", labDir, "recover")
			t.Logf("round %d: %s", i, strings.TrimSpace(r.Stdout))
			if got := showNormalized(t, labDir); got != before {
				// Only right when the killed apply had made every write.
				if p := clitest.MustRun(t, "--lab", labDir, "plan", "-f", pol); !strings.HasSuffix(p.Stdout, "no changes\n") {
					t.Fatalf("round %d: host neither as before nor at the policy (%s):\n%s", i, r.Stdout, applytest.Diff(got, before))
				}
			}
		}
		// apply again: recovers what is left, then converges; a third apply makes 0 writes.
		clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--yes")
		if r := clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol); !strings.Contains(r.Stdout, "0 writes") {
			t.Fatalf("round %d: not converged:\n%s", i, r.Stdout)
		}
	}
}

// TestConcurrentAppliesSerialize: two applies at once both succeed; the second waits for the lock and
// then has nothing to do.
func TestConcurrentAppliesSerialize(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb", "ice0=ice:8")
	pol := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(pol, []byte(crashPolicies[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	var planned struct {
		Changes int `json:"changeCount"`
	}
	if err := json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "plan", "-f", pol, "--json").Stdout), &planned); err != nil || planned.Changes == 0 {
		t.Fatal(planned, err)
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "10ms")
	a, b := startApply(t, labDir, pol), startApply(t, labDir, pol)
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := labOps(t, labDir); n != uint64(planned.Changes) {
		t.Fatalf("%d host writes; the plan has %d (a second writer would have repeated some)", n, planned.Changes)
	}
}
