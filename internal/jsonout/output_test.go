package jsonout_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/jsonout"
)

// outputRun is one command run with --json: which schema its output must match and the exit code.
type outputRun struct {
	command string // the jsonout.Commands name
	args    []string
	code    int
}

// TestCommandOutputMatchesSchema runs every command that prints JSON on a lab, through the real binary,
// and validates what it prints against the committed schema of that command; a command without a run
// here fails the test.
func TestCommandOutputMatchesSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	tmp := t.TempDir()
	pol := filepath.Join(tmp, "policy.yaml")
	write(t, pol, `pfs:
  - name: ens3f0
    numVfs: 4
    vfs:
      - ids: "0-1"
        vlan: 200
      - ids: "2-3"
        spoofchk: false
pools:
  - name: vms
    pf: ens3f0
    ids: "2-3"
    driver: vfio-pci
`)
	bad := filepath.Join(tmp, "bad.yaml")
	write(t, bad, "pfs:\n  - name: ens3f0\n    numVfs: 400\n")
	resize := filepath.Join(tmp, "resize.yaml")
	write(t, resize, "pfs:\n  - name: ens3f0\n    numVfs: 2\n")
	osDir := filepath.Join(tmp, "openstack")
	check := []string{"openstack", "check", "--ml2", filepath.Join(osDir, "ml2_conf.ini"),
		"--sriov-agent", filepath.Join(osDir, "sriov_agent.ini"), "--nova", filepath.Join(osDir, "nova.conf")}
	netplanFile := filepath.Join(tmp, "netplan.yaml")
	write(t, netplanFile, "network:\n  version: 2\n  ethernets:\n    enp1s0:\n      virtual-function-count: 4\n      mtu: 9000\n")
	networkdDir := filepath.Join(tmp, "networkd")
	if err := os.MkdirAll(networkdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(networkdDir, "10-pf.link"), "[Match]\nOriginalName=enp1s0\n\n[Link]\nSR-IOVVirtualFunctions=4\n")
	runs := []outputRun{
		{"lab init", []string{"lab", "init", dir}, 0},
		{"version", []string{"version"}, 0},
		{"show", []string{"show"}, 0},
		{"status", []string{"status"}, 0},
		{"recover", []string{"recover"}, 0},
		{"assignments", []string{"assignments"}, 0},
		{"pf set", []string{"pf", "set", "ens5f0", "--numvfs", "4"}, 0},
		{"pf set", []string{"pf", "set", "ens5f0", "--numvfs", "4"}, 0},
		{"show", []string{"show", "ens5f0"}, 0},
		{"vf set", []string{"vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:10", "--vlan", "5", "--spoofchk", "off", "--trust", "on", "--max-tx-rate", "100"}, 0},
		{"vf set", []string{"vf", "set", "ens5f0", "0", "--vlan", "5"}, 0},
		{"vf bind", []string{"vf", "bind", "ens5f0", "1", "vfio-pci"}, 0},
		{"pf set", []string{"pf", "set", "ens4f0", "--eswitch-mode", "switchdev"}, 0},
		{"pf set", []string{"pf", "set", "ens5f0", "--mtu", "9000"}, 0},
		{"trace", []string{"trace", "--pf", "ens5f0", "--from", "wire", "--dst", "02:00:00:00:00:10", "--vlan", "5"}, 0},
		{"lab traffic", []string{"lab", "traffic", "--pf", "ens5f0", "--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff", "--count", "3"}, 0},
		{"mirror create", []string{"mirror", "create", "probe", "--pf", "ens5f0", "--vfs", "2,3"}, 0},
		{"mirror list", []string{"mirror", "list"}, 0},
		{"mirror delete", []string{"mirror", "delete", "probe"}, 0},
		{"pf set", []string{"pf", "set", "ens4f0", "--numvfs", "2"}, 0},
		{"mirror create", []string{"mirror", "create", "tap", "--pf", "ens4f0", "--vfs", "0,1"}, 0},
		{"mirror list", []string{"mirror", "list"}, 0},
		{"plan", []string{"plan", "-f", pol}, 0},
		{"plan", []string{"plan", "-f", bad}, 2},
		{"apply", []string{"apply", "-f", pol, "--dry-run"}, 0},
		{"lab fault", []string{"lab", "fault", "--fail-at", "3"}, 0},
		{"lab fault", []string{"lab", "fault"}, 0},
		{"apply", []string{"apply", "-f", pol}, 1},
		{"lab fault", []string{"lab", "fault", "--clear"}, 0},
		{"apply", []string{"apply", "-f", pol}, 0},
		{"status", []string{"status"}, 0},
		{"pool list", []string{"pool", "list"}, 0},
		{"assign", []string{"assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:00:99", "--vlan", "7"}, 0},
		{"assign", []string{"assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:00:99", "--vlan", "7", "--format", "json"}, 0},
		{"assignments", []string{"assignments"}, 0},
		{"pool list", []string{"pool", "list"}, 0},
		{"pool libvirt-network", []string{"pool", "libvirt-network", "vms"}, 0},
		{"pool libvirt-network", []string{"pool", "libvirt-network", "vms", "--name", "vms-net", "-o", filepath.Join(tmp, "net.xml")}, 0},
		{"export", []string{"export"}, 0},
		{"export", []string{"export", "ens3f0", "-o", filepath.Join(tmp, "export.yaml")}, 0},
		{"import netplan", []string{"import", "netplan", netplanFile}, 0},
		{"import networkd", []string{"import", "networkd", networkdDir}, 0},
		{"ledger restore-backup", []string{"ledger", "restore-backup"}, 0},
		{"plan", []string{"plan", "-f", resize, "--force"}, 0},
		{"lab reset", []string{"lab", "reset", "ens3f0"}, 0},
		{"status", []string{"status"}, 0},
		{"restore", []string{"restore", "--yes"}, 0},
		{"release", []string{"release", "--owner", "web1"}, 0},
		{"release", []string{"release", "--lease", "0123456789abcdef0123456789abcdef"}, 0},
		{"forget", []string{"forget", "pool", "vms"}, 0},
		{"recover", []string{"recover"}, 0},
		{"lab eswitch", []string{"lab", "eswitch", "ens2f0", "legacy"}, 1},
		{"lab eswitch", []string{"lab", "eswitch", "ens4f0", "legacy"}, 1},
		{"lab reboot", []string{"lab", "reboot"}, 0},
		{"lab eswitch", []string{"lab", "eswitch", "ens4f0", "legacy"}, 0},
		{"pf set", []string{"pf", "set", "ens5f0", "--numvfs", "2"}, 0},
		{"openstack render", []string{"openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0", "--out", osDir}, 0},
		{"openstack check", check, 0},
		{"openstack render", []string{"openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0"}, 0},
	}
	schemas := map[string]*jsonschema.Schema{}
	covered := map[string]bool{}
	for _, r := range runs {
		s := schemas[r.command]
		if s == nil {
			s = compile(t, jsonout.SchemaFile(r.command))
			schemas[r.command] = s
		}
		args := append([]string{"--lab", dir, "--json"}, r.args...)
		res := clitest.Run(t, args...)
		what := "sriovctl " + strings.Join(r.args, " ") + " --json"
		if res.Code != r.code {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, res.Code, r.code, res.Stdout, res.Stderr)
			continue
		}
		if r.code != 0 && res.Stdout == "" {
			continue // an error before any output: only stderr
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(res.Stdout))
		if err != nil {
			t.Errorf("%s: not one JSON document: %v\n%s", what, err, res.Stdout)
			continue
		}
		if err := s.Validate(inst); err != nil {
			t.Errorf("%s: output does not match schemas/%s: %v\n%s", what, jsonout.SchemaFile(r.command), err, res.Stdout)
		}
		if strings.Contains(res.Stdout, `\u003c`) || strings.Contains(res.Stdout, `\u003e`) || strings.Contains(res.Stdout, `\u0026`) {
			t.Errorf("%s: HTML-escaped output:\n%s", what, res.Stdout)
		}
		covered[r.command] = true
	}
	for _, c := range jsonout.Commands {
		if !covered[c.Name] {
			t.Errorf("no run validates the output of %q", c.Name)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
