package openstack

import (
	"context"
	"path/filepath"
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
