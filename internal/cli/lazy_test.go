package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// full is the pick of the full tree: every command, as before Run built only the one that runs.
func full([]string) string { return "" }

// runPicked runs args in this process with the given pick and returns what a user sees.
func runPicked(t *testing.T, pick func([]string) string, args []string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := runWith(ctx, args, strings.NewReader(""), &out, &errb, pick)
	return code, out.String(), errb.String()
}

// unstable matches what differs between two identical runs: lease ids, times, and the random MACs the
// lab gives VF netdevs.
var unstable = regexp.MustCompile(`\b[0-9a-f]{32}\b|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?( ?(Z|UTC|[+-]\d\d:\d\d))|([0-9a-f]{2}:){5}[0-9a-f]{2}|\d+(\.\d+)?(ms|µs|s)\b`)

// TestLazyRootBehavesAsFullRoot runs each command line twice on identical labs, once through Run (which
// builds only the command that runs) and once with the whole tree, and wants the same output, exit code
// and host state afterwards.
func TestLazyRootBehavesAsFullRoot(t *testing.T) {
	t.Setenv(labEnvVar, "")
	t.Setenv("PATH", t.TempDir()) // `fleet` must not find a companion binary to exec
	dir := t.TempDir()
	lab, state := filepath.Join(dir, "lab"), filepath.Join(dir, "state")
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("pfs:\n  - name: ens5f0\n    numVfs: 4\npools:\n  - {name: vms, pf: ens5f0, ids: \"0-1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args string // split on spaces; LAB, STATE and POLICY are replaced
		lazy bool   // Run builds only the named command
	}{
		{"version", true},
		{"version --json", true},
		{"--json version", true},
		{"--json=true version", true},
		{"--lab LAB show", true},
		{"--lab=LAB show ens5f0 --json", true},
		{"show --lab LAB", true},
		{"--lab LAB --state-dir STATE status", true},
		{"--state-dir=STATE --lab LAB status --json", true},
		{"--lab LAB show nosuch", true},
		{"--lab LAB show --jsn", true},
		{"--lab LAB show -x", true},
		{"--lab LAB vf", true},
		{"--lab LAB vf sett 0", true},
		{"--lab LAB vf sett --mac 02:00:00:00:00:01", true},
		{"--lab LAB vf set ens5f0 0 --mac nope", true},
		{"--lab LAB vf set ens5f0 0 --vlan 08", true},
		{"--lab LAB vf set ens5f0 0 --vlan 5000", true},
		{"--lab LAB vf set ens5f0 0 --vlan", true},
		{"--lab LAB vf set ens5f0 1 --vlan 10 -v", true},
		{"--lab LAB vf set --help", true},
		{"--lab LAB pf set ens5f0 --numvfs 6 --force -q", true},
		{"--lab LAB assign --pool vms --owner vm-a --json", true},
		{"--lab LAB assign --pool vms --owner vm-a", true},
		{"--lab LAB assign --pool nosuch --owner vm-a", true},
		{"--lab LAB assignments", true},
		{"--lab LAB release --owner vm-b", true},
		{"--lab LAB plan -f POLICY", true},
		{"--lab LAB plan POLICY", true},
		{"--lab LAB plan -f POLICY --exit-code", true},
		{"--lab LAB apply --yes --policy POLICY", true},
		{"--lab LAB status --exit-code", true},
		{"--lab LAB pool list --policy POLICY", true},
		{"--lab LAB mirror list", true},
		{"--lab LAB --json mirror list", true},
		{"--lab LAB --json pool", true},
		{"--lab LAB lab fault --json", true},
		{"--lab LAB lab init LAB", true},
		{"--lab LAB export", true},
		{"--lab LAB openstack --help", true},
		{"--lab LAB ledger", true},
		{"--lab LAB forget pool vms", true},
		{"--lab LAB recover", true},
		{"--lab LAB restore", true},
		{"agent --help", true},
		{"demo --help", true},
		{"fleet status", true},
		{"import --help", true},
		{"trace --help", true},
		{"--lab LAB", false},
		{"", false},
		{"--help", false},
		{"-h", false},
		{"--version", false},
		{"help assign", false},
		{"help", false},
		{"shwo", false},
		{"--lab LAB asign --pool vms", false},
		{"-- show", false},
		{"--lab LAB -q show", false},
		{"--bogus show", false},
		{"completion bash", false},
		{"__complete --lab LAB vf set ens5f0 ", false},
		{"__complete --lab LAB ass", false},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			r := strings.NewReplacer("LAB", lab, "STATE", state, "POLICY", policy)
			args := strings.Fields(r.Replace(tc.args))
			if tc.args == "__complete --lab LAB vf set ens5f0 " {
				args = append(args, "")
			}
			if got := commandOf(args) != ""; got != tc.lazy {
				t.Fatalf("commandOf(%q) = %q: lazy %v, want %v", args, commandOf(args), got, tc.lazy)
			}
			type result struct {
				code             int
				stdout, stderr   string
				hostAfter, state string
			}
			var results [2]result
			for i, pick := range []func([]string) string{commandOf, full} {
				for _, d := range []string{lab, state} {
					if err := os.RemoveAll(d); err != nil {
						t.Fatal(err)
					}
				}
				for _, setup := range [][]string{
					{"lab", "init", lab},
					{"--lab", lab, "apply", "--yes", "-f", policy},
					{"--lab", lab, "assign", "--pool", "vms", "--owner", "vm-b"},
				} {
					if code, _, stderr := runPicked(t, full, setup); code != 0 {
						t.Fatalf("%v: exit %d: %s", setup, code, stderr)
					}
				}
				code, out, errOut := runPicked(t, pick, args)
				_, host, _ := runPicked(t, full, []string{"--lab", lab, "show", "--json"})
				_, st, _ := runPicked(t, full, []string{"--lab", lab, "status", "--json"})
				n := func(s string) string { return unstable.ReplaceAllString(s, "X") }
				results[i] = result{code, n(out), n(errOut), n(host), n(st)}
			}
			lazy, whole := results[0], results[1]
			if lazy.code != whole.code || lazy.stdout != whole.stdout || lazy.stderr != whole.stderr {
				t.Errorf("built lazily: exit %d\nstdout:\n%s\nstderr:\n%s\nwhole tree: exit %d\nstdout:\n%s\nstderr:\n%s",
					lazy.code, lazy.stdout, lazy.stderr, whole.code, whole.stdout, whole.stderr)
			}
			if lazy.hostAfter != whole.hostAfter || lazy.state != whole.state {
				t.Errorf("host or state after differ:\nlazily: %s\n%s\nwhole tree: %s\n%s", lazy.hostAfter, lazy.state, whole.hostAfter, whole.state)
			}
		})
	}
}

