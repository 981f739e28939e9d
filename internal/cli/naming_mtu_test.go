package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func showPF(t *testing.T, labDir, ref string) sriov.PF {
	t.Helper()
	r := clitest.MustRun(t, "--lab", labDir, "show", ref, "--json")
	var st sriov.Host
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || len(st.PFs) != 1 {
		t.Fatalf("show %s: %v\n%s", ref, err, r.Stdout)
	}
	return st.PFs[0]
}

// TestPolicyMTUAndMatch: a PF selected by match gets its MTU before its VFs, is stored by PCI address,
// and each way the policy can miss the host exits with its code, writing nothing.
func TestPolicyMTUAndMatch(t *testing.T) {
	labDir := clitest.NewLab(t)
	dir := t.TempDir()
	pol := writePolicy(t, dir, "pfs:\n  - match: {driver: igb}\n    numVfs: 2\n    mtu: 9000\n")

	r := clitest.MustRun(t, "--lab", labDir, "plan", "-f", pol)
	lines := strings.Split(r.Stdout, "\n")
	mtu, numvfs := -1, -1
	for i, l := range lines {
		if strings.Contains(l, "ens5f0: mtu 1500 -> 9000") {
			mtu = i
		}
		if strings.Contains(l, "ens5f0: numvfs 0 -> 2") {
			numvfs = i
		}
	}
	if mtu < 0 || numvfs < 0 || mtu > numvfs {
		t.Fatalf("plan: want the MTU before the VFs are created:\n%s", r.Stdout)
	}
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	if p := showPF(t, labDir, "ens5f0"); p.MTU != 9000 || p.NumVFs != 2 {
		t.Fatalf("after apply: mtu %d numvfs %d", p.MTU, p.NumVFs)
	}
	if r := clitest.MustRun(t, "--lab", labDir, "plan", "-f", pol); !strings.Contains(r.Stdout, "no changes") {
		t.Fatalf("second plan:\n%s", r.Stdout)
	}
	stored, err := os.ReadFile(filepath.Join(labDir, "state", "desired.yaml"))
	if err != nil || strings.Contains(string(stored), "match") || !strings.Contains(string(stored), "0000:01:00.0") || !strings.Contains(string(stored), "mtu: 9000") {
		t.Fatalf("desired state: %v\n%s", err, stored)
	}
	// A reboot brings the default MTU back: status shows it, restore puts 9000 back before the VFs.
	clitest.MustRun(t, "--lab", labDir, "lab", "reboot")
	if r := clitest.Run(t, "--lab", labDir, "status", "--exit-code"); r.Code != 3 || !strings.Contains(r.Stdout, "mtu 1500 -> 9000") {
		t.Fatalf("status after reboot: exit %d\n%s", r.Code, r.Stdout)
	}
	clitest.MustRun(t, "--lab", labDir, "restore", "--yes")
	if p := showPF(t, labDir, "ens5f0"); p.MTU != 9000 || p.NumVFs != 2 {
		t.Fatalf("after restore: mtu %d numvfs %d", p.MTU, p.NumVFs)
	}
	clitest.MustRun(t, "--lab", labDir, "forget", "pf", "01:00.0")

	before := labOps(t, labDir)
	for _, tt := range []struct {
		name, policy string
		code         int
		stderr       string
	}{
		{"MTU above the NIC's maximum", "pfs:\n  - name: ens5f0\n    mtu: 9500\n", 2, `pfs[0].mtu: ens5f0: mtu: invalid value "9500": allowed 68-9216 (the most igb allows)`},
		{"MTU above any NIC's", "pfs:\n  - name: ens5f0\n    mtu: 70000\n", 2, `policy.yaml:3: pfs[0].mtu: invalid value "70000": allowed 68-65535`},
		{"MTU below IPv4's minimum", "pfs:\n  - pciAddress: \"0000:01:00.0\"\n    mtu: 60\n", 2, `pfs[0].mtu: invalid value "60": allowed 68-65535`},
		{"no PF matches", "pfs:\n  - match: {driver: bnxt_en}\n    numVfs: 1\n", 1, "no PF on this host matches match{driver=bnxt_en}; PFs: ens1f0"},
		{"several PFs match", "pfs:\n  - match: {vendorId: \"8086\", pciAddress: \"0000:*:00.0\"}\n    numVfs: 1\n", 2,
			"match{vendorId=8086,pciAddress=0000:*:00.0} selects 4 PFs (ens1f0 0000:3b:00.0, ens2f0 0000:5e:00.0, ens3f0 0000:86:00.0, ens5f0 0000:01:00.0); it must select one"},
		{"name and match", "pfs:\n  - name: ens5f0\n    match: {driver: igb}\n", 2, "pfs[0]: give one of name, pciAddress and match, not several"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := writePolicy(t, t.TempDir(), tt.policy)
			for _, cmd := range []string{"plan", "apply"} {
				r := clitest.Run(t, "--lab", labDir, cmd, "-f", p, "--yes")
				if cmd == "plan" {
					r = clitest.Run(t, "--lab", labDir, cmd, "-f", p)
				}
				if r.Code != tt.code || !strings.Contains(r.Stderr+r.Stdout, tt.stderr) {
					t.Fatalf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", cmd, r.Code, tt.code, tt.stderr, r.Stdout, r.Stderr)
				}
			}
			if labOps(t, labDir) != before {
				t.Fatal("the host was written")
			}
		})
	}
}

