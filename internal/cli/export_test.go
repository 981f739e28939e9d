package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

func TestExportThenPlanSaysNoChanges(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens3f0", "--numvfs", "4")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens3f0", "1", "--vlan", "100", "--qos", "2", "--trust", "on")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens3f0", "2", "--mac", "02:00:00:00:03:02", "--max-tx-rate", "5000")
	clitest.MustRun(t, "--lab", dir, "vf", "bind", "ens3f0", "3", "vfio-pci")

	out := clitest.MustRun(t, "--lab", dir, "export")
	for _, want := range []string{"# Written by `sriovctl export` at ", "from the lab host " + dir, "- name: ens3f0\n    numVfs: 4\n    eswitchMode: legacy\n",
		"- ids: \"1\"\n        vlan: 100\n        qos: 2\n        trust: true\n", "mac: \"02:00:00:00:03:02\"", "driver: vfio-pci"} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("export lacks %q:\n%s", want, out.Stdout)
		}
	}
	file := filepath.Join(t.TempDir(), "host.yaml")
	r := clitest.MustRun(t, "--lab", dir, "export", "ens3f0", "0000:86:00.0", "-o", file)
	if !strings.Contains(r.Stdout, "export: wrote "+file+" (1 PFs, 0 notes)") {
		t.Errorf("stdout: %s", r.Stdout)
	}
	data, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(data), "ens3f0") || strings.Contains(string(data), "ens5f0") {
		t.Fatalf("%v\n%s", err, data)
	}
	plan := clitest.Run(t, "--lab", dir, "plan", "-f", file, "--exit-code")
	if plan.Code != 0 || !strings.HasSuffix(plan.Stdout, "no changes\n") {
		t.Errorf("plan of the export: exit %d\n%s%s", plan.Code, plan.Stdout, plan.Stderr)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"export", "ens9f9"}, 2, "ens9f9"},
		{[]string{"export", "-o", filepath.Join(t.TempDir(), "no", "such", "dir", "x.yaml")}, 1, "export: "},
	} {
		r := clitest.Run(t, append([]string{"--lab", dir}, c.args...)...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, r.Code, r.Stderr, c.code, c.msg)
		}
	}
}

func TestImport(t *testing.T) {
	tmp := t.TempDir()
	np := filepath.Join(tmp, "50-sriov.yaml")
	os.WriteFile(np, []byte(`network:
  version: 2
  ethernets:
    ens5f0:
      virtual-function-count: 2
      mtu: 9000
    vf0:
      link: ens5f0
      macaddress: "02:00:00:00:00:21"
      mtu: 1500
`), 0o600)
	nd := filepath.Join(tmp, "network")
	os.Mkdir(nd, 0o755)
	os.WriteFile(filepath.Join(nd, "10-ens5f0.link"), []byte("[Match]\nOriginalName=ens5f0\n[Link]\nSR-IOVVirtualFunctions=2\n[SR-IOV]\nVirtualFunction=1\nVLANId=42\nTrust=yes\n"), 0o644)
	os.WriteFile(filepath.Join(nd, "README"), []byte("not a unit"), 0o644)

	r := clitest.MustRun(t, "import", "netplan", np)
	if !strings.Contains(r.Stdout, "- name: ens5f0\n    numVfs: 2\n    mtu: 9000\n    vfs:\n      - ids: \"0\"\n        mac: \"02:00:00:00:00:21\"\n") ||
		!strings.Contains(r.Stdout, "# note: "+np+":10: vf0: mtu 1500") {
		t.Errorf("import netplan:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "note: "+np+":10: vf0: mtu 1500 of the VF has no equivalent") {
		t.Errorf("notes on stderr: %s", r.Stderr)
	}
	out := filepath.Join(tmp, "policy.yaml")
	clitest.MustRun(t, "import", "networkd", nd, "-o", out)
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), "- ids: \"1\"\n        vlan: 42\n        trust: true\n") {
		t.Errorf("import networkd:\n%s", data)
	}
	// The imported policy is one plan and apply take.
	lab := clitest.NewLab(t)
	if p := clitest.Run(t, "--lab", lab, "plan", "-f", out); p.Code != 0 || !strings.Contains(p.Stdout, "vf 1") {
		t.Errorf("plan of the import: exit %d\n%s%s", p.Code, p.Stdout, p.Stderr)
	}

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"import", "netplan", filepath.Join(tmp, "missing.yaml")}, "missing.yaml"},
		{[]string{"import", "netplan", out}, "no network: mapping"},
		{[]string{"import", "networkd", np}, "is not a directory"},
		{[]string{"import", "netplan"}, "want at least one netplan FILE"},
		{[]string{"import", "netplan", pol0(t, tmp)}, "pol0.yaml: no SR-IOV settings"},
		{[]string{"import", "networkd", tmp}, "has no .link or .network files"},
	} {
		r := clitest.Run(t, c.args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.Code, r.Stderr, c.msg)
		}
	}
}

func TestPlanWarnsAboutOtherManagers(t *testing.T) {
	dir := clitest.NewLab(t)
	// A lab stands for a host whose configuration lives under LAB/root.
	np := filepath.Join(dir, "root", "etc", "netplan")
	os.MkdirAll(np, 0o755)
	os.WriteFile(filepath.Join(np, "50-sriov.yaml"), []byte("network:\n  version: 2\n  ethernets:\n    ens5f0:\n      virtual-function-count: 2\n"), 0o600)
	pol := filepath.Join(t.TempDir(), "p.yaml")
	warning := "netplan also manages ens5f0's SR-IOV settings (" + filepath.Join(np, "50-sriov.yaml") + ": ethernets.ens5f0: virtual-function-count: 2)"
	for _, c := range []struct {
		policy string
		warned bool
	}{
		{"pfs:\n  - name: ens5f0\n    numVfs: 2\n", true},
		{"pfs: []\npools:\n  - {name: vms, pf: ens5f0, ids: \"0\"}\n", true},
		{"pfs:\n  - name: ens1f0\n    numVfs: 2\n", false},
	} {
		os.WriteFile(pol, []byte(c.policy), 0o644)
		r := clitest.Run(t, "--lab", dir, "plan", "-f", pol)
		if strings.Contains(r.Stdout, "note: "+warning) != c.warned {
			t.Errorf("plan of %q: warned %v, want %v:\n%s%s", c.policy, !c.warned, c.warned, r.Stdout, r.Stderr)
		}
		j := clitest.Run(t, "--lab", dir, "plan", "-f", pol, "--json")
		if strings.Contains(j.Stdout, warning) != c.warned {
			t.Errorf("plan --json of %q: warned %v, want %v:\n%s", c.policy, !c.warned, c.warned, j.Stdout)
		}
	}
	os.WriteFile(pol, []byte("pfs:\n  - name: ens5f0\n    numVfs: 2\n"), 0o644)
	r := clitest.MustRun(t, "--lab", dir, "apply", "-f", pol)
	if !strings.Contains(r.Stdout, "note: "+warning) || !strings.Contains(r.Stdout, "apply: done") {
		t.Errorf("apply:\n%s", r.Stdout)
	}
}

// pol0 writes a netplan file without SR-IOV settings.
func pol0(t *testing.T, dir string) string {
	p := filepath.Join(dir, "pol0.yaml")
	if err := os.WriteFile(p, []byte("network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
