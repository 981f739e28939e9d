package openstack

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// labHost creates a lab with the given NICs ("NAME=PROFILE", default: the five-NIC lab), gives each PF
// in vfs its VF count, and returns the observed host.
func labHost(t *testing.T, nics []string, vfs map[string]int) *sriov.Host {
	t.Helper()
	var specs []lab.NIC
	for _, s := range nics {
		n, err := lab.ParseNIC(s)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, n)
	}
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), specs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for pf, n := range vfs {
		if err := l.SetNumVFs(ctx, pf, n); err != nil {
			t.Fatal(err)
		}
	}
	h, err := l.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func reparse(t *testing.T, d *Doc) *Doc {
	t.Helper()
	p, err := ParseDoc(d.Path, d.Bytes())
	if err != nil {
		t.Fatalf("rendered %s does not parse: %v\n%s", d.Path, err, d.Bytes())
	}
	return p
}

func renderedFiles(t *testing.T, r *Rendered) Files {
	return Files{ML2: reparse(t, r.ML2), SRIOVAgent: reparse(t, r.SRIOVAgent), Nova: reparse(t, r.Nova)}
}

func TestRenderThenCheckIsClean(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 4, "ens1f0": 8})
	cases := []struct {
		name string
		o    Options
	}{
		{"flat", Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat, Ports: 1}},
		{"flat-subset-trusted", Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat, VFs: []int{0, 1}, Trusted: true, Ports: 1, MirrorPorts: 1}},
		{"vlan", Options{Physnet: "physnet2", PF: "ens1f0", NetworkType: VLAN, VLANMin: 100, VLANMax: 199, Ports: 2}},
		{"vlan-bare", Options{Physnet: "physnet2", PF: "0000:3b:00.0", NetworkType: VLAN, Segment: 1000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(h, tc.o, Existing{})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range r.Docs() {
				t.Logf("%s:\n%s", d.Path, d.Bytes())
			}
			for _, s := range r.Steps {
				t.Logf("$ %s", s)
			}
			if ps := Check(h, renderedFiles(t, r)); len(ps) != 0 {
				t.Errorf("check of rendered files: %v", ps)
			}
		})
	}
}

func TestGuideFixturesPass(t *testing.T) {
	h := labHost(t, []string{"eth3=ixgbe"}, map[string]int{"eth3": 8})
	dirs, err := filepath.Glob("testdata/guide-*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f := Files{ML2: readDoc(t, dir, ML2File), SRIOVAgent: readDoc(t, dir, SRIOVAgentFile), Nova: readDoc(t, dir, NovaFile)}
			if ps := Check(h, f); len(ps) != 0 {
				t.Errorf("problems in a guide example:\n%s", problemLines(ps))
			}
		})
	}
}

