package service_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestReconcile: Drift sees each kind of drift without writing; Reconcile repairs it to a policy passed
// in (not the stored one, which stays as it was), puts an assigned VF back at its owner's settings, and
// writes nothing when Confirm refuses a disruptive plan.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	stored := []byte("pfs: [{name: eth0, numVfs: 4, vfs: [{ids: \"0\", vlan: 100}]}]\npools: [{name: vms, pf: eth0, ids: \"3\"}]\n")
	covers := []byte("pfs: [{name: eth0, numVfs: 4, vfs: [{ids: \"0-3\", vlan: 100}]}]\npools: [{name: vms, pf: eth0, ids: \"3\"}]\n")
	other := []byte("pfs: [{name: eth0, numVfs: 4, vfs: [{ids: \"0\", vlan: 200}]}, {name: gone0, numVfs: 1}]\npools: [{name: vms, pf: eth0, ids: \"3\"}]\n")
	vf := func(l *lab.Lab, id int) sriov.VF {
		st, err := l.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return *st.FindPF("eth0").VF(id)
	}
	cases := []struct {
		name    string
		policy  []byte
		drift   func(l *lab.Lab) error
		confirm func(*plan.Plan) error
		wantErr error
		check   func(l *lab.Lab) string
	}{
		{"attribute changed by hand", stored, func(l *lab.Lab) error { return l.SetVFVLAN(ctx, "eth0", 0, 7, 0, "802.1Q") }, nil, nil,
			func(l *lab.Lab) string {
				if vf(l, 0).VLAN != 100 {
					return "vf 0 not back at vlan 100"
				}
				return ""
			}},
		{"policy passed in", other, func(l *lab.Lab) error { return nil }, nil, nil, func(l *lab.Lab) string {
			if vf(l, 0).VLAN != 200 {
				return "vf 0 not at the passed policy's vlan 200"
			}
			return ""
		}},
		{"assigned VF changed by hand", stored, func(l *lab.Lab) error { return l.SetVFVLAN(ctx, "eth0", 3, 5, 0, "802.1Q") }, nil, nil,
			func(l *lab.Lab) string {
				if vf(l, 3).VLAN != 42 {
					return "assigned vf 3 not back at its owner's vlan 42"
				}
				return ""
			}},
		{"assigned VF the policy names too", covers, func(l *lab.Lab) error { return l.SetVFVLAN(ctx, "eth0", 3, 5, 0, "802.1Q") }, nil, nil,
			func(l *lab.Lab) string {
				if vf(l, 3).VLAN != 42 || vf(l, 1).VLAN != 100 {
					return "vf 3 not at its owner's vlan 42 (the owner's settings win over the policy's), or vf 1 not at the policy's 100"
				}
				return ""
			}},
		{"PF reset", stored, func(l *lab.Lab) error { return l.Reboot() }, nil, nil, func(l *lab.Lab) string {
			if v := vf(l, 3); v.VLAN != 42 || vf(l, 0).VLAN != 100 {
				return "VFs not recreated with the policy's and the owner's settings"
			}
			return ""
		}},
		{"disruptive refused", stored, func(l *lab.Lab) error {
			if err := l.SetNumVFs(ctx, "eth0", 0); err != nil {
				return err
			}
			return l.SetNumVFs(ctx, "eth0", 2)
		}, func(*plan.Plan) error { return errRefused }, errRefused, func(l *lab.Lab) string {
			st, _ := l.Observe(ctx)
			if st.FindPF("eth0").NumVFs != 2 {
				return "the refused disruptive repair changed the VF count"
			}
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := lab.Init(filepath.Join(dir, "lab"), []lab.NIC{{Name: "eth0", Profile: "ice", TotalVFs: 8}})
			if err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(dir, "state")
			svc := service.New(l, state, service.Options{})
			pol, err := policy.Parse("stored.yaml", stored)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Apply(ctx, service.ApplyRequest{Data: stored, Policy: pol}); err != nil {
				t.Fatal(err)
			}
			vlan := 42
			if _, err := svc.Assign(ctx, pool.Request{Pool: pol.Pools[0], Owner: "web1", Settings: sriov.VFSettings{VLAN: &vlan}}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(state, apply.DesiredFile))
			if err := tc.drift(l); err != nil {
				t.Fatal(err)
			}
			want, err := policy.Parse("want.yaml", tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			ops, _ := l.MutatingOps()
			d, err := svc.Drift(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := l.MutatingOps(); d.InSync() || after != ops {
				t.Fatalf("Drift: in sync %v, %d writes", d.InSync(), after-ops)
			}
			res, err := svc.Reconcile(ctx, service.ReconcileRequest{Load: func(context.Context) (*policy.Policy, error) { return want, nil }, Confirm: tc.confirm})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Reconcile: %v, want %v", err, tc.wantErr)
			}
			if msg := tc.check(l); msg != "" {
				t.Fatal(msg)
			}
			if res.Drift == nil || res.Drift.InSync() {
				t.Fatal("the result has no drift observed before the repair")
			}
			if after, _ := os.ReadFile(filepath.Join(state, apply.DesiredFile)); string(after) != string(before) {
				t.Fatalf("the stored desired state changed:\n%s", after)
			}
			if tc.wantErr != nil {
				return
			}
			if d, err = svc.Drift(ctx, want); err != nil || !d.InSync() {
				t.Fatalf("not in sync after Reconcile: %v %+v", err, d.Plan)
			}
			if tc.name == "policy passed in" && (len(res.Missing) != 1 || res.Missing[0] != "gone0") {
				t.Fatalf("missing %v, want gone0", res.Missing)
			}
		})
	}
}

var errRefused = errors.New("not now")
