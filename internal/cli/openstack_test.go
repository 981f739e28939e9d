package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

func checkArgs(lab, dir string) []string {
	return []string{"--lab", lab, "openstack", "check",
		"--ml2", filepath.Join(dir, "ml2_conf.ini"),
		"--sriov-agent", filepath.Join(dir, "sriov_agent.ini"),
		"--nova", filepath.Join(dir, "nova.conf")}
}

func TestOpenStackRenderThenCheckFlatAndVLAN(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "4")
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens1f0", "--numvfs", "8")
	cases := []struct {
		name string
		args []string
		want []string // in the rendered files or steps
	}{
		{"flat", []string{"--physnet", "physnet1", "--pf", "ens5f0"}, []string{
			"mechanism_drivers = sriovnicswitch", "flat_networks = physnet1", "physical_device_mappings = physnet1:ens5f0",
			"firewall_driver = noop", `"devname": "ens5f0"`, `"product_id": "10ca"`, "PciPassthroughFilter",
			"openstack network create --provider-network-type flat --provider-physical-network physnet1 sriov-physnet1\n",
			"openstack port create --network sriov-physnet1 --vnic-type direct sriov-physnet1-port0",
			"openstack server create --flavor m1.small --image cirros --port sriov-physnet1-port0 sriov-physnet1-vm0"}},
		{"vlan", []string{"--physnet", "physnet2", "--pf", "ens1f0", "--network-type", "vlan", "--vlan-range", "100:199",
			"--vfs", "0-3", "--trusted", "--mirror-ports", "2"}, []string{
			"type_drivers = vlan", "network_vlan_ranges = physnet2:100:199",
			"exclude_devices = ens1f0:0000:3b:11.0;0000:3b:11.2;0000:3b:11.4;0000:3b:11.6",
			`{"address": "0000:3b:10.0", "vendor_id": "8086", "product_id": "10ed", "physical_network": "physnet2", "trusted": "true"}`,
			"--provider-network-type vlan --provider-physical-network physnet2 --provider-segment 100 sriov-physnet2",
			"--vnic-type direct --disable-port-security --binding-profile trusted=true sriov-physnet2-mirror1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "os")
			r := clitest.MustRun(t, append([]string{"--lab", lab, "openstack", "render", "--out", out}, tc.args...)...)
			var all strings.Builder
			all.WriteString(r.Stdout)
			for _, name := range []string{"ml2_conf.ini", "sriov_agent.ini", "nova.conf"} {
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				all.Write(b)
			}
			text := squeeze(all.String())
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
			c := clitest.Run(t, checkArgs(lab, out)...)
			if c.Code != 0 || !strings.HasPrefix(c.Stdout, "ok: ") {
				t.Errorf("check of rendered files: exit %d\n%s%s", c.Code, c.Stdout, c.Stderr)
			}
		})
	}
}

// squeeze undoes the INI writer's '=' alignment so tests can look for "key = value".
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "openstack ") {
			lines[i] = strings.TrimSpace(k) + " = " + strings.TrimSpace(v)
		}
	}
	return strings.Join(lines, "\n")
}

func TestOpenStackRenderToStdoutAndJSON(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "2")
	r := clitest.MustRun(t, "--lab", lab, "openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0")
	for _, w := range []string{"### ml2_conf.ini", "### sriov_agent.ini", "### nova.conf", "### openstack CLI steps"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.Stdout)
		}
	}
	j := clitest.MustRun(t, "--lab", lab, "--json", "openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0", "--ports", "2")
	var got struct {
		PF    string            `json:"pf"`
		VFs   []int             `json:"vfs"`
		Files map[string]string `json:"files"`
		Steps []struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(j.Stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, j.Stdout)
	}
	if got.PF != "ens5f0" || len(got.VFs) != 2 || len(got.Files) != 3 || len(got.Steps) != 6 ||
		!strings.HasPrefix(got.Steps[0].Command, "openstack network create") || got.Steps[5].Args[1] != "server" {
		t.Errorf("render --json: %+v", got)
	}
}

