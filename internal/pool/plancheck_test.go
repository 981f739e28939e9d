package pool

import (
	"context"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestPlanRefusesToTakeAssignedVFs(t *testing.T) {
	e := newEnv(t, "i40e", 4, "0-3", "vfio-pci")
	e.mustAssign("web1", sriov.VFSettings{MAC: ptr("02:00:00:00:01:01"), VLAN: ptr(100)}) // vf 0
	e.mustAssign("db1", sriov.VFSettings{})                                               // vf 1
	recs, err := e.m.Ledger.All()
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.lab.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	build := func(t *testing.T, pol string, force bool) *plan.Plan {
		t.Helper()
		p, err := policy.Parse("test.yaml", []byte(pol))
		if err != nil {
			t.Fatal(err)
		}
		return plan.Build(st, p, plan.Options{Force: force, Contributors: []plan.Contributor{{Name: "pools-test", Check: func(b *plan.Builder) { CheckPlan(b, recs) }}}})
	}
	refusedFor := func(p *plan.Plan) map[int]string {
		out := map[int]string{}
		for _, pr := range p.Problems {
			if pr.Kind == plan.ProblemRefused {
				out[pr.VF] = pr.Msg
			}
		}
		return out
	}
	cases := []struct {
		name, policy string
		refused      map[int]string // VF -> text the problem must contain
	}{
		{"untouched VFs", "pfs:\n  - name: eth0\n    numVfs: 4\n    vfs:\n      - ids: \"2-3\"\n        vlan: 5\n", nil},
		{"shrink removes vf 1", "pfs:\n  - name: eth0\n    numVfs: 1\n", map[int]string{0: "destroys and recreates", 1: "assigned to db1 (pool vms"}},
		{"grow goes through 0", "pfs:\n  - name: eth0\n    numVfs: 8\n", map[int]string{0: "web1", 1: "db1"}},
		{"all removed", "pfs:\n  - name: eth0\n    numVfs: 0\n", map[int]string{0: "removes it", 1: "removes it"}},
		{"settings changed", "pfs:\n  - name: eth0\n    vfs:\n      - ids: \"0\"\n        vlan: 200\n", map[int]string{0: "changes its vlan (100 qos 0 -> 200 qos 0)"}},
		{"driver changed", "pfs:\n  - name: eth0\n    vfs:\n      - ids: \"1\"\n        driver: iavf\n", map[int]string{1: "changes its driver (vfio-pci -> iavf)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := refusedFor(build(t, tc.policy, false))
			if len(got) != len(tc.refused) {
				t.Fatalf("refused %v, want VFs %v", got, tc.refused)
			}
			for vf, want := range tc.refused {
				if !strings.Contains(got[vf], want) {
					t.Errorf("vf %d: %q lacks %q", vf, got[vf], want)
				}
			}
			forced := build(t, tc.policy, true)
			if len(refusedFor(forced)) != 0 {
				t.Fatalf("--force still refused: %+v", forced.Problems)
			}
			if len(tc.refused) > 0 && !strings.Contains(strings.Join(forced.Notes, "\n"), "--force") {
				t.Errorf("--force plan has no note naming the owners: %v", forced.Notes)
			}
		})
	}
}