func readDoc(t *testing.T, dir, name string) *Doc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDoc(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func problemLines(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// TestCheckFindsEachBrokenVariant breaks one thing at a time in a rendered, clean configuration and
// expects the problem at the right file:section:key.
func TestCheckFindsEachBrokenVariant(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 4})
	flat, err := Render(h, Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat, VFs: []int{0, 1, 2}, Ports: 1}, Existing{})
	if err != nil {
		t.Fatal(err)
	}
	vlan, err := Render(h, Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: VLAN, VLANMin: 100, VLANMax: 199, Ports: 1}, Existing{})
	if err != nil {
		t.Fatal(err)
	}
	type edit struct{ file, old, new string }
	cases := []struct {
		name  string
		base  *Rendered
		edits []edit
		loc   string // file:section:key
		want  string // in the problem text
	}{
		{"device_spec physnet not in physical_device_mappings", flat,
			[]edit{{NovaFile, `"physical_network": "physnet1"`, `"physical_network": "physnet9"`}},
			"sriov_agent.ini:sriov_nic:physical_device_mappings", "physnet physnet9"},
		{"device_spec physnet mapped to another PF", flat,
			[]edit{{SRIOVAgentFile, "physnet1:ens5f0", "physnet1:ens1f0"}},
			"sriov_agent.ini:sriov_nic:physical_device_mappings", "physnet1 maps to ens1f0, but nova.conf device_spec"},
		{"device_spec physnet not in flat_networks", flat,
			[]edit{{ML2File, "flat_networks = physnet1", "flat_networks = physnet3"}},
			"ml2_conf.ini:ml2_type_flat:flat_networks", "physnet physnet1"},
		{"device_spec physnet not in network_vlan_ranges", vlan,
			[]edit{{ML2File, "network_vlan_ranges = physnet1:100:199", "network_vlan_ranges = physnet3:100:199"}},
			"ml2_conf.ini:ml2_type_vlan:network_vlan_ranges", "physnet physnet1"},
		{"mapped PF does not exist", flat,
			[]edit{{SRIOVAgentFile, "physnet1:ens5f0", "physnet1:ens5f0,physnet2:ens9f9"}},
			"sriov_agent.ini:sriov_nic:physical_device_mappings", "ens9f9, which is not an SR-IOV PF on this host"},
		{"mapped PF has no VFs", flat,
			[]edit{{SRIOVAgentFile, "physnet1:ens5f0", "physnet1:ens5f0,physnet2:ens1f0"}},
			"sriov_agent.ini:sriov_nic:physical_device_mappings", "ens1f0, which has no VFs"},
		{"sriovnicswitch absent", flat,
			[]edit{{ML2File, "= sriovnicswitch", "= openvswitch"}},
			"ml2_conf.ini:ml2:mechanism_drivers", "sriovnicswitch is not among the mechanism drivers (openvswitch)"},
		{"PciPassthroughFilter absent", flat,
			[]edit{{NovaFile, ", PciPassthroughFilter", ""}},
			"nova.conf:filter_scheduler:enabled_filters", "PciPassthroughFilter is not enabled"},
		{"enabled_filters unset", flat,
			[]edit{{NovaFile, "enabled_filters", "#enabled_filters"}},
			"nova.conf:filter_scheduler:enabled_filters", "nova's default filters do not include PciPassthroughFilter"},
		{"device_spec with devname and address", vlan,
			[]edit{{NovaFile, `{"devname": "ens5f0",`, `{"devname": "ens5f0", "address": "0000:01:10.0",`}},
			"nova.conf:pci:device_spec", "both devname and address"},
		{"device_spec invalid JSON", vlan,
			[]edit{{NovaFile, `"physical_network": "physnet1"}`, `"physical_network": physnet1}`}},
			"nova.conf:pci:device_spec", "not valid JSON"},
		{"device_spec with a non-string physical_network", vlan,
			[]edit{{NovaFile, `"physical_network": "physnet1"}`, `"physical_network": 1}`}},
			"nova.conf:pci:device_spec", `entry 1 has physical_network 1: want a string`},
		{"device_spec matching no VF", vlan,
			[]edit{{NovaFile, `"product_id": "10ca", "physical_network"`, `"product_id": "10c9", "physical_network"`}},
			"nova.conf:pci:device_spec", "matches no VF on this host"},
		{"exclude_devices naming a device that is no VF", flat,
			[]edit{{SRIOVAgentFile, "ens5f0:0000:01:10.6", "ens5f0:0000:01:00.0"}},
			"sriov_agent.ini:sriov_nic:exclude_devices", "0000:01:00.0 is not a VF of ens5f0"},
		{"exclude_devices naming a PF that is not mapped", flat,
			[]edit{{SRIOVAgentFile, "ens5f0:0000:01:10.6", "ens5f0:0000:01:10.6,ens1f0:0000:3b:10.0"}},
			"sriov_agent.ini:sriov_nic:exclude_devices", "ens1f0 is not in physical_device_mappings"},
		{"flat network with a VLAN range", flat,
			[]edit{{ML2File, "flat_networks = physnet1", "flat_networks = physnet1\n\n[ml2_type_vlan]\nnetwork_vlan_ranges = physnet1:100:199"}},
			"ml2_conf.ini:ml2_type_vlan:network_vlan_ranges", "physnet1 has VLAN range 100:199, but type_drivers (flat) has no vlan"},
		{"device_spec offering a VF the agent excludes", flat,
			[]edit{{NovaFile, `"address": "0000:01:10.0"`, `"address": "0000:01:10.6"`}},
			"nova.conf:pci:device_spec", "ens5f0 VF 3 (0000:01:10.6), which sriov_agent.ini exclude_devices excludes"},
		{"filters under their pre-Ocata name", flat,
			[]edit{{NovaFile, "enabled_filters", "#enabled_filters"}, {NovaFile, "[pci]", "[DEFAULT]\nscheduler_default_filters = ComputeFilter, PciPassthroughFilter\n\n[pci]"}},
			"nova.conf:DEFAULT:scheduler_default_filters", "nova no longer reads this option"},
		{"mechanism driver in other letter case", flat,
			[]edit{{ML2File, "= sriovnicswitch", "= SriovNicSwitch"}},
			"ml2_conf.ini:ml2:mechanism_drivers", `"SriovNicSwitch" is not a mechanism driver OpenStack ships`},
		{"scheduler filter in other letter case", flat,
			[]edit{{NovaFile, "PciPassthroughFilter", "PCIPassthroughFilter"}},
			"nova.conf:filter_scheduler:enabled_filters", `"PCIPassthroughFilter" is not a scheduler filter`},
		{"tenant network type without a type driver", flat,
			[]edit{{ML2File, "tenant_network_types = ", "tenant_network_types = vxlan"}},
			"ml2_conf.ini:ml2:tenant_network_types", `tenant network type "vxlan" has no enabled type driver`},
		{"empty physnet in a VLAN range", vlan,
			[]edit{{ML2File, "network_vlan_ranges = physnet1:100:199", "network_vlan_ranges = physnet1:100:199,:200:299"}},
			"ml2_conf.ini:ml2_type_vlan:network_vlan_ranges", `":200:299" has no physical network name`},
		{"trusted as a JSON boolean", flat,
			[]edit{{NovaFile, `"physical_network": "physnet1"}`, `"physical_network": "physnet1", "trusted": true}`}},
			"nova.conf:pci:device_spec", `"trusted": true as a JSON boolean`},
		{"same PF twice in exclude_devices", flat,
			[]edit{{SRIOVAgentFile, "ens5f0:0000:01:10.6", "ens5f0:0000:01:10.6,ens5f0:0000:01:10.4"}},
			"sriov_agent.ini:sriov_nic:exclude_devices", "ens5f0 has two entries"},
		{"VF address in upper case in exclude_devices", flat,
			[]edit{{SRIOVAgentFile, "ens5f0:0000:01:10.6", "ens5f0:0000:01:10.6;0000:01:1A.0"}},
			"sriov_agent.ini:sriov_nic:exclude_devices", "0000:01:1A.0 is not a VF of ens5f0"},
		{"PF address as a regex without domain", vlan,
			[]edit{{NovaFile, `{"devname": "ens5f0",`, `{"address": {"bus": "01", "slot": "00", "function": "0"},`}},
			"nova.conf:pci:device_spec", "matches no VF on this host"},
		{"alias with a device_type nova does not know", flat,
			[]edit{{NovaFile, `"type-VF"`, `"type-vf"`}},
			"nova.conf:pci:alias", `device_type "type-vf" is not type-PCI, type-PF or type-VF`},
		{"unknown firewall driver", flat,
			[]edit{{SRIOVAgentFile, "firewall_driver = noop", "firewall_driver = Noop"}},
			"sriov_agent.ini:securitygroup:firewall_driver", `"Noop" is not a firewall driver`},
		{"one PF under two physnets by devname", vlan,
			[]edit{{NovaFile, "\n[filter_scheduler]", `device_spec = {"devname": "ens5f0", "physical_network": "physnet2"}` + "\n\n[filter_scheduler]"},
				{SRIOVAgentFile, "physnet1:ens5f0", "physnet1:ens5f0,physnet2:ens5f0"}},
			"nova.conf:pci:device_spec", "nova tags each device with the first entry that matches it"},
		{"mapped physnet without device_spec", vlan,
			[]edit{{NovaFile, `"physical_network": "physnet1"}`, `}`}},
			"nova.conf:pci:device_spec", "no device_spec entry offers ens5f0's VFs on physnet1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			texts := map[string]string{}
			for _, d := range tc.base.Docs() {
				texts[d.Path] = string(d.Bytes())
			}
			for _, e := range tc.edits {
				// The rendered files align '=': normalise to one space so edits can name "key = value".
				texts[e.file] = normalise(texts[e.file])
				if !strings.Contains(texts[e.file], e.old) {
					t.Fatalf("%s has no %q:\n%s", e.file, e.old, texts[e.file])
				}
				texts[e.file] = strings.Replace(texts[e.file], e.old, e.new, 1)
			}
			f := Files{}
			for name, doc := range map[string]**Doc{ML2File: &f.ML2, SRIOVAgentFile: &f.SRIOVAgent, NovaFile: &f.Nova} {
				d, err := ParseDoc(name, []byte(texts[name]))
				if err != nil {
					t.Fatal(err)
				}
				*doc = d
			}
			ps := Check(h, f)
			for _, p := range ps {
				if p.Location() == tc.loc && strings.Contains(p.Problem, tc.want) && p.Fix != "" {
					return
				}
			}
			t.Errorf("want a problem at %s containing %q; got:\n%s", tc.loc, tc.want, problemLines(ps))
		})
	}
}