// TestOpenStackRenderKeepsExistingEntries renders into a directory holding the operator's files.
func TestOpenStackRenderKeepsExistingEntries(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "2")
	out := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(out, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ml2_conf.ini", "[DEFAULT]\n# operator comment\n\n[ml2]\ntype_drivers = vxlan,vlan\nmechanism_drivers = openvswitch,l2population\n\n[ml2_type_vlan]\nnetwork_vlan_ranges = provider:10:20\n")
	write("nova.conf", "[DEFAULT]\nmy_ip = 10.0.0.5\n\n[pci]\npassthrough_whitelist = {\"devname\": \"ens1f0\", \"physical_network\": \"other\"}\n\n[filter_scheduler]\nenabled_filters = ComputeFilter, AvailabilityZoneFilter\n")
	clitest.MustRun(t, "--lab", lab, "openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0", "--out", out)
	ml2, _ := os.ReadFile(filepath.Join(out, "ml2_conf.ini"))
	nova, _ := os.ReadFile(filepath.Join(out, "nova.conf"))
	text := squeeze(string(ml2) + string(nova))
	for _, w := range []string{"mechanism_drivers = openvswitch,l2population,sriovnicswitch", "type_drivers = vxlan,vlan,flat",
		"network_vlan_ranges = provider:10:20", "[DEFAULT]\nmy_ip = 10.0.0.5", `"physical_network": "other"`,
		"enabled_filters = ComputeFilter, AvailabilityZoneFilter, PciPassthroughFilter", "# operator comment"} {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
	if strings.Contains(text, "passthrough_whitelist") {
		t.Errorf("passthrough_whitelist kept beside device_spec:\n%s", text)
	}
}

func TestOpenStackRenderRefusesBadInput(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "4")
	render := []string{"--lab", lab, "openstack", "render"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--pf", "ens5f0"}, "give --physnet NAME and --pf PF"},
		{[]string{"--physnet", "phys:net", "--pf", "ens5f0"}, "--physnet"},
		{[]string{"--physnet", "physnet1", "--pf", "ens9f9"}, "no such PF; PFs on this host: ens1f0, ens2f0, ens3f0, ens4f0, ens5f0"},
		{[]string{"--physnet", "physnet1", "--pf", "ens1f0"}, "ens1f0 has no VFs: create them first (sriovctl pf set ens1f0 --numvfs N)"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--vlan-range", "100:199"}, "a flat network carries no VLAN"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--network-type", "vxlan"}, "allowed flat or vlan"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--network-type", "vlan"}, "give --vlan-range MIN:MAX or --segment ID"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--network-type", "vlan", "--vlan-range", "200:100"}, "MIN <= MAX"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--network-type", "vlan", "--vlan-range", "100:199", "--segment", "300"}, "must lie in --vlan-range 100:199"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--vfs", "2-9"}, "ens5f0 has VFs 0-3"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--ports", "3", "--mirror-ports", "2"}, "at most 4 ports"},
		// Every value that reaches the CLI steps.
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--subnet-range", "not-a-cidr"}, `--subnet-range: invalid value "not-a-cidr": want a network address in CIDR notation`},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--subnet-range", "192.0.2.1/24"}, "Neutron wants the network address, 192.0.2.0/24"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--subnet-range", ""}, "--subnet-range"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--network", "--help"}, "--network"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--flavor", "-x"}, "--flavor"},
		{[]string{"--physnet", "physnet1", "--pf", "ens5f0", "--image", "a\nb"}, "--image"},
	}
	for _, tc := range cases {
		r := clitest.Run(t, append(render, tc.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
			t.Errorf("render %v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.args, r.Code, r.Stderr, r.Stdout, tc.want)
		}
	}
}

func TestOpenStackCheckReportsProblemsWithLocation(t *testing.T) {
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "4")
	dir := t.TempDir()
	clitest.MustRun(t, "--lab", lab, "openstack", "render", "--physnet", "physnet1", "--pf", "ens5f0", "--out", dir)
	// Break two files: Nova names another physnet, and Neutron lacks the SR-IOV mechanism driver.
	edit := func(name, old, new string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s lacks %q", name, old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("nova.conf", `"physical_network": "physnet1"`, `"physical_network": "physnet2"`)
	edit("ml2_conf.ini", "sriovnicswitch", "openvswitch")

	r := clitest.Run(t, checkArgs(lab, dir)...)
	if r.Code != 1 {
		t.Fatalf("check: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, w := range []string{
		filepath.Join(dir, "ml2_conf.ini") + ":ml2:mechanism_drivers: sriovnicswitch is not among the mechanism drivers",
		filepath.Join(dir, "sriov_agent.ini") + ":sriov_nic:physical_device_mappings: physnet physnet2",
		"fix: add physnet2:ens5f0 to physical_device_mappings, or set physical_network in nova.conf device_spec to physnet1",
		filepath.Join(dir, "nova.conf") + ":pci:device_spec: sriov_agent maps physnet1 to ens5f0, but no device_spec entry offers",
	} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "sriovctl: openstack check: 4 problems found") {
		t.Errorf("stderr: %q\nstdout:\n%s", r.Stderr, r.Stdout)
	}

	j := clitest.Run(t, append(checkArgs(lab, dir), "--json")...)
	var got struct {
		Clean    bool `json:"clean"`
		Problems []struct{ File, Section, Key, Problem, Fix string }
	}
	if err := json.Unmarshal([]byte(j.Stdout), &got); err != nil || j.Code != 1 {
		t.Fatalf("check --json: exit %d, %v\n%s", j.Code, err, j.Stdout)
	}
	if got.Clean || len(got.Problems) != 4 || got.Problems[0].Section != "ml2" || got.Problems[0].Key != "mechanism_drivers" || got.Problems[0].Fix == "" {
		t.Errorf("check --json: %+v", got)
	}
}

func TestOpenStackCheckUnreadableInputExits2(t *testing.T) {
	lab := clitest.NewLab(t)
	dir := t.TempDir()
	for _, name := range []string{"ml2_conf.ini", "sriov_agent.ini"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("[ml2]\nmechanism_drivers = sriovnicswitch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := clitest.Run(t, checkArgs(lab, dir)...)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--nova: "+filepath.Join(dir, "nova.conf")+": no such file") {
		t.Errorf("missing nova.conf: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "nova.conf"), []byte("[pci\ndevice_spec = {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, checkArgs(lab, dir)...)
	if r.Code != 2 || !strings.Contains(r.Stderr, "not an INI file") {
		t.Errorf("broken nova.conf: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = clitest.Run(t, "--lab", lab, "openstack", "check", "--ml2", filepath.Join(dir, "ml2_conf.ini"))
	if r.Code != 2 || !strings.Contains(r.Stderr, "give all three files") {
		t.Errorf("one file: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// TestOpenStackGuideFixturesPassCheck runs check on the networking guide's examples (see
// internal/openstack/testdata/README.md) against the lab host they describe.
func TestOpenStackGuideFixturesPassCheck(t *testing.T) {
	lab := clitest.NewLab(t, "eth3=ixgbe")
	clitest.MustRun(t, "--lab", lab, "pf", "set", "eth3", "--numvfs", "8")
	dirs, _ := filepath.Glob("../openstack/testdata/guide-*")
	if len(dirs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, dir := range dirs {
		if r := clitest.Run(t, checkArgs(lab, dir)...); r.Code != 0 {
			t.Errorf("%s: exit %d\n%s%s", dir, r.Code, r.Stdout, r.Stderr)
		}
	}
}

func TestOpenStackDemoSection(t *testing.T) {
	r := clitest.MustRun(t, "demo")
	out := r.Stdout
	i := strings.Index(out, ". OpenStack flat networking ==")
	if i < 0 {
		t.Fatalf("demo has no OpenStack section:\n%s", out)
	}
	out = out[i:]
	for _, want := range []string{
		"$ sriovctl openstack render --physnet physnet1 --pf ens2f0 --network-type flat --vfs 0-2 --mirror-ports 1\n",
		"### ml2_conf.ini", "flat_networks = physnet1", "### sriov_agent.ini", "### nova.conf", `"physical_network": "physnet1"`,
		"openstack network create --provider-network-type flat --provider-physical-network physnet1 sriov-physnet1\n",
		"openstack port create --network sriov-physnet1 --vnic-type direct --disable-port-security sriov-physnet1-mirror0\n",
		"openstack server create --flavor m1.small --image cirros --port sriov-physnet1-port0 sriov-physnet1-vm0\n",
		"\nok: ", "sriov_agent.ini:sriov_nic:physical_device_mappings: physnet physnet-1", "(exit code 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("OpenStack demo section lacks %q:\n%s", want, out)
		}
	}
}
