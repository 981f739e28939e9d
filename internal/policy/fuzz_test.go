package policy

import (
	"errors"
	"slices"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// FuzzParse: no input makes Parse panic, and every input is either a valid policy (its invariants hold
// and it survives a YAML round trip) or a *Error, which the CLI reports with exit code 2. A plain
// `go test` runs the seeds only; `go test -fuzz FuzzParse ./internal/policy` explores.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"pfs:\n  - name: ens2f0\n    numVfs: 8\n    vfs:\n      - ids: \"0-3\"\n        vlan: 100\n        qos: 2\n        spoofchk: false\n      - ids: \"5\"\n        mac: \"02:00:00:00:00:10\"\n        driver: vfio-pci\n  - pciAddress: \"0000:3b:00.0\"\nmirrors:\n  - {name: probe, pf: ens2f0, vfs: \"6,7\", mac: \"02:00:00:00:00:aa\"}\npools:\n  - {name: vms, pf: ens2f0, ids: \"0-3\", driver: vfio-pci}\n",
		"pfs:\n  - name: a\n    vfs:\n      - ids: \"0,2-5\"\n        linkState: auto\n        minTxRateMbps: 10\n        maxTxRateMbps: 100\n        vlanProto: 802.1ad\n        queryRss: true\n        trust: true\n",
		"pfs: []\n",
		"pfs:\n  - name: a\n    numVfz: 3\n",
		"pfs:\n  - name: a\n    numVfs: many\n",
		"pfs:\n  - name: a\n    vfs:\n      - ids: \"3-1\"\n",
		"pfs:\n  - name: a\n    vfs:\n      - ids: \"0-2\"\n      - ids: \"2\"\n",
		"pfs:\n  - {name: a}\n---\npfs: []\n",
		"pfs: &x [*x]\n",
		"",
		"\t",
		"pfs:\n  - name: a\n    vfs:\n      - ids: \"0-65534\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || p != nil {
				t.Fatalf("error %T %v with policy %v: want a *policy.Error and no policy", err, err, p)
			}
			if pe.File != "fuzz.yaml" || pe.Msg == "" {
				t.Fatalf("error without file or message: %#v", pe)
			}
			return
		}
		checkInvariants(t, p)
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal a parsed policy: %v", err)
		}
		q, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("a parsed policy, written back, does not parse: %v\n%s", err, out)
		}
		checkInvariants(t, q)
	})
}

func checkInvariants(t *testing.T, p *Policy) {
	t.Helper()
	for _, pf := range p.PFs {
		if (pf.Name == "") == (pf.PCIAddress == "") {
			t.Fatalf("PF %+v: want exactly one of name and pciAddress", pf)
		}
		seen := map[int]bool{}
		for _, g := range pf.VFs {
			if len(g.VFIDs) == 0 || !slices.IsSorted(g.VFIDs) {
				t.Fatalf("group %+v: ids not parsed", g)
			}
			for _, id := range g.VFIDs {
				if seen[id] || (pf.NumVFs != nil && id >= *pf.NumVFs) {
					t.Fatalf("VF %d: twice or beyond numVfs in %+v", id, pf)
				}
				seen[id] = true
			}
			if g.MAC != nil && len(g.VFIDs) != 1 {
				t.Fatalf("MAC on %d VFs", len(g.VFIDs))
			}
			if err := g.Settings().Validate(); err != nil {
				t.Fatalf("group %+v: %v", g, err)
			}
		}
	}
	for _, m := range p.Mirrors {
		if len(m.VFIDs) < 2 || m.Strategy == "" {
			t.Fatalf("mirror %+v", m)
		}
	}
}