var alignedEq = regexp.MustCompile(`(?m)^(\S+)\s+= ?`)

func normalise(s string) string { return alignedEq.ReplaceAllString(s, "$1 = ") }

// TestCheckAcceptsWhatTheServicesAccept: files Nova and Neutron read as intended pass check.
func TestCheckAcceptsWhatTheServicesAccept(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 4})
	flat, err := Render(h, Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat, Ports: 1}, Existing{})
	if err != nil {
		t.Fatal(err)
	}
	vlan, err := Render(h, Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: VLAN, VLANMin: 100, VLANMax: 199, Ports: 1}, Existing{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name          string
		base          *Rendered
		file, old, nw string
	}{
		{"physnet in other case in device_spec", flat, NovaFile, `"physical_network": "physnet1"`, `"physical_network": "PHYSNET1"`},
		{"upper-case section names", flat, ML2File, "[ml2]", "[ML2]"},
		{"upper-case agent section", flat, SRIOVAgentFile, "[sriov_nic]", "[SRIOV_NIC]"},
		{"blanks inside a VLAN range", vlan, ML2File, "physnet1:100:199", "physnet1: 100 : 199"},
		{"empty exclude list for a PF", flat, SRIOVAgentFile, "exclude_devices = ", "exclude_devices = ens5f0:"},
		{"address regex matched as a prefix", flat, NovaFile, `{"devname": "ens5f0",`, `{"address": {"domain": "0000", "bus": "0", "slot": "1", "function": "[0-7]"},`},
		{"PF address as a full regex", flat, NovaFile, `{"devname": "ens5f0",`, `{"address": {"domain": "0000", "bus": "01", "slot": "00", "function": "0"},`},
		{"address glob without domain", flat, NovaFile, `{"devname": "ens5f0",`, `{"address": "01:10.*",`},
		{"a passthrough entry for a device that is no VF", flat, NovaFile, "[pci]", "[pci]\ndevice_spec = {\"vendor_id\": \"10de\", \"product_id\": \"1db4\"}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := Files{}
			for _, d := range tc.base.Docs() {
				text := normalise(string(d.Bytes()))
				if d.Path == tc.file {
					if !strings.Contains(text, tc.old) {
						t.Fatalf("%s has no %q:\n%s", d.Path, tc.old, text)
					}
					text = strings.Replace(text, tc.old, tc.nw, 1)
				}
				pd, err := ParseDoc(d.Path, []byte(text))
				if err != nil {
					t.Fatal(err)
				}
				switch d.Path {
				case ML2File:
					f.ML2 = pd
				case SRIOVAgentFile:
					f.SRIOVAgent = pd
				default:
					f.Nova = pd
				}
			}
			if ps := Check(h, f); len(ps) != 0 {
				t.Errorf("problems in a file the services accept:\n%s", problemLines(ps))
			}
		})
	}
}

