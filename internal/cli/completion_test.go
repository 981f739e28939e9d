package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// complete asks the CLI what the shell would offer for the last word of args, as the completion
// scripts do (`sriovctl __complete ARGS... WORD`), and returns the values without descriptions.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, stderr := runInProcess(t, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, stderr)
	}
	var vals []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		v, _, _ := strings.Cut(line, "\t")
		vals = append(vals, v)
	}
	sort.Strings(vals)
	return vals
}

func TestDynamicCompletion(t *testing.T) {
	lab := newLabInProcess(t)
	policy := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(policy, []byte("pfs:\n  - name: ens5f0\n    numVfs: 4\npools:\n  - {name: vms, pf: ens5f0, ids: \"0-1\"}\n  - {name: web, pf: ens5f0, ids: \"2-3\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--lab", lab, "apply", "--yes", "-f", policy},
		{"--lab", lab, "assign", "--pool", "vms", "--owner", "vm-a"},
		{"--lab", lab, "mirror", "create", "tap", "--pf", "ens5f0", "--vfs", "2,3"},
	} {
		if code, _, stderr := runInProcess(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	stateBefore := dirListing(t, lab)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"PF names and addresses", []string{"--lab", lab, "pf", "set", ""}, "0000:01:00.0 0000:3b:00.0 0000:5e:00.0 0000:86:00.0 0000:af:00.0 ens1f0 ens2f0 ens3f0 ens4f0 ens5f0"},
		{"VF ids of the named PF", []string{"--lab", lab, "vf", "set", "ens5f0", ""}, "0 1 2 3"},
		{"VF ids by PCI address", []string{"--lab", lab, "vf", "bind", "0000:01:00.0", ""}, "0 1 2 3"},
		{"no third vf set argument", []string{"--lab", lab, "vf", "set", "ens5f0", "0", ""}, ""},
		{"pools", []string{"--lab", lab, "assign", "--pool", ""}, "vms web"},
		{"pools from --policy", []string{"--lab", lab, "pool", "list", "--policy", policy, "--json", ""}, ""},
		{"owners", []string{"--lab", lab, "release", "--owner", ""}, "vm-a"},
		{"mirror names", []string{"--lab", lab, "mirror", "delete", ""}, "tap"},
		{"NIC profiles", []string{"lab", "init", "x", "--nic", "eth0="}, "eth0=i40e eth0=ice eth0=igb eth0=ixgbe eth0=mlx5 eth0=netdevsim"},
		{"on/off", []string{"--lab", lab, "vf", "set", "ens5f0", "0", "--trust", ""}, "off on"},
		{"trace --from", []string{"--lab", lab, "trace", "--pf", "ens5f0", "--from", ""}, "pf vf:0 vf:1 vf:2 vf:3 wire"},
		{"shells", []string{"completion", ""}, "bash fish zsh"},
		{"lab reset PF", []string{"--lab", lab, "lab", "reset", ""}, "0000:01:00.0 0000:3b:00.0 0000:5e:00.0 0000:86:00.0 0000:af:00.0 ens1f0 ens2f0 ens3f0 ens4f0 ens5f0"},
		{"forget kinds", []string{"--lab", lab, "forget", ""}, "mirror pf pool"},
		{"forget pool", []string{"--lab", lab, "forget", "pool", ""}, "vms web"},
		{"forget pf", []string{"--lab", lab, "forget", "pf", ""}, "0000:01:00.0 ens5f0"},
		{"--vfs of --pf, after a comma", []string{"--lab", lab, "mirror", "create", "t2", "--pf", "ens5f0", "--vfs", "1,"}, "1,0 1,1 1,2 1,3"},
		{"--vfs without --pf", []string{"--lab", lab, "mirror", "create", "t2", "--vfs", ""}, ""},
		{"eswitch modes", []string{"--lab", lab, "pf", "set", "ens3f0", "--eswitch-mode", ""}, "legacy switchdev"},
		{"agent repair modes", []string{"agent", "--repair", ""}, "auto report"},
		{"no lab: nothing, no error", []string{"--lab", filepath.Join(t.TempDir(), "none"), "pf", "set", ""}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Join(complete(t, c.args...), " "); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	t.Run("leases", func(t *testing.T) {
		got := complete(t, "--lab", lab, "release", "--lease", "")
		if len(got) != 1 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got[0]) {
			t.Fatalf("got %q, want the one lease token", got)
		}
	})
	t.Run("SRIOVCTL_LAB", func(t *testing.T) {
		t.Setenv("SRIOVCTL_LAB", lab)
		code, out, _ := runInProcessKeepEnv(t, "__complete", "mirror", "delete", "")
		if code != 0 || !strings.HasPrefix(out, "tap\t") {
			t.Fatalf("exit %d, %q", code, out)
		}
	})
	if after := dirListing(t, lab); after != stateBefore {
		t.Fatalf("completion wrote to the lab or state dir:\nbefore %s\nafter  %s", stateBefore, after)
	}
	if code, _, stderr := runInProcess(t, "--lab", lab, "release", "--owner", "vm-a"); code != 0 {
		t.Fatalf("release: exit %d %s", code, stderr)
	}
	if got := complete(t, "--lab", lab, "release", "--lease", ""); len(got) != 0 {
		t.Fatalf("a released lease is still offered: %q", got)
	}
}

// dirListing lists every file under dir with its size and modification time.
func dirListing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %d %s\n", p, fi.Mode(), fi.Size(), fi.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_sriovctl", "zsh": "#compdef sriovctl", "fish": "complete -c sriovctl"} {
		code, out, stderr := runInProcess(t, "completion", shell)
		if code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: exit %d, %s; output lacks %q", shell, code, stderr, marker)
		}
	}
	if code, _, stderr := runInProcess(t, "completion", "tcsh"); code != 2 || !strings.Contains(stderr, `shell: invalid value "tcsh": allowed bash, zsh or fish`) {
		t.Fatalf("completion tcsh: exit %d, %q", code, stderr)
	}
}
