package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestMatchParsedAndNormalized(t *testing.T) {
	p, err := Parse("p.yaml", []byte("pfs:\n  - match: {vendorId: \"0x8086\", deviceId: 159B, driver: ice, pciAddress: \"3B:00.*\"}\n    mtu: 9000\n    numVfs: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Match{VendorID: "8086", DeviceID: "159b", Driver: "ice", PCIAddress: "0000:3b:00.*"}
	if got := *p.PFs[0].Match; got != want || *p.PFs[0].MTU != 9000 {
		t.Fatalf("match %+v mtu %v, want %+v 9000", got, *p.PFs[0].MTU, want)
	}
	if ref := p.PFs[0].Ref(); ref != "match{vendorId=8086,deviceId=159b,driver=ice,pciAddress=0000:3b:00.*}" {
		t.Fatalf("Ref() = %q", ref)
	}
}

// host has two ice ports of one NIC, an igb PF and a netdevsim PF (no PCI IDs).
func host() *sriov.Host {
	return &sriov.Host{PFs: []sriov.PF{
		{Name: "ens3f0", PCIAddress: "0000:86:00.0", Driver: "ice", VendorID: "8086", DeviceID: "159b"},
		{Name: "ens3f1", PCIAddress: "0000:86:00.1", Driver: "ice", VendorID: "8086", DeviceID: "159b"},
		{Name: "ens5f0", PCIAddress: "0000:01:00.0", Driver: "igb", VendorID: "8086", DeviceID: "10c9"},
		{Name: "eth0", PCIAddress: "netdevsim10", Driver: "netdevsim"},
	}}
}

func TestFind(t *testing.T) {
	m := func(s string) *Match {
		p, err := Parse("p.yaml", []byte("pfs:\n  - match: "+s+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return p.PFs[0].Match
	}
	tests := []struct {
		name       string
		pf         PF
		want       string // the PF found
		err        string
		ambiguous  bool
		candidates []string
	}{
		{"by name", PF{Name: "ens5f0"}, "ens5f0", "", false, nil},
		{"by PCI address", PF{PCIAddress: "0000:86:00.1"}, "ens3f1", "", false, nil},
		{"name missing", PF{Name: "ens9"}, "", "no such PF on this host; PFs: ens3f0, ens3f1, ens5f0, eth0", false, nil},
		{"by driver", PF{Match: m("{driver: igb}")}, "ens5f0", "", false, nil},
		{"by IDs", PF{Match: m(`{vendorId: "8086", deviceId: "10C9"}`)}, "ens5f0", "", false, nil},
		{"glob picks a port", PF{Match: m(`{driver: ice, pciAddress: "*:86:00.1"}`)}, "ens3f1", "", false, nil},
		{"short glob", PF{Match: m(`{pciAddress: "86:00.0"}`)}, "ens3f0", "", false, nil},
		{"netdevsim by driver", PF{Match: m("{driver: netdevsim}")}, "eth0", "", false, nil},
		{"ambiguous", PF{Match: m("{driver: ice}")}, "", "match{driver=ice} selects 2 PFs (ens3f0 0000:86:00.0, ens3f1 0000:86:00.1); it must select one", true,
			[]string{"ens3f0 0000:86:00.0", "ens3f1 0000:86:00.1"}},
		{"none", PF{Match: m("{driver: mlx5_core}")}, "", "no PF on this host matches match{driver=mlx5_core}; PFs: ens3f0, ens3f1, ens5f0, eth0", false, nil},
		{"all fields must hold", PF{Match: m(`{driver: igb, deviceId: "159b"}`)}, "", "no PF on this host matches", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.pf.Find(host())
			if tt.err == "" {
				if err != nil || p.Name != tt.want {
					t.Fatalf("Find = %v, %v; want %s", p, err, tt.want)
				}
				return
			}
			var fe *FindError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if fe.Ambiguous() != tt.ambiguous || !reflect.DeepEqual(fe.Candidates, tt.candidates) || fe.ByMatch != (tt.pf.Match != nil) {
				t.Fatalf("error %+v", fe)
			}
		})
	}
}

// TestPoolAndMirrorPFNames: pools and mirror groups may name their PF in any form commands take; the
// parsed policy holds the canonical address, so that "01:00.0" and "0000:01:00.0" are one PF.
func TestPoolAndMirrorPFNames(t *testing.T) {
	p, err := Parse("p.yaml", []byte("pfs: []\npools:\n  - {name: a, pf: \"01:00.0\", ids: \"0-1\"}\nmirrors:\n  - {name: m, pf: pci/0000:01:00.0, vfs: \"2,3\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Pools[0].PF != "0000:01:00.0" || p.Mirrors[0].PF != "0000:01:00.0" {
		t.Fatalf("pool pf %q, mirror pf %q", p.Pools[0].PF, p.Mirrors[0].PF)
	}
	_, err = Parse("p.yaml", []byte("pfs: []\npools:\n  - {name: a, pf: \"01:00.0\", ids: \"0-1\"}\n  - {name: b, pf: \"0000:01:00.0\", ids: \"1\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "VF 1 of 0000:01:00.0 is already in pool \"a\"") {
		t.Fatalf("overlap across name forms: %v", err)
	}
}
