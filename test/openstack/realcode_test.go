package openstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

const python = "/usr/bin/python3" // Debian's: the OpenStack packages install for it only

// needServices skips (or, with SRIOVCTL_REQUIRE_OPENSTACK=1, fails) when the OpenStack packages are
// not importable.
func needServices(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import nova.pci.whitelist, neutron.plugins.ml2.managers, neutron_lib, oslo_config, openstackclient").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("OpenStack's Python packages are not importable with %s (%v: %s); install python3-nova python3-neutron python3-neutron-lib python3-oslo.config python3-openstackclient", python, err, bytes.TrimSpace(out))
	if os.Getenv("SRIOVCTL_REQUIRE_OPENSTACK") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// host is a lab with the five NIC profiles, each PF with VFs.
type host struct {
	t   *testing.T
	dir string
}

var labVFs = map[string]int{"ens1f0": 6, "ens2f0": 4, "ens3f0": 4, "ens4f0": 4, "ens5f0": 4}

func newHost(t *testing.T) *host {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	if _, err := lab.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, dir: dir}
	for pf, n := range labVFs {
		h.ok("pf", "set", pf, "--numvfs", fmt.Sprint(n))
	}
	return h
}

func (h *host) run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), append([]string{"--lab", h.dir}, args...), nil, &out, &errb)
	return out.String(), errb.String(), code
}