// An option before the first section header: oslo.config refuses the file, so ParseDoc does.
func TestParseDocRefusesOptionBeforeSection(t *testing.T) {
	for text, ok := range map[string]bool{
		"debug = true\n[ml2]\n":        false,
		"root:x:0:0:root:/root:/bin\n": false,
		"# comment\n\n[ml2]\na = b\n":  true,
		"; c\n[DEFAULT]\na = b\n":      true,
	} {
		_, err := ParseDoc("f.ini", []byte(text))
		if (err == nil) != ok {
			t.Errorf("%q: error %v, want ok=%v", text, err, ok)
		}
	}
}

// A kernel that does not report sriov_vf_device: device_spec goes by the PF's name alone and no alias
// (it would match every device of the vendor) is written.
func TestRenderWithoutVFDeviceID(t *testing.T) {
	h := &sriov.Host{PFs: []sriov.PF{{Name: "eth3", PCIAddress: "0000:82:00.0", VendorID: "8086", DeviceID: "10fb", TotalVFs: 63, NumVFs: 2,
		VFs: []sriov.VF{{ID: 0, PCIAddress: "0000:82:10.0"}, {ID: 1, PCIAddress: "0000:82:10.2"}}}}}
	r, err := Render(h, Options{Physnet: "physnet2", PF: "eth3", NetworkType: Flat, Ports: 1}, Existing{})
	if err != nil {
		t.Fatal(err)
	}
	nova := string(r.Nova.Bytes())
	if !strings.Contains(nova, `device_spec = {"devname": "eth3", "vendor_id": "8086", "physical_network": "physnet2"}`) || strings.Contains(nova, "alias") {
		t.Errorf("nova.conf:\n%s", nova)
	}
	if ps := Check(h, renderedFiles(t, r)); len(ps) != 0 {
		t.Errorf("check: %s", problemLines(ps))
	}
}

