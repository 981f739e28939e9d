package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

const cliPolicy = `pfs:
  - name: ens5f0
    numVfs: 4
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:10"
        vlan: 100
      - ids: "1-3"
        trust: true
  - name: ens3f0
    numVfs: 2
`

func writePolicy(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func labOps(t *testing.T, dir string) uint64 {
	t.Helper()
	l, err := lab.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.MutatingOps()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPlanApplyStatusRestore(t *testing.T) {
	labDir := clitest.NewLab(t)
	pol := writePolicy(t, t.TempDir(), cliPolicy)

	r := clitest.MustRun(t, "--lab", labDir, "plan", "-f", pol)
	if !strings.HasSuffix(r.Stdout, "9 changes (0 disruptive)\n") || !strings.Contains(r.Stdout, "reload igbvf") {
		t.Fatalf("plan:\n%s", r.Stdout)
	}
	if labOps(t, labDir) != 0 {
		t.Fatal("plan wrote to the host")
	}
	r = clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	if !strings.Contains(r.Stdout, "apply: done: 9 writes") || labOps(t, labDir) != 9 {
		t.Fatalf("apply:\n%s", r.Stdout)
	}
	r = clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--json")
	var out struct {
		Writes  int    `json:"writes"`
		Summary string `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || out.Writes != 0 || out.Summary != "no changes" {
		t.Fatalf("second apply: %+v %v\n%s", out, err, r.Stdout)
	}
	if labOps(t, labDir) != 9 {
		t.Fatal("second apply wrote to the host")
	}
	if r := clitest.MustRun(t, "--lab", labDir, "status"); !strings.Contains(r.Stdout, "in sync") {
		t.Fatalf("status:\n%s", r.Stdout)
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "reboot")
	r = clitest.MustRun(t, "--lab", labDir, "status")
	if !strings.Contains(r.Stdout, "DRIFT") || !strings.Contains(r.Stdout, "ens5f0: numvfs 0 -> 4") {
		t.Fatalf("status after reboot:\n%s", r.Stdout)
	}
	r = clitest.MustRun(t, "--lab", labDir, "restore")
	if !strings.Contains(r.Stdout, "restore: done: 9 writes") {
		t.Fatalf("restore:\n%s", r.Stdout)
	}
	if r := clitest.MustRun(t, "--lab", labDir, "status", "--json"); !strings.Contains(r.Stdout, `"inSync": true`) {
		t.Fatalf("status --json:\n%s", r.Stdout)
	}
}

func TestApplyDisruptiveNeedsYes(t *testing.T) {
	labDir := clitest.NewLab(t)
	dir := t.TempDir()
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", writePolicy(t, dir, cliPolicy))
	resized := writePolicy(t, dir, strings.Replace(cliPolicy, "numVfs: 4", "numVfs: 6", 1))
	before := labOps(t, labDir)
	r := clitest.Run(t, "--lab", labDir, "apply", "-f", resized)
	if r.Code != 2 || !strings.Contains(r.Stderr, "disruptive") || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("apply without --yes: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := clitest.MustRun(t, "--lab", labDir, "apply", "-f", resized, "--dry-run"); !strings.Contains(r.Stdout, "dry run: 0 writes") {
		t.Fatalf("dry run:\n%s", r.Stdout)
	}
	if labOps(t, labDir) != before {
		t.Fatal("refused apply or dry run wrote to the host")
	}
	r = clitest.MustRun(t, "--lab", labDir, "apply", "-f", resized, "--yes")
	if !strings.Contains(r.Stdout, "DISRUPTIVE") || !strings.Contains(r.Stdout, "VFs 0-3 get their settings back") {
		t.Fatalf("apply --yes:\n%s", r.Stdout)
	}
	show := clitest.MustRun(t, "--lab", labDir, "show", "ens5f0", "--json").Stdout
	if !strings.Contains(show, `"mac": "02:00:00:00:00:10"`) || strings.Count(show, `"trust": true`) != 3 {
		t.Fatalf("settings not kept across the resize:\n%s", show)
	}
}

func TestApplyProblemsAndErrors(t *testing.T) {
	labDir := clitest.NewLab(t)
	dir := t.TempDir()
	cases := []struct {
		name, policy string
		code         int
		stderr       string
	}{
		{"driver refuses", "pfs:\n  - name: ens5f0\n    numVfs: 1\n    vfs:\n      - ids: \"0\"\n        linkState: enable\n", 1, "operation not supported"},
		{"too many VFs", "pfs:\n  - name: ens5f0\n    numVfs: 9\n", 2, "allowed 0-7 (sriov_totalvfs)"},
		{"no such PF", "pfs:\n  - name: eth9\n", 2, "no such PF"},
		{"parse error", "pfs:\n  - name: ens5f0\n    numVFs: 2\n", 2, "policy.yaml:3: pfs[0].numVFs: unknown key; did you mean \"numVfs\"?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := writePolicy(t, dir, c.policy)
			for _, cmd := range []string{"plan", "apply"} {
				r := clitest.Run(t, "--lab", labDir, cmd, "-f", pol)
				if r.Code != c.code || !strings.Contains(r.Stderr, c.stderr) {
					t.Errorf("%s: exit %d, stderr %q; want %d and %q", cmd, r.Code, r.Stderr, c.code, c.stderr)
				}
			}
		})
	}
	if labOps(t, labDir) != 0 {
		t.Fatal("a refused plan wrote to the host")
	}
	// A host failure mid-way: exit 1, the host restored, said so.
	pol := writePolicy(t, dir, cliPolicy)
	before := clitest.MustRun(t, "--lab", labDir, "show", "--json").Stdout
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--fail-at", "5", "--errno", "EIO")
	r := clitest.Run(t, "--lab", labDir, "apply", "-f", pol)
	if r.Code != 1 || !strings.Contains(r.Stderr, "host restored to its prior state") {
		t.Fatalf("apply with a fault: exit %d\n%s", r.Code, r.Stderr)
	}
	if after := clitest.MustRun(t, "--lab", labDir, "show", "--json").Stdout; after != before {
		t.Fatalf("host changed by a failed apply:\n%s\nwant:\n%s", after, before)
	}
}

func TestApplyNoWait(t *testing.T) {
	labDir := clitest.NewLab(t)
	pol := writePolicy(t, t.TempDir(), cliPolicy)
	l, err := apply.Acquire(filepath.Join(labDir, "state"), false)
	if err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, "--lab", labDir, "apply", "-f", pol, "--no-wait")
	l.Release()
	if r.Code != 1 || !strings.Contains(r.Stderr, "another sriovctl command that writes the host (apply, restore, recover, assign, release or mirror) is running") || !strings.Contains(r.Stderr, "--no-wait") {
		t.Fatalf("apply --no-wait: exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--no-wait")
	if r := clitest.MustRun(t, "--lab", labDir, "recover"); !strings.Contains(r.Stdout, "nothing to recover") {
		t.Fatalf("recover:\n%s", r.Stdout)
	}
}