// TestPFMTURollback: a write failing after the MTU was set puts the MTU back.
func TestPFMTURollback(t *testing.T) {
	labDir := clitest.NewLab(t)
	pol := writePolicy(t, t.TempDir(), "pfs:\n  - name: ens3f0\n    mtu: 9702\n    numVfs: 2\n")
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--fail-at", "2")
	r := clitest.Run(t, "--lab", labDir, "apply", "-f", pol)
	if r.Code != 1 || !strings.Contains(r.Stderr, "host restored to its prior state") {
		t.Fatalf("apply: exit %d\n%s", r.Code, r.Stderr)
	}
	if p := showPF(t, labDir, "ens3f0"); p.MTU != 1500 || p.NumVFs != 0 {
		t.Fatalf("after rollback: mtu %d numvfs %d", p.MTU, p.NumVFs)
	}
}

// TestDeviceNames: commands take a PF as netdev, PCI address, devlink handle or lspci's short form, and
// a VF as index, PCI address or netdev name; a name that is no such device exits 2.
func TestDeviceNames(t *testing.T) {
	labDir := clitest.NewLab(t)
	run := func(args ...string) clitest.Result {
		return clitest.Run(t, append([]string{"--lab", labDir}, args...)...)
	}
	for _, ref := range []string{"ens5f0", "0000:01:00.0", "pci/0000:01:00.0", "01:00.0"} {
		if p := showPF(t, labDir, ref); p.Name != "ens5f0" {
			t.Fatalf("show %s: %s", ref, p.Name)
		}
	}
	steps := []struct {
		args   []string
		code   int
		stdout string // or stderr when code != 0
	}{
		{[]string{"pf", "set", "01:00.0", "--numvfs", "3"}, 0, "ens5f0: numvfs 0 -> 3"},
		{[]string{"openstack", "render", "--physnet", "physnet1", "--pf", "pci/0000:01:00.0"}, 0, "flat network physnet1 on ens5f0: VFs 0-2 offered"},
		// igb VFs: offset 128, stride 2 -> VF 1 is 0000:01:10.2
		{[]string{"vf", "set", "ens5f0", "0000:01:10.2", "--trust", "on"}, 0, "ens5f0 vf 1: trust off -> on"},
		{[]string{"vf", "set", "pci/0000:01:00.0", "pci/0000:01:10.4", "--spoofchk", "off"}, 0, "ens5f0 vf 2: spoofchk on -> off"},
		{[]string{"vf", "set", "01:00.0", "ens5f0v0", "--vlan", "5"}, 0, "ens5f0 vf 0: vlan 0 (flat) -> 5"},
		{[]string{"vf", "bind", "ens5f0", "01:10.2", "vfio-pci"}, 0, "ens5f0 vf 1: driver igbvf -> vfio-pci"},
		{[]string{"vf", "set", "ens5f0", "ens5f0v1", "--vlan", "5"}, 2, `VF: invalid value "ens5f0v1": no VF of ens5f0 has this netdev name`}, // on vfio-pci: no netdev
		{[]string{"vf", "set", "ens3f0", "01:10.0", "--vlan", "5"}, 2, `VF: invalid value "01:10.0": that is VF 0 of ens5f0, not of ens3f0`},
		{[]string{"vf", "set", "ens5f0", "7", "--vlan", "5"}, 2, `VF: invalid value "7": allowed 0-2`},
		{[]string{"show", "02:00.0"}, 2, `PF: invalid value "02:00.0": no such PF; PFs on this host: ens1f0`},
		{[]string{"pf", "set", "pci/0000:01:10.0", "--numvfs", "1"}, 2, "no such PF"},
		{[]string{"lab", "reset", "pci/0000:01:00.0"}, 0, ""},
	}
	for _, s := range steps {
		r := run(s.args...)
		out := r.Stdout
		if s.code != 0 {
			out = r.Stderr
		}
		if r.Code != s.code || !strings.Contains(out, s.stdout) {
			t.Fatalf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), r.Code, s.code, s.stdout, r.Stdout, r.Stderr)
		}
	}
}