// oslo.config continues values on indented lines; a device_spec spread over lines must read as one
// JSON object, and be written back on one line.
func TestParseDocJoinsContinuationLines(t *testing.T) {
	src := "[pci]\n# offered to physnet2\ndevice_spec = {\"devname\": \"eth3\",\n    \"physical_network\": \"physnet2\"}\n\n[filter_scheduler]\nenabled_filters = ComputeFilter,\n  PciPassthroughFilter\n"
	d, err := ParseDoc("nova.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Get("pci", "device_spec"); v != `{"devname": "eth3", "physical_network": "physnet2"}` {
		t.Errorf("device_spec = %q", v)
	}
	if d.Has("pci", `"physical_network"`) {
		t.Error("continuation line read as a key")
	}
	out := string(d.Bytes())
	if !strings.Contains(out, "# offered to physnet2\ndevice_spec = {\"devname\": \"eth3\", \"physical_network\": \"physnet2\"}\n") ||
		!strings.Contains(out, "enabled_filters = ComputeFilter, PciPassthroughFilter\n") || strings.Contains(out, `"""`) {
		t.Errorf("written back as:\n%s", out)
	}
}

// The guide: "If the interfaces are down, set them to up before launching a guest, otherwise the
// instance will fail to spawn".
func TestCheckFindsPFDown(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 2})
	r, err := Render(h, Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat}, Existing{})
	if err != nil {
		t.Fatal(err)
	}
	h.FindPF("ens5f0").OperState = "down"
	ps := Check(h, renderedFiles(t, r))
	if len(ps) != 1 || ps[0].Location() != "sriov_agent.ini:sriov_nic:physical_device_mappings" ||
		!strings.Contains(ps[0].Problem, "ens5f0, which is down") || !strings.Contains(ps[0].Fix, "ip link set ens5f0 up") {
		t.Errorf("problems: %s", problemLines(ps))
	}
}