// TestRunBuildsOnlyTheCommandItRuns: the optimisation must not vanish silently. Run builds the one
// top-level command it runs, and every command when it is not sure which.
func TestRunBuildsOnlyTheCommandItRuns(t *testing.T) {
	t.Setenv(labEnvVar, "")
	var out bytes.Buffer
	var built []string
	builtHook = func(a *App, name string) {
		if a.Stdout == &out { // only this test's runs
			built = append(built, name)
		}
	}
	t.Cleanup(func() { builtHook = nil })
	all := make([]string, len(commands))
	for i, c := range commands {
		all[i] = c.name
	}
	lab := filepath.Join(t.TempDir(), "lab")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"version"}, []string{"version"}},
		{[]string{"lab", "init", lab}, []string{"lab"}},
		{[]string{"--lab", lab, "show", "--json"}, []string{"show"}},
		{[]string{"--lab=" + lab, "--json", "vf", "set", "ens5f0", "0", "--vlan", "9"}, []string{"vf"}},
		{[]string{"--help"}, all},
		{[]string{"help", "show"}, all},
		{[]string{"shwo"}, all},
		{[]string{"completion", "bash"}, all},
	} {
		built = nil
		out.Reset()
		Run(context.Background(), tc.args, strings.NewReader(""), &out, &out)
		if !slices.Equal(built, tc.want) {
			t.Errorf("Run(%q) built %q, want %q", tc.args, built, tc.want)
		}
	}
}

// TestBuiltCommandOnPartialTree: a listed path whose top-level command was not built is skipped, and a
// missing path is still a programming error, on the full tree and under a built top-level command.
func TestBuiltCommandOnPartialTree(t *testing.T) {
	partial := newRootFor(&App{}, "vf")
	if c := builtCommand(partial, "pool list", true); c != nil {
		t.Errorf("pool list on the vf-only tree: got %s, want nil", c.CommandPath())
	}
	if c := builtCommand(partial, "vf set", true); c == nil || commandName(c) != "vf set" {
		t.Errorf("vf set on the vf-only tree: got %v", c)
	}
	for _, tc := range []struct {
		name    string
		partial bool
		path    string
	}{
		{"full tree", false, "vf nosuch"},
		{"full tree, no such top-level", false, "nosuch list"},
		{"partial tree, built top-level", true, "vf nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := NewRoot(&App{})
			if tc.partial {
				root = partial
			}
			defer func() {
				if recover() == nil {
					t.Errorf("builtCommand(%q) did not panic", tc.path)
				}
			}()
			builtCommand(root, tc.path, tc.partial)
		})
	}
}

// BenchmarkRunVersion is the in-process part of `sriovctl version`'s start: building the root (only the
// version command, or the whole tree) and running it.
func BenchmarkRunVersion(b *testing.B) {
	for _, bc := range []struct {
		name string
		pick func([]string) string
	}{{"lazy", commandOf}, {"full", full}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runWith(context.Background(), []string{"version"}, nil, io.Discard, io.Discard, bc.pick)
			}
		})
	}
}
