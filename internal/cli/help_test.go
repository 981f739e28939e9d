package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// placeholders are the words help may use for a value: a flag's placeholder (its usage's backticked
// word) and the capitalised words of a Use line. Values that are one of a few words are spelled out
// instead, lowercase and separated by | (on|off, legacy|switchdev).
var placeholders = map[string]bool{
	"PF": true, "VF": true, "NS": true, "DIR": true, "FILE": true, "PATH": true, "ADDR": true, "DURATION": true,
	"N": true, "MAC": true, "VLAN": true, "PRIO": true, "MBPS": true, "NAME": true, "ID": true, "POOL": true,
	"TOKEN": true, "RANGE": true, "MIN:MAX": true, "CIDR": true, "DRIVER": true, "ERRNO": true, "BYTES": true,
	"NAME=PROFILE[:TOTALVFS]": true, "NAME=PROFILE": true, "TOTALVFS": true, "MODE": true,
}

var (
	choices   = regexp.MustCompile(`^[a-z0-9.:-]+[A-Za-z]?(\|[a-z0-9.:-]+[A-Za-z]?)+$`)
	capsWords = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:[:=][A-Z0-9]+)*\b`)
)

func allCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		out = append(out, allCommands(c)...)
	}
	return out
}

// TestHelpTree walks the whole command tree: every command has examples, every flag's help has a
// placeholder from the allowed set (pflag makes the first backticked word of a usage the placeholder, so
// a backticked command in a description would become one), and capitalised words in Use lines are
// placeholders too.
func TestHelpTree(t *testing.T) {
	root := NewRoot(&App{})
	for _, c := range allCommands(root) {
		name := c.CommandPath()
		if c.Hidden {
			continue
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Example", name)
		}
		for _, w := range capsWords.FindAllString(strings.TrimPrefix(c.Use, c.Name()), -1) {
			if !placeholders[w] {
				t.Errorf("%s: Use %q: placeholder %q is not one of the allowed names", name, c.Use, w)
			}
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			ph, usage := pflag.UnquoteUsage(f)
			where := name + " --" + f.Name
			if strings.Contains(usage, "`") {
				t.Errorf("%s: a second backticked word stays in the help: %q", where, usage)
			}
			if f.Value.Type() == "bool" {
				if ph != "" {
					t.Errorf("%s: a bool flag shows the placeholder %q (a backticked word in %q)", where, ph, f.Usage)
				}
				return
			}
			if !placeholders[ph] && !choices.MatchString(ph) {
				t.Errorf("%s: placeholder %q (from %q): want one of the allowed names, or choices like on|off", where, ph, f.Usage)
			}
		})
	}
}

// TestSameFlagSameName: a flag name means one kind of value everywhere, and the policy file is -f/--file
// wherever a command reads one.
func TestSameFlagSameName(t *testing.T) {
	root := NewRoot(&App{})
	placeholder := map[string]string{}
	where := map[string]string{}
	for _, c := range allCommands(root) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			ph, _ := pflag.UnquoteUsage(f)
			if f.Name == "from" || f.Name == "vfs" || f.Name == "force" {
				return // the same word, a different thing per command; each is explained in its help
			}
			if prev, ok := placeholder[f.Name]; ok && prev != ph {
				t.Errorf("--%s is %q in %s but %q in %s", f.Name, prev, where[f.Name], ph, c.CommandPath())
			}
			placeholder[f.Name], where[f.Name] = ph, c.CommandPath()
			// A policy read is -f/--file; one written (export, import) is -o/--output.
			if ph == "FILE" && strings.Contains(f.Usage, "policy") && f.Name != "output" && (f.Name != "file" || f.Shorthand != "f") {
				t.Errorf("%s: the policy file is -f/--file, not --%s", c.CommandPath(), f.Name)
			}
		})
	}
}

// exampleArgs splits an Example line into the arguments after "sriovctl" (up to a comment, a pipe or
// another command), or nil for a line that is not a sriovctl command.
func exampleArgs(line string) []string {
	line = strings.TrimSpace(line)
	for _, stop := range []string{" #", " &&", " ||", " |", " >"} {
		if i := strings.Index(line, stop); i >= 0 {
			line = line[:i]
		}
	}
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != programName {
		return nil
	}
	return f[1:]
}