// TestRenderML2AddsAndNeverNarrows: from scratch neutron-server's tenant types get a driver; into an
// existing file only additions happen.
func TestRenderML2AddsAndNeverNarrows(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 4})
	flat := Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat}
	vlan := Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: VLAN, VLANMin: 100, VLANMax: 199}
	mirror := flat
	mirror.MirrorPorts = 1
	cases := []struct {
		name, existing string
		o              Options
		want           map[string]string // "section.key" -> value ("<unset>": absent)
	}{
		{"flat from scratch", "", flat, map[string]string{"ml2.type_drivers": "flat", "ml2.tenant_network_types": "", "ml2.extension_drivers": "<unset>"}},
		{"vlan range from scratch", "", vlan, map[string]string{"ml2.type_drivers": "vlan", "ml2.tenant_network_types": "vlan"}},
		{"default type drivers stay default", "[ml2]\ntenant_network_types = vxlan\n", vlan,
			map[string]string{"ml2.type_drivers": "<unset>", "ml2.tenant_network_types": "vxlan"}},
		{"type drivers are added to", "[ml2]\ntype_drivers = vxlan\ntenant_network_types = vxlan\n", vlan,
			map[string]string{"ml2.type_drivers": "vxlan,vlan", "ml2.tenant_network_types": "vxlan"}},
		{"an explicit type list without local gets tenant types", "[ml2]\ntype_drivers = flat\nmechanism_drivers = sriovnicswitch\n", vlan,
			map[string]string{"ml2.type_drivers": "flat,vlan", "ml2.tenant_network_types": "vlan"}},
		{"an explicit type list with local keeps the default tenant type", "[ml2]\ntype_drivers = local,flat\n", flat,
			map[string]string{"ml2.type_drivers": "local,flat", "ml2.tenant_network_types": "<unset>"}},
		{"mirror ports add port_security", "[ml2]\nextension_drivers = qos\n", mirror,
			map[string]string{"ml2.extension_drivers": "qos,port_security"}},
		{"a driver name in other case is corrected", "[ML2]\nmechanism_drivers = openvswitch,SriovNicSwitch\n", flat,
			map[string]string{"ml2.mechanism_drivers": "openvswitch,sriovnicswitch"}},
		{"a flat '*' stays", "[ml2_type_flat]\nflat_networks = *\n", flat, map[string]string{"ml2_type_flat.flat_networks": "*"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ex Existing
			if tc.existing != "" {
				d, err := ParseDoc(ML2File, []byte(tc.existing))
				if err != nil {
					t.Fatal(err)
				}
				ex.ML2 = d
			}
			r, err := Render(h, tc.o, ex)
			if err != nil {
				t.Fatal(err)
			}
			d := reparse(t, r.ML2)
			for k, want := range tc.want {
				sec, key, _ := strings.Cut(k, ".")
				got, ok := d.Get(sec, key)
				if !ok {
					got = "<unset>"
				}
				if got != want {
					t.Errorf("%s = %q, want %q\n%s", k, got, want, r.ML2.Bytes())
				}
			}
		})
	}
}

