package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/cli"
)

// runInProcess runs the CLI in this process (no binary build): exit code, stdout, stderr.
func runInProcess(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("SRIOVCTL_LAB", "")
	return runInProcessKeepEnv(t, args...)
}

// runInProcessKeepEnv is runInProcess with the environment as the test set it (SRIOVCTL_LAB).
func runInProcessKeepEnv(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := cli.Run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func newLabInProcess(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	if code, _, stderr := runInProcess(t, "lab", "init", dir); code != 0 {
		t.Fatalf("lab init: %d %s", code, stderr)
	}
	return dir
}

// TestInputRefusals: each refused input exits 2 with one line naming what was wrong, and the host is
// unchanged afterwards.
func TestInputRefusals(t *testing.T) {
	lab := newLabInProcess(t)
	if code, _, stderr := runInProcess(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "4"); code != 0 {
		t.Fatal(stderr)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	octal := filepath.Join(dir, "octal.yaml")
	if err := os.WriteFile(octal, []byte("pfs:\n  - name: ens5f0\n    vfs:\n      - ids: \"0\"\n        vlan: 010\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("~\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"octal vlan flag", []string{"vf", "set", "ens5f0", "0", "--vlan", "010"}, `sriovctl: --vlan: invalid value "010": want a whole number in plain decimal, e.g. 10 (no leading zeros`},
		{"hex numvfs flag", []string{"pf", "set", "ens5f0", "--numvfs", "0x2", "--force"}, `sriovctl: --numvfs: invalid value "0x2"`},
		{"underscore", []string{"pf", "set", "ens5f0", "--numvfs", "1_0", "--force"}, `sriovctl: --numvfs: invalid value "1_0"`},
		{"plus", []string{"vf", "set", "ens5f0", "0", "--qos", "+1"}, `sriovctl: --qos: invalid value "+1"`},
		{"out of range", []string{"vf", "set", "ens5f0", "0", "--vlan", "99999999999999999999"}, `sriovctl: --vlan: invalid value "99999999999999999999": out of range for --vlan VLAN: port VLAN 0-4094 (0 = none, flat)`},
		{"bool", []string{"show", "--json=maybe"}, `sriovctl: --json: invalid value "maybe": want true or false`},
		{"missing value", []string{"vf", "set", "ens5f0", "0", "--vlan"}, "sriovctl: --vlan: needs a value"},
		{"unknown flag", []string{"vf", "set", "ens5f0", "0", "--vlna", "3"}, `sriovctl: vf set: unknown flag --vlna; did you mean --vlan?`},
		{"unknown flag, no double prefix", []string{"show", "--bogus"}, "sriovctl: show: unknown flag --bogus (see --help)"},
		{"mistyped subcommand", []string{"vf", "sett", "ens5f0", "0"}, `sriovctl: vf: unknown command "sett"; did you mean "set"? (commands: bind, set)`},
		{"mistyped subcommand with flags", []string{"vf", "sett", "ens5f0", "0", "--mac", "02:00:00:00:00:01"}, `sriovctl: vf: unknown command "sett"; did you mean "set"?`},
		{"pool show", []string{"pool", "show"}, `sriovctl: pool: unknown command "show" (commands: libvirt-network, list)`},
		{"mirror ls", []string{"mirror", "ls"}, `sriovctl: mirror: unknown command "ls"; did you mean "list"?`},
		{"top level", []string{"shwo"}, `sriovctl: unknown command "shwo"; did you mean "show"?`},
		{"wrong arg count", []string{"vf", "set", "ens5f0"}, "sriovctl: vf set: want 2 arguments (PF VF); got 1 argument"},
		{"policy from a device", []string{"plan", "-f", "/dev/zero"}, "sriovctl: -f: /dev/zero: not a regular file (a character device)"},
		{"policy from a FIFO", []string{"apply", "--yes", "-f", fifo}, "not a regular file (a FIFO)"},
		{"octal vlan in a policy", []string{"apply", "--yes", "-f", octal}, `octal.yaml:5: pfs[0].vfs[0].vlan: invalid value "010"`},
		{"empty policy", []string{"apply", "--yes", "-f", empty}, "empty.yaml:1: empty policy"},
		{"pools from a FIFO", []string{"pool", "list", "-f", fifo}, "not a regular file (a FIFO)"},
	}
	before := showText(t, lab)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runInProcess(t, append([]string{"--lab", lab}, c.args...)...)
			if code != 2 || !strings.HasPrefix(stderr, "sriovctl: ") || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line containing %q", code, stderr, c.want)
			}
			if strings.Contains(stderr, "sriovctl: sriovctl") || strings.Contains(stderr, "strconv") {
				t.Fatalf("stderr %q: double prefix or Go internals", stderr)
			}
		})
	}
	if after := showText(t, lab); after != before {
		t.Fatalf("a refused command changed the host:\nbefore %s\nafter %s", before, after)
	}
}

func showText(t *testing.T, lab string) string {
	t.Helper()
	code, out, stderr := runInProcess(t, "--lab", lab, "show", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	return out
}

// TestDecimalFlagsStillSet: a decimal value reaches the command (the wrapper does not break parsing).
func TestDecimalFlagsStillSet(t *testing.T) {
	lab := newLabInProcess(t)
	for _, args := range [][]string{
		{"pf", "set", "ens5f0", "--numvfs", "2"},
		{"vf", "set", "ens5f0", "1", "--vlan", "10", "--qos", "0"},
	} {
		if code, _, stderr := runInProcess(t, append([]string{"--lab", lab}, args...)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	if s := showText(t, lab); !strings.Contains(s, `"vlan": 10,`) || !strings.Contains(s, `"numVfs": 2,`) {
		t.Fatalf("show after setting numvfs 2, vlan 10:\n%s", s)
	}
}

// TestGroupWithoutSubcommandShowsHelp: a bare group is a request for help, not an error.
func TestGroupWithoutSubcommandShowsHelp(t *testing.T) {
	for _, group := range []string{"vf", "pool", "mirror", "lab", "openstack"} {
		code, out, stderr := runInProcess(t, group)
		if code != 0 || !strings.Contains(out, "Available Commands:") || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", group, code, out, stderr)
		}
	}
}