// parseCommandLine finds the command args name and parses its flags (and, with checkArgs, its arguments)
// in a fresh tree, without running it.
func parseCommandLine(args []string, checkArgs bool) error {
	cmd, rest, err := NewRoot(&App{}).Find(args)
	if err != nil || cmd.DisableFlagParsing {
		return err
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if checkArgs && !isGroup(cmd) {
		return cmd.ValidateArgs(cmd.Flags().Args())
	}
	return nil
}

// TestExamplesParse: every example names a command that exists, with flags it has.
func TestExamplesParse(t *testing.T) {
	for _, c := range allCommands(NewRoot(&App{})) {
		for _, line := range strings.Split(c.Example, "\n") {
			args := exampleArgs(line)
			if args == nil {
				continue
			}
			if err := parseCommandLine(args, true); err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), line, err)
			}
		}
	}
}

// run runs the CLI in this process with stdout and stderr captured.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// poolPolicy returns a temporary directory, the path of a lab in it (not made yet) and a policy file
// giving ens5f0 4 VFs and the pool vms of VFs 0 and 1.
func poolPolicy(t *testing.T) (dir, lab, policy string) {
	t.Helper()
	t.Setenv(labEnvVar, "")
	dir = t.TempDir()
	policy = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("pfs:\n  - name: ens5f0\n    numVfs: 4\npools:\n  - {name: vms, pf: ens5f0, ids: \"0-1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "lab"), policy
}

// TestJSONFlagPrintsJSON: --json is a flag of exactly the commands that print JSON. Each of them is run
// with it on a lab and must print one JSON document; --json anywhere else is refused (exit 2), also in
// the old place before the command name.
func TestJSONFlagPrintsJSON(t *testing.T) {
	dir, lab, policy := poolPolicy(t)
	osDir := filepath.Join(dir, "os")
	netplanFile := filepath.Join(dir, "netplan.yaml")
	networkdDir := filepath.Join(dir, "networkd")
	if err := os.WriteFile(netplanFile, []byte("network:\n  version: 2\n  ethernets:\n    enp1s0:\n      virtual-function-count: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(networkdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(networkdDir, "10-pf.link"), []byte("[Match]\nOriginalName=enp1s0\n\n[Link]\nSR-IOVVirtualFunctions=4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// In order: later commands need what earlier ones made.
	invocations := []struct {
		cmd  string
		args []string
	}{
		{"lab init", []string{"lab", "init", lab}},
		{"version", []string{"version"}},
		{"show", []string{"show"}},
		{"plan", []string{"plan", "-f", policy}},
		{"apply", []string{"apply", "-f", policy, "--yes"}},
		{"pf set", []string{"pf", "set", "ens5f0", "--numvfs", "4"}},
		{"vf set", []string{"vf", "set", "ens5f0", "0", "--vlan", "7"}},
		{"vf bind", []string{"vf", "bind", "ens5f0", "1", "vfio-pci"}},
		{"restore", []string{"restore", "--yes"}},
		{"recover", []string{"recover"}},
		{"status", []string{"status", "--agent-socket", filepath.Join(dir, "none.sock")}},
		{"pool list", []string{"pool", "list"}},
		{"assign", []string{"assign", "--pool", "vms", "--owner", "vm1"}},
		{"assignments", []string{"assignments"}},
		{"release", []string{"release", "--owner", "vm1"}},
		{"trace", []string{"trace", "--pf", "ens5f0", "--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff"}},
		{"mirror create", []string{"mirror", "create", "tap", "--pf", "ens5f0", "--vfs", "2,3"}},
		{"mirror list", []string{"mirror", "list"}},
		{"mirror delete", []string{"mirror", "delete", "tap"}},
		{"pool libvirt-network", []string{"pool", "libvirt-network", "vms", "-f", policy}},
		{"export", []string{"export"}},
		{"import netplan", []string{"import", "netplan", netplanFile}},
		{"import networkd", []string{"import", "networkd", networkdDir}},
		{"forget", []string{"forget", "pool", "vms"}},
		{"lab fault", []string{"lab", "fault"}},
		{"lab traffic", []string{"lab", "traffic", "--pf", "ens5f0", "--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff"}},
		{"openstack render", []string{"openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0", "--out", osDir}},
		{"openstack check", []string{"openstack", "check", "--ml2", filepath.Join(osDir, "ml2_conf.ini"),
			"--sriov-agent", filepath.Join(osDir, "sriov_agent.ini"), "--nova", filepath.Join(osDir, "nova.conf")}},
		{"ledger restore-backup", []string{"ledger", "restore-backup"}},
		{"lab reset", []string{"lab", "reset", "ens5f0"}},
		{"lab eswitch", []string{"lab", "eswitch", "ens4f0", "switchdev"}},
		{"lab reboot", []string{"lab", "reboot"}},
	}
	covered := map[string]bool{}
	for _, inv := range invocations {
		covered[inv.cmd] = true
		args := append([]string{"--lab", lab}, inv.args...)
		code, out, stderr := run(t, append(args, "--json")...)
		if code != 0 || strings.TrimSpace(out) == "" || !json.Valid([]byte(out)) {
			t.Errorf("%s --json: exit %d, stdout %q, stderr %q; want exit 0 and JSON", inv.cmd, code, out, stderr)
		}
	}
	var withFlag []string
	root := NewRoot(&App{})
	for _, c := range allCommands(root) {
		if c.LocalNonPersistentFlags().Lookup("json") != nil {
			withFlag = append(withFlag, commandName(c))
			if !covered[commandName(c)] {
				t.Errorf("%s has --json but this test does not run it", c.CommandPath())
			}
		}
	}
	sort.Strings(withFlag)
	if len(withFlag) != len(covered) {
		t.Errorf("commands with --json: %v; run here: %d", withFlag, len(covered))
	}
	// The old global place still works where the command prints JSON...
	if code, out, stderr := run(t, "--json", "--lab", lab, "show"); code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("sriovctl --json show: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// ...and is refused where it would do nothing, before anything is done.
	for _, args := range [][]string{
		{"--json", "--lab", lab, "demo"},
		{"--lab", lab, "demo", "--json"},
		{"completion", "bash", "--json"},
	} {
		code, out, stderr := run(t, args...)
		if code != ExitInvalid || out != "" || !strings.Contains(stderr, "--json") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 naming --json and no output", args, code, out, stderr)
		}
	}
}

// TestPolicyFlagAlias: pool commands read the policy with -f/--file like plan and apply; --policy, the
// old name, still works, hidden from help, with a note saying so.
func TestPolicyFlagAlias(t *testing.T) {
	_, lab, policy := poolPolicy(t)
	if code, _, stderr := run(t, "lab", "init", lab); code != 0 {
		t.Fatal(stderr)
	}
	cases := []struct {
		args       []string
		code       int
		stdout     string
		stderrHas  string
		stderrNone bool
	}{
		{[]string{"pool", "list", "-f", policy}, 0, "vms", "", true},
		{[]string{"pool", "list", "--file", policy}, 0, "vms", "", true},
		{[]string{"pool", "list", "--policy", policy}, 0, "vms", "note: --policy is deprecated; use -f/--file", false},
		{[]string{"pool", "list", "--policy", policy, "-q"}, ExitInvalid, "", "unknown flag -q", false},
		{[]string{"pool", "list", "--policy", policy, "-f", policy}, ExitInvalid, "", "--policy: give -f/--file only", false},
	}
	for _, c := range cases {
		code, out, stderr := run(t, append([]string{"--lab", lab}, c.args...)...)
		if code != c.code || !strings.Contains(out, c.stdout) || !strings.Contains(stderr, c.stderrHas) || c.stderrNone && stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", c.args, code, out, stderr, c.code, c.stdout, c.stderrHas)
		}
	}
	code, out, _ := run(t, "pool", "list", "--help")
	if code != 0 || strings.Contains(out, "--policy") || !strings.Contains(out, "-f, --file FILE") {
		t.Errorf("pool list --help: exit %d:\n%s", code, out)
	}
}
