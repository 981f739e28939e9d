package openstack

import (
	"sort"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/policy"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestDeviceSpecMatching follows nova's matching rules on a host with two PFs.
func TestDeviceSpecMatching(t *testing.T) {
	h := &sriov.Host{PFs: []sriov.PF{
		{Name: "eth3", PCIAddress: "0000:82:00.0", VendorID: "8086", VFDeviceID: "10ed", NumVFs: 2,
			VFs: []sriov.VF{{ID: 0, PCIAddress: "0000:82:10.0", Netdev: "eth3v0"}, {ID: 1, PCIAddress: "0000:82:10.2"}}},
		{Name: "eth4", PCIAddress: "0000:83:00.0", VendorID: "15b3", VFDeviceID: "1018", NumVFs: 1,
			VFs: []sriov.VF{{ID: 0, PCIAddress: "0000:83:00.2"}}},
	}}
	cases := []struct {
		spec string
		want string // describeMatches of the result
	}{
		{`{"devname": "eth3"}`, "eth3 VFs 0-1"},
		{`{"devname": "eth3v0"}`, "eth3 VFs 0"},
		{`{"address": "0000:82:00.0"}`, "eth3 VFs 0-1"},                                   // a PF's address: its VFs
		{`{"address": "*:82:10.*"}`, "eth3 VFs 0-1"},                                      // the guide's glob form
		{`{"address": "82:10.2"}`, "eth3 VFs 1"},                                          // missing domain: any
		{`{"address": ":83:"}`, "eth4 VFs 0"},                                             // empty fields: any
		{`{"address": {"bus": "8[23]", "function": "[02]"}}`, "eth3 VFs 0-1, eth4 VFs 0"}, // regex object
		{`{"vendor_id": "15b3", "product_id": "1018"}`, "eth4 VFs 0"},
		{`{"vendor_id": "8086", "product_id": "10fb"}`, ""}, // the PF's id, not the VFs'
		{`{"devname": "eth3", "vendor_id": "15b3"}`, ""},
		{`[{"devname": "eth4"}, {"address": "0000:82:10.0"}]`, "eth4 VFs 0"},                            // a list: first item here
		{`{"address": {"bus": "8", "slot": "1"}}`, "eth3 VFs 0-1"},                                      // re.match: a prefix
		{`{"address": {"domain": "0000", "bus": "82", "slot": "00", "function": "0"}}`, "eth3 VFs 0-1"}, // all four hex: a PF
		{`{"address": {"bus": "82", "slot": "00", "function": "0"}}`, ""},                               // no domain: never a PF
		{`{"address": "0000:82:00"}`, ""},                                                               // no function: not a PF
		{`{"vendor_id": "0x8086", "product_id": "10ED"}`, "eth3 VFs 0-1"},                               // hex as nova parses it
	}
	for _, tc := range cases {
		specs, _, err := parseDeviceSpecs(tc.spec)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if got := describeMatches(specs[0].matchVFs(h)); got != tc.want {
			t.Errorf("%s matches %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestParseDeviceSpecs(t *testing.T) {
	specs, _, err := parseDeviceSpecs(`{"devname": "eth3", "physical_network": "physnet2", "trusted": true}`)
	if err != nil || specs[0].Trusted != "true" || specs[0].PhysicalNetwork != "physnet2" {
		t.Errorf("boolean trusted: %+v, %v", specs, err)
	}
	for spec, want := range map[string]string{
		`{"devname": "eth3",}`:          "is not valid JSON",
		`"eth3"`:                        "is not valid JSON",
		`{"devname": 3}`:                "has devname 3: want a string",
		`{"address": 5}`:                "has address 5: want a string",
		`[{"devname": "eth3"}, "eth4"]`: "is not valid JSON",
	} {
		if _, _, err := parseDeviceSpecs(spec); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", spec, err, want)
		}
	}
}

// describeMatches renders matched VFs compactly per PF: "ens5f0 VFs 0-3".
func describeMatches(ms []matchedVF) string {
	byPF := map[string][]int{}
	var order []string
	for _, m := range ms {
		if _, ok := byPF[m.PF]; !ok {
			order = append(order, m.PF)
		}
		byPF[m.PF] = append(byPF[m.PF], m.VF)
	}
	var parts []string
	for _, pf := range order {
		ids := byPF[pf]
		sort.Ints(ids)
		parts = append(parts, pf+" VFs "+policy.FormatIDs(ids))
	}
	return strings.Join(parts, ", ")
}