// TestRenderAccumulates: several renders into the same files keep each other's VFs.
func TestRenderAccumulates(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 4, "ens2f0": 2})
	cases := []struct {
		name    string
		renders []Options
		want    map[string]string // "section.key" -> value, device_spec lines joined by " | "
	}{
		{"one PF split across two physnets", []Options{
			{Physnet: "physA", PF: "ens5f0", NetworkType: Flat, VFs: []int{0, 1}},
			{Physnet: "physB", PF: "ens5f0", NetworkType: Flat, VFs: []int{2}}},
			map[string]string{
				"sriov_nic.physical_device_mappings": "physA:ens5f0,physB:ens5f0",
				"sriov_nic.exclude_devices":          "ens5f0:0000:01:10.6",
				"pci.device_spec": `{"address": "0000:01:10.0", "vendor_id": "8086", "product_id": "10ca", "physical_network": "physA"} | ` +
					`{"address": "0000:01:10.2", "vendor_id": "8086", "product_id": "10ca", "physical_network": "physA"} | ` +
					`{"address": "0000:01:10.4", "vendor_id": "8086", "product_id": "10ca", "physical_network": "physB"}`}},
		{"one physnet on two PFs", []Options{
			{Physnet: "physA", PF: "ens5f0", NetworkType: Flat},
			{Physnet: "physA", PF: "ens2f0", NetworkType: Flat}},
			map[string]string{
				"sriov_nic.physical_device_mappings": "physA:ens5f0,physA:ens2f0",
				"sriov_nic.exclude_devices":          "",
				"pci.device_spec": `{"devname": "ens5f0", "vendor_id": "8086", "product_id": "10ca", "physical_network": "physA"} | ` +
					`{"devname": "ens2f0", "vendor_id": "8086", "product_id": "154c", "physical_network": "physA"}`,
				"pci.alias": `{"name": "physA-vf", "vendor_id": "8086", "product_id": "10ca", "device_type": "type-VF"} | ` +
					`{"name": "physA-vf", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}`}},
		{"the same physnet and PF again replaces", []Options{
			{Physnet: "physA", PF: "ens5f0", NetworkType: Flat},
			{Physnet: "physA", PF: "ens5f0", NetworkType: Flat, VFs: []int{3}}},
			map[string]string{
				"sriov_nic.physical_device_mappings": "physA:ens5f0",
				"sriov_nic.exclude_devices":          "ens5f0:0000:01:10.0;0000:01:10.2;0000:01:10.4",
				"pci.device_spec":                    `{"address": "0000:01:10.6", "vendor_id": "8086", "product_id": "10ca", "physical_network": "physA"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ex Existing
			var r *Rendered
			for _, o := range tc.renders {
				var err error
				if r, err = Render(h, o, ex); err != nil {
					t.Fatal(err)
				}
				ex = Existing{ML2: reparse(t, r.ML2), SRIOVAgent: reparse(t, r.SRIOVAgent), Nova: reparse(t, r.Nova)}
			}
			for k, want := range tc.want {
				sec, key, _ := strings.Cut(k, ".")
				d := ex.SRIOVAgent
				if sec == secPCI {
					d = ex.Nova
				}
				vals, _ := d.GetAll(sec, key)
				if got := strings.Join(vals, " | "); got != want {
					t.Errorf("%s:\n got %s\nwant %s", k, got, want)
				}
			}
			if ps := Check(h, Files{ML2: ex.ML2, SRIOVAgent: ex.SRIOVAgent, Nova: ex.Nova}); len(ps) != 0 {
				t.Errorf("check:\n%s", problemLines(ps))
			}
		})
	}
}

// A nova.conf with the pre-Ocata [DEFAULT] pci_passthrough_whitelist: render folds it into device_spec
// (nova reads the old name only while device_spec is unset), so its entries survive.
func TestRenderFoldsLegacyWhitelist(t *testing.T) {
	h := labHost(t, nil, map[string]int{"ens5f0": 4})
	old, err := ParseDoc(NovaFile, []byte("[DEFAULT]\npci_passthrough_whitelist = {\"vendor_id\": \"10de\", \"product_id\": \"1db4\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(h, Options{Physnet: "physnet1", PF: "ens5f0", NetworkType: Flat}, Existing{Nova: old})
	if err != nil {
		t.Fatal(err)
	}
	d := reparse(t, r.Nova)
	specs, _ := d.GetAll(secPCI, keyDeviceSpec)
	if len(specs) != 2 || !strings.Contains(specs[0], "1db4") || d.Has("DEFAULT", "pci_passthrough_whitelist") {
		t.Errorf("device_spec %q, legacy option left: %v\n%s", specs, d.Has("DEFAULT", "pci_passthrough_whitelist"), r.Nova.Bytes())
	}
}
