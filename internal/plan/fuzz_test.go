package plan_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
)

// FuzzBuild: whatever policy the parser accepts, planning it on a lab host does not panic, and a plan
// without problems only holds operations on the PFs the policy names, each with a reason.
func FuzzBuild(f *testing.F) {
	l, err := lab.Init(filepath.Join(f.TempDir(), "lab"), []lab.NIC{{Name: "igb0", Profile: "igb"}, {Name: "mlx0", Profile: "mlx5", TotalVFs: 4}})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	for _, err := range []error{l.SetNumVFs(ctx, "igb0", 3), l.SetVFMAC(ctx, "igb0", 1, "02:00:00:00:00:01"), l.BindVF(ctx, "igb0", 2, "vfio-pci"),
		l.SetNumVFs(ctx, "mlx0", 2), l.SetVFMAC(ctx, "mlx0", 0, "02:00:00:00:00:02")} {
		if err != nil {
			f.Fatal(err)
		}
	}
	st, err := l.Observe(ctx)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"pfs:\n  - name: igb0\n    numVfs: 5\n    vfs:\n      - ids: \"1\"\n        mac: \"02:00:00:00:00:09\"\n      - ids: \"0,2-4\"\n        vlan: 7\n        qos: 1\n        driver: igbvf\n",
		"pfs:\n  - name: mlx0\n    vfs:\n      - ids: \"0\"\n        mac: \"02:00:00:00:00:03\"\n      - ids: \"1\"\n        mac: \"02:00:00:00:00:02\"\n",
		"pfs:\n  - name: igb0\n    numVfs: 0\n  - name: eth9\n",
		"pfs:\n  - name: igb0\n    vfs:\n      - ids: \"0\"\n        linkState: enable\n        minTxRateMbps: 10\n",
		"pfs:\n  - pciAddress: \"0000:01:00.0\"\n    numVfs: 7\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pol, err := policy.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		p := plan.Build(st, pol, plan.Options{})
		if len(p.Problems) > 0 {
			return
		}
		named := map[string]bool{}
		for _, pp := range pol.PFs {
			if pf := st.FindPF(pp.Ref()); pf != nil {
				named[pf.Name] = true
			}
		}
		for _, o := range p.Ops {
			if !named[o.PF] || o.Reason == "" {
				t.Fatalf("operation %s (reason %q) on a PF the policy does not name", o.Describe(), o.Reason)
			}
			if o.Kind == change.KindNumVFs && o.Disruptive != (o.From.NumVFs > 0 && o.To.NumVFs == 0) {
				t.Fatalf("numvfs operation %s marked disruptive=%v", o.Describe(), o.Disruptive)
			}
		}
	})
}
