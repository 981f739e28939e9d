package devref

import (
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestPCIAddress(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"0000:01:00.0", "0000:01:00.0", true},
		{"0000:3B:00.1", "0000:3b:00.1", true},
		{"pci/0000:01:00.0", "0000:01:00.0", true},
		{"01:00.0", "0000:01:00.0", true},
		{"pci/3b:00.1", "0000:3b:00.1", true},
		{"0001:01:00.0", "0001:01:00.0", true},
		{"01:00.8", "", false}, // functions are 0-7
		{"01:20.0", "", false}, // devices are 00-1f
		{"1:00.0", "", false},  // the bus has two digits
		{"ens5f0", "", false},  // a netdev name
		{"usb/1-1", "", false}, // another bus's devlink handle
		{"0000:01:00", "", false},
	}
	for _, tt := range tests {
		got, ok := PCIAddress(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PCIAddress(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// host has an igb PF with two VFs (one with a netdev) and a netdevsim PF, as a kernel backend reports them.
func host() *sriov.Host {
	return &sriov.Host{PFs: []sriov.PF{
		{Name: "ens5f0", PCIAddress: "0000:01:00.0", NumVFs: 2, VFs: []sriov.VF{
			{ID: 0, PCIAddress: "0000:01:10.0", Netdev: "ens5f0v0"},
			{ID: 1, PCIAddress: "0000:01:10.2"},
		}},
		{Name: "eth0", PCIAddress: "netdevsim10", NumVFs: 1, VFsHaveNoDevice: true, VFs: []sriov.VF{{ID: 0}}},
		{Name: "ens1f0", PCIAddress: "0000:3b:00.0", VFs: []sriov.VF{}},
	}}
}

func TestPF(t *testing.T) {
	tests := []struct {
		ref, want, err string
	}{
		{"ens5f0", "ens5f0", ""},
		{"0000:01:00.0", "ens5f0", ""},
		{"pci/0000:01:00.0", "ens5f0", ""},
		{"01:00.0", "ens5f0", ""},
		{"3B:00.0", "ens1f0", ""},
		{"netdevsim/netdevsim10", "eth0", ""},
		{"netdevsim10", "eth0", ""},
		{"ens9", "", `PF: invalid value "ens9": no such PF; PFs on this host: ens5f0, eth0, ens1f0`},
		{"02:00.0", "", `PF: invalid value "02:00.0": no such PF`},
		{"pci/0000:01:10.0", "", "no such PF"}, // a VF is not a PF
	}
	for _, tt := range tests {
		p, err := PF(host(), "PF", tt.ref)
		switch {
		case tt.err == "" && (err != nil || p.Name != tt.want):
			t.Errorf("PF(%q) = %v, %v; want %s", tt.ref, p, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("PF(%q) error %v; want %q", tt.ref, err, tt.err)
		}
	}
}

func TestVF(t *testing.T) {
	tests := []struct {
		pf, ref string
		want    int
		err     string
	}{
		{"ens5f0", "1", 1, ""},
		{"ens5f0", "7", 7, ""}, // an index is not checked here: the caller validates it under its lock
		{"ens5f0", "0000:01:10.2", 1, ""},
		{"ens5f0", "pci/0000:01:10.2", 1, ""},
		{"ens5f0", "01:10.0", 0, ""},
		{"ens5f0", "ens5f0v0", 0, ""},
		{"ens5f0", "ens5f0v1", 0, `VF: invalid value "ens5f0v1": no VF of ens5f0 has this netdev name (want a VF index, a VF PCI address or a VF netdev name: 0-1)`},
		{"ens5f0", "01:10.4", 0, "no VF of ens5f0 has this PCI address"},
		{"ens5f0", "-1", 0, "no VF of ens5f0 has this netdev name"},
		{"ens5f0", "+1", 0, "want a VF index"},
		{"ens1f0", "01:10.0", 0, `VF: invalid value "01:10.0": that is VF 0 of ens5f0, not of ens1f0`},
		{"ens1f0", "ens5f0v0", 0, "that is VF 0 of ens5f0, not of ens1f0"},
		{"ens1f0", "x", 0, "ens1f0 has no VFs (set --numvfs first)"},
		{"eth0", "0", 0, ""},
		{"eth0", "", 0, "no VF of eth0 has this netdev name"}, // netdevsim VFs have no netdev: "" matches none
	}
	for _, tt := range tests {
		h := host()
		p := h.FindPF(tt.pf)
		id, err := VF(h, p, "VF", tt.ref)
		switch {
		case tt.err == "" && (err != nil || id != tt.want):
			t.Errorf("VF(%s, %q) = %d, %v; want %d", tt.pf, tt.ref, id, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("VF(%s, %q) error %v; want %q", tt.pf, tt.ref, err, tt.err)
		}
	}
}
