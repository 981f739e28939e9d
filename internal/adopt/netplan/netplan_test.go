package netplan_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/adopt/netplan"
	"github.com/sriovctl/sriovctl/internal/policy"
)

// The inputs are written as netplan's reference (netplan-yaml.md, "Properties for device type
// ethernets: SR-IOV" and "vlans: renderer: sriov") shows them; TestInputsAreValidNetplan has netplan
// itself accept each one.
var cases = []struct {
	name, in string
	want     string   // the policy YAML
	notes    []string // substrings of the notes, in any order
}{
	{
		name: "reference example: VFs by name and by match",
		in: `network:
  version: 2
  renderer: networkd
  ethernets:
    eno1:
      mtu: 9000
    enp1s16f1:
      link: eno1
      addresses : [ "10.15.98.25/24" ]
    vf1:
      match:
        name: enp1s16f[2-3]
      link: eno1
      addresses : [ "10.15.99.25/24" ]
`,
		want: `pfs:
  - name: eno1
    numVfs: 2
    mtu: 9000
`,
		notes: []string{"netplan.yaml:7: enp1s16f1: addresses: not SR-IOV settings"},
	},
	{
		name: "count, eswitch mode and delayed rebind",
		in: `network:
  version: 2
  renderer: networkd
  ethernets:
    enp3s0f0np0:
      embedded-switch-mode: switchdev
      delay-virtual-functions-rebind: true
      virtual-function-count: 8
`,
		want: `pfs:
  - name: enp3s0f0np0
    numVfs: 8
    eswitchMode: switchdev
`,
		notes: []string{"delay-virtual-functions-rebind has no equivalent"},
	},
	{
		name: "VF MAC and hardware VLAN filter",
		in: `network:
  version: 2
  renderer: networkd
  ethernets:
    eno1:
      virtual-function-count: 4
    enp1s16f1:
      link: eno1
      macaddress: "02:00:00:00:00:11"
      mtu: 1500
    enp1s16f2:
      link: eno1
  vlans:
    vf1.15:
      renderer: sriov
      id: 15
      link: enp1s16f1
    vf2.16:
      renderer: sriov
      id: 16
      link: enp1s16f2
    vlan20:
      id: 20
      link: eno1
`,
		want: `pfs:
  - name: eno1
    numVfs: 4
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:11"
        vlan: 15
      - ids: "1"
        vlan: 16
`,
		notes: []string{"mtu 1500 of the VF has no equivalent", "the VF ids here follow the order of the definitions", "admin MAC through the PF"},
	},
	{
		name: "PF selected by match with set-name, and one by MAC only",
		in: `network:
  version: 2
  ethernets:
    nic0:
      match:
        macaddress: "68:05:ca:00:00:01"
      set-name: lan0
      virtual-function-count: 2
    nic1:
      match:
        driver: ixgbe
      virtual-function-count: 1
`,
		want: `pfs:
  - name: lan0
    numVfs: 2
  - name: nic1
    numVfs: 1
`,
		notes: []string{`nic1: netplan selects this PF by match: (driver ixgbe); the policy names it "nic1"`},
	},
}

func TestConvert(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol, notes, err := netplan.Convert("netplan.yaml", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := adopt.Document(nil, nil, pol)
			if err != nil {
				t.Fatal(err)
			}
			if string(doc) != c.want {
				t.Errorf("policy:\n%s\nwant:\n%s", doc, c.want)
			}
			all := ""
			for _, n := range notes {
				all += n.String() + "\n"
			}
			for _, w := range c.notes {
				if !strings.Contains(all, w) {
					t.Errorf("no note %q in:\n%s", w, all)
				}
			}
			if _, err := policy.Parse("x", doc); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestConvertRefuses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ethernets: {}", "no network: mapping"},
		{"network: {version: 2, ethernets: {eth0: {dhcp4: true}}}", "no SR-IOV settings"},
		{"network: {version: 2, ethernets: {vf0: {link: eno9}}}", `link: "eno9" is not an ethernet of this configuration`},
		{"network: {version: 2, ethernets: {eno1: {virtual-function-count: 1}, a: {link: eno1}, b: {link: eno1}}}", "virtual-function-count 1 is less than its 2 VFs"},
		{"network: {version: 2, ethernets: {eno1: {embedded-switch-mode: offload}}}", `embedded-switch-mode "offload"`},
		{"network: {version: 2, ethernets: {eno1: {virtual-function-count: many}}}", "ethernets.eno1"},
		{"network: [", "netplan.yaml"},
	} {
		_, _, err := netplan.Convert("netplan.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.in, err, c.want)
		}
	}
}

