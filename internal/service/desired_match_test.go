package service_test

import (
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestMergeDesiredKeysMatchByPCIAddress: a PF selected by match is stored by the PCI address it
// resolved to, so applying a file that names the same PF by name later replaces it.
func TestMergeDesiredKeysMatchByPCIAddress(t *testing.T) {
	st := &sriov.Host{PFs: []sriov.PF{
		{Name: "ens3f0", PCIAddress: "0000:86:00.0", Driver: "ice", VendorID: "8086", DeviceID: "159b"},
		{Name: "ens5f0", PCIAddress: "0000:01:00.0", Driver: "igb", VendorID: "8086", DeviceID: "10c9"},
	}}
	parse := func(y string) *policy.Policy {
		p, err := policy.Parse("p.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	stored := service.MergeDesired(st, nil, parse("pfs:\n  - match: {driver: ice}\n    numVfs: 4\n    mtu: 9000\n"), false)
	if len(stored.PFs) != 1 || stored.PFs[0].PCIAddress != "0000:86:00.0" || stored.PFs[0].Match != nil || *stored.PFs[0].MTU != 9000 {
		t.Fatalf("stored %+v", stored.PFs)
	}
	data, err := service.EncodePolicy(stored)
	if err != nil || strings.Contains(string(data), "match") || !strings.Contains(string(data), "mtu: 9000") {
		t.Fatalf("encoded %s %v", data, err)
	}
	// The same PF by name, and another by lspci's short form: the first replaces the match's entry.
	merged := service.MergeDesired(st, parse(string(data)), parse("pfs:\n  - name: ens3f0\n    numVfs: 2\n  - match: {pciAddress: \"01:00.*\"}\n    numVfs: 1\n"), false)
	if len(merged.PFs) != 2 || *merged.PFs[0].NumVFs != 2 || merged.PFs[0].PCIAddress != "0000:86:00.0" || merged.PFs[1].PCIAddress != "0000:01:00.0" {
		t.Fatalf("merged %+v", merged.PFs)
	}
}
