package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/jsonout/jsonouttest"
)

// TestErrorsReadLikeTheTool runs mistakes a user makes and checks the exit code and that the message is in
// the tool's words: one "sriovctl: " prefix, the field or flag named, a did-you-mean where one helps, and
// none of Go's internals.
func TestErrorsReadLikeTheTool(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "2")
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte("pfs:\n  - name: ens5f0\n    numVfs: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("pfs:\n  - name: ens5f0\n    vfs:\n      - ids: \"0\"\n        spoofChk: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	quoted := filepath.Join(dir, "quoted.yaml")
	if err := os.WriteFile(quoted, []byte("pfs:\n  - name: ens5f0\n    numVfs: \"2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"root flag typo", []string{"--stat-dir", "/tmp", "show"}, 2, "unknown flag --stat-dir; did you mean --state-dir?"},
		{"flag typo", []string{"show", "--jsn"}, 2, "sriovctl: show: unknown flag --jsn; did you mean --json?"},
		{"vf set flag typo", []string{"vf", "set", "ens5f0", "0", "--vlna", "5"}, 2, "vf set: unknown flag --vlna; did you mean --vlan?"},
		{"subcommand typo", []string{"vf", "sett"}, 2, `did you mean "set"?`},
		{"number as a word", []string{"vf", "set", "ens5f0", "0", "--vlan", "two"}, 2, `--vlan: invalid value "two": want a whole number`},
		{"VF as a word", []string{"vf", "set", "ens5f0", "two", "--vlan", "5"}, 2, `VF: invalid value "two": no VF of ens5f0 has this netdev name (want a VF index`},
		{"plan with the file as argument", []string{"plan", pol}, 2, "plan: takes no arguments; give the policy file with -f: sriovctl plan -f " + pol},
		{"apply with the file as argument", []string{"apply", pol}, 2, "apply: takes no arguments; give the policy file with -f: sriovctl apply -f " + pol},
		{"extra argument", []string{"recover", "now"}, 2, `recover: takes no arguments; got "now"`},
		{"missing argument", []string{"vf", "bind", "ens5f0", "0"}, 2, "vf bind: want 3 arguments (PF VF DRIVER); got 2 arguments"},
		{"policy key typo", []string{"plan", "-f", typo}, 2, `typo.yaml:5: pfs[0].vfs[0].spoofChk: unknown key; did you mean "spoofchk"?`},
		{"policy number as string", []string{"plan", "-f", quoted}, 2, `quoted.yaml:3: pfs[0].numVfs: invalid value "2": want a whole number`},
		{"unknown PF", []string{"pf", "set", "nope", "--numvfs", "1"}, 2, `PF: invalid value "nope": no such PF`},
		{"PF typo", []string{"show", "ens5f"}, 2, `no such PF; PFs on this host: ens1f0, ens2f0, ens3f0, ens4f0, ens5f0; did you mean "ens5f0"?`},
		{"short flag", []string{"show", "-x"}, 2, "sriovctl: show: unknown flag -x (see --help)"},
		{"unknown PF in lab eswitch", []string{"lab", "eswitch", "nope", "switchdev"}, 2, `PF: invalid value "nope": no such PF`},
		{"unknown PF in lab reset", []string{"lab", "reset", "nope"}, 2, `PF: invalid value "nope": no such PF`},
		{"malformed lease", []string{"release", "--lease", "zzz"}, 2, `--lease: invalid value "zzz": want the 32 hex digits assign printed`},
		{"driver refusal in words", []string{"vf", "set", "ens5f0", "0", "--query-rss", "on"}, 1, "turn query_rss on for ens5f0 vf 0"},
		{"openstack file missing", []string{"openstack", "check", "--ml2", filepath.Join(dir, "no.ini"), "--sriov-agent", pol, "--nova", pol}, 2,
			"--ml2: " + filepath.Join(dir, "no.ini") + ": no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := clitest.Run(t, append([]string{"--lab", lab}, tc.args...)...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.Code, r.Stderr, tc.code, tc.want)
			}
			checkToolWords(t, r.Stderr)
		})
	}
}

var goType = regexp.MustCompile(`\b(policy|sriov|plan|service)\.[A-Z]`)