// TestInputsAreValidNetplan has Debian's netplan.io check every input above (`netplan generate`
// renders them for systemd-networkd into a scratch root and refuses invalid ones). Without netplan the
// test skips, unless SRIOVCTL_REQUIRE_NETPLAN=1 (CI installs netplan.io).
func TestInputsAreValidNetplan(t *testing.T) {
	generate := netplanGenerate(t)
	for _, c := range cases {
		if err := generate(map[string]string{"50-sriov.yaml": c.in}); err != nil {
			t.Errorf("%s: netplan generate refuses the input: %v", c.name, err)
		}
	}
	if err := generate(splitConfig); err != nil {
		t.Errorf("the split configuration: %v", err)
	}
	// The check has teeth: netplan refuses what its schema does not allow.
	if generate(map[string]string{"50-sriov.yaml": "network:\n  version: 2\n  ethernets:\n    eno1:\n      embedded-switch-mode: offload\n"}) == nil {
		t.Error("netplan generate accepted embedded-switch-mode: offload; it is not validating")
	}
}

// netplanGenerate returns a check that netplan accepts files (name -> content) as /etc/netplan.
func netplanGenerate(t *testing.T) func(files map[string]string) error {
	t.Helper()
	tool, err := exec.LookPath("netplan")
	if err != nil {
		if os.Getenv("SRIOVCTL_REQUIRE_NETPLAN") == "1" {
			t.Fatalf("%v; SRIOVCTL_REQUIRE_NETPLAN=1: apt-get install netplan.io", err)
		}
		t.Skipf("%v (apt-get install netplan.io); CI runs this test", err)
	}
	return func(files map[string]string) error {
		root := t.TempDir()
		dir := filepath.Join(root, "etc", "netplan")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command(tool, "generate", "--root-dir", root).CombinedOutput()
		if err != nil {
			return &genError{err: err, out: string(out)}
		}
		return nil
	}
}

// splitConfig is one configuration in two files, as netplan merges them: the PF in one, its VFs, their
// VLAN filter and a new VF count in the other.
var splitConfig = map[string]string{
	"10-pf.yaml": `network:
  version: 2
  ethernets:
    eno1:
      virtual-function-count: 2
      embedded-switch-mode: legacy
`,
	"20-vfs.yaml": `network:
  version: 2
  ethernets:
    eno1:
      virtual-function-count: 4
    eno1v0:
      link: eno1
  vlans:
    eno1v0.30:
      renderer: sriov
      id: 30
      link: eno1v0
`,
}

func TestConvertFiles(t *testing.T) {
	pol, notes, err := netplan.ConvertFiles([]netplan.File{
		{Name: "10-pf.yaml", Data: []byte(splitConfig["10-pf.yaml"])}, {Name: "20-vfs.yaml", Data: []byte(splitConfig["20-vfs.yaml"])}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := adopt.Document(nil, nil, pol)
	if err != nil {
		t.Fatal(err)
	}
	want := "pfs:\n  - name: eno1\n    numVfs: 4\n    eswitchMode: legacy\n    vfs:\n      - ids: \"0\"\n        vlan: 30\n"
	if string(doc) != want {
		t.Errorf("policy:\n%s\nwant:\n%s", doc, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0].Msg, "follow the order of the definitions") {
		t.Errorf("notes: %v", notes)
	}
}

type genError struct {
	err error
	out string
}

func (e *genError) Error() string { return e.err.Error() + ": " + e.out }