func (h *host) ok(args ...string) string {
	h.t.Helper()
	out, errs, code := h.run(args...)
	if code != 0 {
		h.t.Fatalf("sriovctl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

type showJSON struct {
	PFs []struct {
		Name       string `json:"name"`
		PCIAddress string `json:"pciAddress"`
		VFs        []struct {
			ID         int    `json:"id"`
			PCIAddress string `json:"pciAddress"`
		} `json:"vfs"`
	} `json:"pfs"`
}

func (h *host) show() (json.RawMessage, showJSON) {
	h.t.Helper()
	raw := h.ok("show", "--json")
	var s showJSON
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		h.t.Fatal(err)
	}
	return json.RawMessage(raw), s
}

// addrs are the PCI addresses of pf's VFs ids (all of them when ids is empty).
func (s showJSON) addrs(pf string, ids ...int) []string {
	var out []string
	for _, p := range s.PFs {
		if p.Name != pf {
			continue
		}
		for _, v := range p.VFs {
			if len(ids) == 0 || containsInt(ids, v.ID) {
				out = append(out, v.PCIAddress)
			}
		}
	}
	return out
}

func containsInt(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// harnessCase is one entry of harness.py's input.
type harnessCase struct {
	Name  string          `json:"name"`
	Show  json.RawMessage `json:"show"`
	ML2   string          `json:"ml2"`
	Agent string          `json:"agent"`
	Nova  string          `json:"nova"`
	Steps json.RawMessage `json:"steps"`
}

// result is what harness.py reports for a case.
type result struct {
	Name  string `json:"name"`
	Crash string `json:"crash"`
	ML2   struct {
		Error                   string                       `json:"error"`
		Networks                map[string][]json.RawMessage `json:"networks"`
		ExtensionAliases        []string                     `json:"extensionAliases"`
		TypeDriversMissing      []string                     `json:"typeDriversMissing"`
		ExtensionDriversMissing []string                     `json:"extensionDriversMissing"`
	} `json:"ml2"`
	Agent struct {
		Error   string              `json:"error"`
		Managed map[string][]string `json:"managed"`
	} `json:"agent"`
	Nova struct {
		Error       string              `json:"error"`
		AliasError  string              `json:"aliasError"`
		FilterError string              `json:"filterError"`
		PCIFilter   bool                `json:"pciFilter"`
		Offered     map[string][]string `json:"offered"`
		Trusted     map[string][]string `json:"trusted"`
	} `json:"nova"`
	Bind  map[string]json.RawMessage `json:"bind"`
	Steps struct {
		Errors []string `json:"errors"`
	} `json:"steps"`
}

func (r result) bound(physnet string) []string {
	var types []string
	_ = json.Unmarshal(r.Bind[physnet], &types)
	return types
}

// runHarness runs harness.py once on every case (the services' code is imported once per run).
func runHarness(t *testing.T, cases []harnessCase) map[string]result {
	t.Helper()
	in := filepath.Join(t.TempDir(), "cases.json")
	data, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "harness.py", in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness.py: %v\n%s", err, stderr.String())
	}
	var rs []result
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("harness.py output: %v\n%s", err, out)
	}
	m := map[string]result{}
	for _, r := range rs {
		if r.Crash != "" {
			t.Fatalf("harness.py crashed on %s:\n%s", r.Name, r.Crash)
		}
		m[r.Name] = r
	}
	return m
}

// renderCase is a sequence of renders into one --out directory, and what the services must offer.
type renderCase struct {
	name    string
	seed    map[string]string // files in --out before the first render
	renders [][]string
	// want: physnet -> PF -> VF ids (nil: all) that nova must offer on it, the agent manage, and
	// ports on it bind to; types: physnet -> the network type it was rendered for.
	want    map[string]map[string][]int
	types   map[string]string
	trusted bool
	mirror  bool
	keep    map[string][]string // file -> lines that must survive the renders
}

var renderCases = []renderCase{
	{name: "flat-igb", renders: [][]string{{"--physnet", "physnet1", "--pf", "ens5f0"}},
		want: map[string]map[string][]int{"physnet1": {"ens5f0": nil}}, types: map[string]string{"physnet1": "flat"}},
	{name: "vlan-ixgbe", renders: [][]string{{"--physnet", "physnet2", "--pf", "ens1f0", "--network-type", "vlan", "--vlan-range", "100:199", "--ports", "2"}},
		want: map[string]map[string][]int{"physnet2": {"ens1f0": nil}}, types: map[string]string{"physnet2": "vlan"}},
	{name: "vlan-bare-pf-by-address", renders: [][]string{{"--physnet", "physnet2", "--pf", "0000:3b:00.0", "--network-type", "vlan", "--segment", "1000"}},
		want: map[string]map[string][]int{"physnet2": {"ens1f0": nil}}, types: map[string]string{"physnet2": "vlan"}},
	{name: "subset-trusted-mirror-i40e", renders: [][]string{{"--physnet", "physnet1", "--pf", "ens2f0", "--vfs", "0-1", "--trusted", "--mirror-ports", "1"}},
		want: map[string]map[string][]int{"physnet1": {"ens2f0": {0, 1}}}, types: map[string]string{"physnet1": "flat"}, trusted: true, mirror: true},
	{name: "flat-ice", renders: [][]string{{"--physnet", "physnet3", "--pf", "ens3f0"}},
		want: map[string]map[string][]int{"physnet3": {"ens3f0": nil}}, types: map[string]string{"physnet3": "flat"}},
	{name: "vlan-mlx5-subset", renders: [][]string{{"--physnet", "physnet4", "--pf", "ens4f0", "--network-type", "vlan", "--vlan-range", "10:20", "--vfs", "1-3"}},
		want: map[string]map[string][]int{"physnet4": {"ens4f0": {1, 2, 3}}}, types: map[string]string{"physnet4": "vlan"}},
	{name: "into-existing", seed: map[string]string{
		"ml2_conf.ini":    "# the operator's\n[DEFAULT]\ndebug = true\n\n[ml2]\ntype_drivers = flat,vxlan\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch,l2population\nextension_drivers = port_security,qos\n\n[ml2_type_flat]\nflat_networks = extnet\n\n[ml2_type_vxlan]\nvni_ranges = 1:1000\n",
		"sriov_agent.ini": "[agent]\nextensions = qos\n",
		"nova.conf":       "[DEFAULT]\nmy_ip = 192.0.2.10\n\n[pci]\npassthrough_whitelist = {\"vendor_id\": \"10de\", \"product_id\": \"1db4\"}\nalias = {\"name\": \"gpu\", \"vendor_id\": \"10de\", \"product_id\": \"1db4\", \"device_type\": \"type-PCI\"}\n\n[filter_scheduler]\nenabled_filters = ComputeFilter, AvailabilityZoneFilter\n",
	}, renders: [][]string{{"--physnet", "physnet2", "--pf", "ens1f0", "--network-type", "vlan", "--vlan-range", "100:199"}},
		want: map[string]map[string][]int{"physnet2": {"ens1f0": nil}}, types: map[string]string{"physnet2": "vlan"},
		keep: map[string][]string{"ml2_conf.ini": {"# the operator's", "tenant_network_types = vxlan", "vni_ranges = 1:1000", "flat_networks = extnet", "debug = true"},
			"nova.conf": {`"product_id": "1db4"}`, `"name": "gpu"`, "my_ip = 192.0.2.10"}, "sriov_agent.ini": {"extensions = qos"}}},
	{name: "into-existing-default-types", seed: map[string]string{
		"ml2_conf.ini": "[ml2]\ntenant_network_types = vxlan\nmechanism_drivers = openvswitch\n\n[ml2_type_vxlan]\nvni_ranges = 1:1000\n",
	}, renders: [][]string{{"--physnet", "physnet1", "--pf", "ens5f0", "--mirror-ports", "1", "--ports", "0"}},
		want: map[string]map[string][]int{"physnet1": {"ens5f0": nil}}, types: map[string]string{"physnet1": "flat"}, mirror: true,
		keep: map[string][]string{"ml2_conf.ini": {"tenant_network_types = vxlan", "openvswitch"}}},
	{name: "over-an-older-render", seed: map[string]string{ // what sriovctl rendered before: neutron-server stopped on it
		"ml2_conf.ini": "[ml2]\ntype_drivers = flat\nmechanism_drivers = sriovnicswitch\n\n[ml2_type_flat]\nflat_networks = physnet1\n",
	}, renders: [][]string{{"--physnet", "physnet1", "--pf", "ens5f0"}},
		want: map[string]map[string][]int{"physnet1": {"ens5f0": nil}}, types: map[string]string{"physnet1": "flat"}},
	{name: "one-pf-two-physnets", renders: [][]string{
		{"--physnet", "physnetA", "--pf", "ens1f0", "--vfs", "0-2"},
		{"--physnet", "physnetB", "--pf", "ens1f0", "--network-type", "vlan", "--vlan-range", "300:399", "--vfs", "3-4"}},
		want:  map[string]map[string][]int{"physnetA": {"ens1f0": {0, 1, 2}}, "physnetB": {"ens1f0": {3, 4}}},
		types: map[string]string{"physnetA": "flat", "physnetB": "vlan"}},
	{name: "one-physnet-two-pfs", renders: [][]string{
		{"--physnet", "physnet1", "--pf", "ens5f0"},
		{"--physnet", "physnet1", "--pf", "ens2f0", "--vfs", "1-3"}},
		want:  map[string]map[string][]int{"physnet1": {"ens5f0": nil, "ens2f0": {1, 2, 3}}},
		types: map[string]string{"physnet1": "flat"}},
	{name: "re-render-narrower", renders: [][]string{
		{"--physnet", "physnet1", "--pf", "ens5f0"},
		{"--physnet", "physnet1", "--pf", "ens5f0", "--vfs", "1-2"}},
		want:  map[string]map[string][]int{"physnet1": {"ens5f0": {1, 2}}},
		types: map[string]string{"physnet1": "flat"}},
}

// renderAll renders rc into a new directory and returns its harness case and the JSON steps of all
// renders.
func (h *host) renderAll(rc renderCase) (string, harnessCase) {
	h.t.Helper()
	dir := filepath.Join(h.t.TempDir(), rc.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	for name, text := range rc.seed {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	var steps []json.RawMessage
	for _, args := range rc.renders {
		out := h.ok(append([]string{"--json", "openstack", "render", "--out", dir}, args...)...)
		var r struct {
			Steps []json.RawMessage `json:"steps"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			h.t.Fatalf("render --json: %v\n%s", err, out)
		}
		steps = append(steps, r.Steps...)
	}
	show, _ := h.show()
	stepsJSON, _ := json.Marshal(steps)
	return dir, harnessCase{Name: rc.name, Show: show, ML2: filepath.Join(dir, "ml2_conf.ini"),
		Agent: filepath.Join(dir, "sriov_agent.ini"), Nova: filepath.Join(dir, "nova.conf"), Steps: stepsJSON}
}

func (h *host) check(c harnessCase) (string, int) {
	out, errs, code := h.run("openstack", "check", "--ml2", c.ML2, "--sriov-agent", c.Agent, "--nova", c.Nova)
	return out + errs, code
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func union(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestRealServicesAcceptRenders renders each case on the lab, loads the files into the real Nova,
// Neutron and openstackclient code, and asserts the services start, offer exactly the intended VFs
// on the intended physnet, bind ports there, parse every CLI step, and that `openstack check` is clean.
func TestRealServicesAcceptRenders(t *testing.T) {
	needServices(t)
	h := newHost(t)
	_, show := h.show()
	var cases []harnessCase
	dirs := map[string]string{}
	for _, rc := range renderCases {
		dir, c := h.renderAll(rc)
		dirs[rc.name] = dir
		cases = append(cases, c)
	}
	res := runHarness(t, cases)
	for i, rc := range renderCases {
		t.Run(rc.name, func(t *testing.T) {
			r := res[rc.name]
			for _, why := range realRejects(r, rc, show) {
				t.Error(why)
			}
			if len(r.Steps.Errors) > 0 {
				t.Errorf("openstackclient refuses steps: %v", r.Steps.Errors)
			}
			for p, a := range r.Nova.Offered {
				if rc.want[p] == nil {
					t.Errorf("nova offers VFs on %s, which was not rendered: %v", p, a)
				}
			}
			for file, lines := range rc.keep {
				data, err := os.ReadFile(filepath.Join(dirs[rc.name], file))
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range lines {
					if !strings.Contains(normalise(string(data)), l) {
						t.Errorf("%s lost %q:\n%s", file, l, data)
					}
				}
			}
			if out, code := h.check(cases[i]); code != 0 {
				t.Errorf("openstack check: exit %d:\n%s", code, out)
			}
		})
	}
}

var alignedEq = regexp.MustCompile(`(?m)^(\S+)\s+= `)

func normalise(s string) string { return alignedEq.ReplaceAllString(s, "$1 = ") }

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !containsStr(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRenderRefusesImpossibleLayouts: what nova cannot do (one VF on two physnets, a physnet two
// spellings) is refused with exit 2 and nothing written. Needs no OpenStack packages.
func TestRenderRefusesImpossibleLayouts(t *testing.T) {
	h := newHost(t)
	cases := []struct {
		name   string
		first  []string
		second []string
		want   string
	}{
		{"second physnet wants all VFs of a split PF", []string{"--physnet", "physnetA", "--pf", "ens1f0", "--vfs", "0-2"},
			[]string{"--physnet", "physnetB", "--pf", "ens1f0"}, "give --vfs from the VFs still free: 3-5"},
		{"overlapping VFs", []string{"--physnet", "physnetA", "--pf", "ens1f0", "--vfs", "0-2"},
			[]string{"--physnet", "physnetB", "--pf", "ens1f0", "--vfs", "2-3"}, "already offers ens1f0 VFs 2 on physnetA"},
		{"a PF given whole to one physnet", []string{"--physnet", "physnetA", "--pf", "ens5f0"},
			[]string{"--physnet", "physnetB", "--pf", "ens5f0", "--vfs", "0"}, "already offers ens5f0 VFs 0 on physnetA"},
		{"physnet in other letter case", []string{"--physnet", "physnet1", "--pf", "ens5f0"},
			[]string{"--physnet", "PhysNet1", "--pf", "ens2f0"}, "the existing files name it physnet1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "os")
			h.ok(append([]string{"openstack", "render", "--out", dir}, tc.first...)...)
			before := snapshot(t, dir)
			out, errs, code := h.run(append([]string{"openstack", "render", "--out", dir}, tc.second...)...)
			if code != 2 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("exit %d, stderr %q, want exit 2 and one line containing %q (stdout %q)", code, errs, tc.want, out)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("a refused render changed the files")
			}
		})
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{"ml2_conf.ini", "sriov_agent.ini", "nova.conf"} {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// mutation changes one rendered file; reject is the real services' verdict this test expects, so
// that agreement between check and the services is never vacuous.
type mutation struct {
	name   string
	base   string // a renderCases name
	file   string
	edit   func(t *testing.T, s string) string
	reject bool
}

// setKey replaces the value of key's line (there must be one).
func setKey(key, value string) func(*testing.T, string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=.*$`)
	return func(t *testing.T, s string) string {
		t.Helper()
		if !re.MatchString(s) {
			t.Fatalf("no %s line in:\n%s", key, s)
		}
		return re.ReplaceAllLiteralString(s, key+" = "+value)
	}
}

// doubleKey repeats the value of key's line, comma-separated.
func doubleKey(key string) func(*testing.T, string) string {
	re := regexp.MustCompile(`(?m)^(` + regexp.QuoteMeta(key) + `\s*=\s*)(.+)$`)
	return func(t *testing.T, s string) string {
		t.Helper()
		if !re.MatchString(s) {
			t.Fatalf("no %s line with a value in:\n%s", key, s)
		}
		return re.ReplaceAllString(s, "$1$2,$2")
	}
}

func replace(old, new string) func(*testing.T, string) string {
	return func(t *testing.T, s string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("no %q in:\n%s", old, s)
		}
		return strings.ReplaceAll(s, old, new)
	}
}

func prepend(text string) func(*testing.T, string) string {
	return func(_ *testing.T, s string) string { return text + s }
}

const (
	flatTrusted = "subset-trusted-mirror-i40e" // physnet1 flat on ens2f0 VFs 0-1, trusted, a mirror port
	vlanIxgbe   = "vlan-ixgbe"                 // physnet2 VLAN 100-199 on ens1f0
	flatIgb     = "flat-igb"                   // physnet1 flat on all of ens5f0
	splitPF     = "one-pf-two-physnets"        // ens1f0: VFs 0-2 on physnetA (flat), 3-4 on physnetB (VLAN)
)

var mutations = []mutation{
	// The services refuse these (or never give a port a VF).
	{"mechanism driver in other case", flatTrusted, "ml2_conf.ini", replace("sriovnicswitch", "SriovNicSwitch"), true},
	{"type driver in other case", flatTrusted, "ml2_conf.ini", setKey("type_drivers", "FLAT"), true},
	{"scheduler filter in other case", flatIgb, "nova.conf", replace("PciPassthroughFilter", "PCIPassthroughFilter"), true},
	{"empty physnet in network_vlan_ranges", vlanIxgbe, "ml2_conf.ini", setKey("network_vlan_ranges", "physnet2:100:199,:200:299"), true},
	{"option before the first section", flatIgb, "sriov_agent.ini", prepend("debug = true\n"), true},
	{"trusted as a JSON boolean", flatTrusted, "nova.conf", replace(`"trusted": "true"`, `"trusted": true`), true},
	{"same PF twice in exclude_devices", flatTrusted, "sriov_agent.ini", doubleKey("exclude_devices"), true},
	{"PF address as a regex without domain", flatIgb, "nova.conf", setKey("device_spec", `{"address": {"bus": "01", "slot": "00", "function": "0"}, "vendor_id": "8086", "product_id": "10ca", "physical_network": "physnet1"}`), true},
	{"unknown extension driver", flatTrusted, "ml2_conf.ini", replace("port_security", "port_securty"), true},
	{"alias device_type in other case", flatIgb, "nova.conf", replace(`"type-VF"`, `"type-vf"`), true},
	{"unknown firewall driver", flatIgb, "sriov_agent.ini", setKey("firewall_driver", "noop_driver"), true},
	{"tenant network type without a driver", flatIgb, "ml2_conf.ini", setKey("tenant_network_types", "vxlan"), true},
	{"flat physnet in other case in ml2", flatIgb, "ml2_conf.ini", setKey("flat_networks", "Physnet1"), true},
	{"VF address in upper case in exclude_devices", flatTrusted, "sriov_agent.ini", func(t *testing.T, s string) string {
		return regexp.MustCompile(`0000:5e:(\w+)\.(\d)`).ReplaceAllStringFunc(s, strings.ToUpper)
	}, true},
	{"PciPassthroughFilter absent", flatIgb, "nova.conf", replace(", PciPassthroughFilter", ""), true},
	{"filters under their pre-Ocata name", flatIgb, "nova.conf", func(t *testing.T, s string) string {
		s = setKey("enabled_filters", "ComputeFilter")(t, s)
		return replace("[filter_scheduler]\nenabled_filters = ComputeFilter", "[DEFAULT]\nscheduler_default_filters = ComputeFilter, PciPassthroughFilter\n\n[filter_scheduler]")(t, s)
	}, true},
	{"PF by PCI address in physical_device_mappings", flatIgb, "sriov_agent.ini", replace("physnet1:ens5f0", "physnet1:0000:01:00.0"), true},
	{"one PF under two physnets by devname", splitPF, "nova.conf", func(t *testing.T, s string) string {
		re := regexp.MustCompile(`(?m)^device_spec\s*=.*\n`)
		if len(re.FindAllString(s, -1)) != 5 {
			t.Fatalf("want 5 device_spec lines:\n%s", s)
		}
		s = re.ReplaceAllString(s, "")
		return replace("[pci]\n", "[pci]\ndevice_spec = {\"devname\": \"ens1f0\", \"physical_network\": \"physnetA\"}\ndevice_spec = {\"devname\": \"ens1f0\", \"physical_network\": \"physnetB\"}\n")(t, s)
	}, true},
	// The services accept these.
	{"physnet in other case in device_spec", flatIgb, "nova.conf", replace(`"physical_network": "physnet1"`, `"physical_network": "PHYSNET1"`), false},
	{"upper-case ml2 section", flatIgb, "ml2_conf.ini", replace("[ml2]", "[ML2]"), false},
	{"upper-case sriov_nic section", flatIgb, "sriov_agent.ini", replace("[sriov_nic]", "[SRIOV_NIC]"), false},
	{"upper-case pci section", flatIgb, "nova.conf", replace("[pci]", "[PCI]"), false},
	{"blanks inside a VLAN range", vlanIxgbe, "ml2_conf.ini", setKey("network_vlan_ranges", "physnet2: 100 : 199"), false},
	{"empty exclude list for a PF", flatIgb, "sriov_agent.ini", setKey("exclude_devices", "ens5f0:"), false},
	{"address regex matched as a prefix", flatIgb, "nova.conf", setKey("device_spec", `{"address": {"domain": "0000", "bus": "0", "slot": "1", "function": "[0-7]"}, "vendor_id": "8086", "product_id": "10ca", "physical_network": "physnet1"}`), false},
	{"address glob without domain", flatIgb, "nova.conf", setKey("device_spec", `{"address": "01:10.*", "vendor_id": "8086", "product_id": "10ca", "physical_network": "physnet1"}`), false},
}

// realRejects is the services' verdict: one of them stops, or a port on a rendered physnet would not
// get exactly the rendered VFs (nova's offer, the agent's devices, the binding, trusted requests).
func realRejects(r result, rc renderCase, show showJSON) []string {
	var why []string
	for _, e := range []string{r.ML2.Error, r.Agent.Error, r.Nova.Error, r.Nova.AliasError, r.Nova.FilterError} {
		if e != "" {
			why = append(why, e)
		}
	}
	if len(r.ML2.TypeDriversMissing)+len(r.ML2.ExtensionDriversMissing) > 0 {
		why = append(why, fmt.Sprintf("drivers not loaded: %v %v", r.ML2.TypeDriversMissing, r.ML2.ExtensionDriversMissing))
	}
	if !r.Nova.PCIFilter {
		why = append(why, "nova-scheduler runs without PciPassthroughFilter")
	}
	if len(why) > 0 {
		return why
	}
	for physnet, pfs := range rc.want {
		var want []string
		for pf, ids := range pfs {
			want = append(want, show.addrs(pf, ids...)...)
		}
		want = sorted(want)
		if got := sorted(r.Nova.Offered[physnet]); strings.Join(got, " ") != strings.Join(want, " ") {
			why = append(why, fmt.Sprintf("nova offers %v on %s", got, physnet))
		}
		if rc.trusted {
			if got := sorted(r.Nova.Trusted[physnet]); strings.Join(got, " ") != strings.Join(want, " ") {
				why = append(why, fmt.Sprintf("nova offers trusted %v on %s", got, physnet))
			}
		}
		if missing := minus(want, r.Agent.Managed[physnet]); len(missing) > 0 {
			why = append(why, fmt.Sprintf("the agent does not manage %v", missing))
		}
		if !containsStr(r.bound(physnet), rc.types[physnet]) {
			why = append(why, fmt.Sprintf("no %s port binds on %s", rc.types[physnet], physnet))
		}
	}
	// The agent must leave alone the VFs nova does not offer (exclude_devices took effect).
	var wantAll, managed []string
	for _, pfs := range rc.want {
		for pf, ids := range pfs {
			wantAll = union(wantAll, show.addrs(pf, ids...))
		}
	}
	for _, a := range r.Agent.Managed {
		managed = union(managed, a)
	}
	if extra := minus(managed, wantAll); len(extra) > 0 {
		why = append(why, fmt.Sprintf("the agent manages %v, which nova does not offer", extra))
	}
	if rc.mirror && !containsStr(r.ML2.ExtensionAliases, "port-security") {
		why = append(why, "no port-security extension")
	}
	return why
}

// TestCheckAgreesWithRealServices mutates rendered files and asserts `openstack check` fails exactly
// the files the real services refuse.
func TestCheckAgreesWithRealServices(t *testing.T) {
	needServices(t)
	h := newHost(t)
	_, show := h.show()
	bases := map[string]renderCase{}
	baseDirs := map[string]string{}
	for _, rc := range renderCases {
		if rc.name == flatTrusted || rc.name == vlanIxgbe || rc.name == flatIgb || rc.name == splitPF {
			bases[rc.name] = rc
			baseDirs[rc.name], _ = h.renderAll(rc)
		}
	}
	var cases []harnessCase
	for i, m := range mutations {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"ml2_conf.ini", "sriov_agent.ini", "nova.conf"} {
			data, err := os.ReadFile(filepath.Join(baseDirs[m.base], n))
			if err != nil {
				t.Fatal(err)
			}
			if n == m.file {
				data = []byte(m.edit(t, string(data)))
			}
			if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		raw, _ := h.show()
		cases = append(cases, harnessCase{Name: m.name, Show: raw, ML2: filepath.Join(dir, "ml2_conf.ini"),
			Agent: filepath.Join(dir, "sriov_agent.ini"), Nova: filepath.Join(dir, "nova.conf"), Steps: json.RawMessage("[]")})
	}
	res := runHarness(t, cases)
	for i, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			why := realRejects(res[m.name], bases[m.base], show)
			if (len(why) > 0) != m.reject {
				t.Fatalf("the real services: reject=%v (%v), the test expects reject=%v", len(why) > 0, why, m.reject)
			}
			out, code := h.check(cases[i])
			if (code != 0) != m.reject {
				t.Errorf("openstack check exits %d, the services reject=%v (%v):\n%s", code, m.reject, why, out)
			}
		})
	}
}