// checkToolWords fails on what a user should never see in an error: a double prefix, Go's parser and
// decoder names, internal type names, a doubled word.
func checkToolWords(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "sriovctl: ") {
		t.Errorf("want one line starting with \"sriovctl: \", got %q", stderr)
	}
	for _, bad := range []string{"sriovctl: sriovctl", "strconv.", "cannot unmarshal", "not found in", "(s)", "usage: ", " on on ", "open /"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr has %q: %q", bad, stderr)
		}
	}
	if goType.MatchString(stderr) {
		t.Errorf("stderr names a Go type: %q", stderr)
	}
}

// TestTextHasNoNoOpLinesOrInternalNames: what a write did is said in words. igb's reload writes the
// clear MAC again around the rebind; a mirror rule is named as one, not by its operation kind.
func TestTextHasNoNoOpLinesOrInternalNames(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "2")
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens4f0", "--eswitch-mode", "switchdev")
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens4f0", "--numvfs", "2")
	clitest.MustRun(t, "--lab", lab, "mirror", "create", "tap", "--pf", "ens4f0", "--vfs", "0,1")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"reload only", []string{"vf", "set", "ens5f0", "0", "--reload-vf-driver"},
			[]string{"ens5f0 vf 0: mac 00:00:00:00:00:00 (unchanged, written again)", "ens5f0 vf 0: driver igbvf -> (none)"}},
		{"mirror rule removed", []string{"mirror", "delete", "tap"},
			[]string{"ens4f0: remove mirror rule tap (frames to "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := clitest.MustRun(t, append([]string{"--lab", lab}, tc.args...)...)
			for _, w := range tc.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.Stdout)
				}
			}
			for _, line := range strings.Split(r.Stdout, "\n") {
				if from, to, ok := strings.Cut(line, " -> "); ok && strings.HasSuffix(from, " "+strings.Fields(to)[0]) {
					t.Errorf("no-op line: %q", line)
				}
				if strings.Contains(line, "mirrorRule") {
					t.Errorf("internal name: %q", line)
				}
			}
		})
	}
	pol := filepath.Join(t.TempDir(), "one.yaml")
	if err := os.WriteFile(pol, []byte("pfs:\n  - name: ens5f0\n    vfs:\n      - {ids: \"1\", vlan: 5}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := clitest.MustRun(t, "--lab", lab, "plan", "-f", pol); !strings.HasSuffix(r.Stdout, "1 change (0 disruptive)\n") {
		t.Errorf("plan of one write ends %q", r.Stdout)
	}
	if r := clitest.MustRun(t, "--lab", lab, "apply", "-f", pol); !strings.HasSuffix(r.Stdout, "apply: done: 1 write\n") {
		t.Errorf("apply of one write ends %q", r.Stdout)
	}
}

// TestPendingRecoveryJSON: after an apply is killed mid-way, the read commands report what it left in
// pendingRecovery, and recover what it did, in documents that match their schemas.
func TestPendingRecoveryJSON(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb", "ice0=ice:8")
	pol := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(pol, []byte(crashPolicies[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "25ms")
	cmd := startApply(t, labDir, pol)
	waitJournalNext(t, cmd, filepath.Join(labDir, "state", "apply.journal"), 2)
	cmd.Process.Kill()
	cmd.Wait()
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
	for _, c := range []struct{ command, args string }{
		{"plan", "plan -f " + pol}, {"status", "status"}, {"mirror list", "mirror list"}, {"assignments", "assignments"},
	} {
		r := clitest.MustRun(t, append([]string{"--lab", labDir, "--json"}, strings.Fields(c.args)...)...)
		jsonouttest.Validate(t, c.command, r.Stdout)
		var doc struct {
			Pending *struct {
				Journal *struct{ What string }
			} `json:"pendingRecovery"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || doc.Pending == nil || doc.Pending.Journal == nil || doc.Pending.Journal.What != "apply" {
			t.Errorf("%s --json: no pendingRecovery.journal of the killed apply: %v\n%s", c.args, err, r.Stdout)
		}
	}
	r := clitest.MustRun(t, "--lab", labDir, "--json", "recover")
	jsonouttest.Validate(t, "recover", r.Stdout)
	var rec struct {
		Recovered bool
		Apply     *struct{ Action string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rec); err != nil || !rec.Recovered || rec.Apply == nil || rec.Apply.Action != "undone" {
		t.Errorf("recover --json: %v\n%s", err, r.Stdout)
	}
}
