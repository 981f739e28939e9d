package mirror

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
)

// policyRun plans pol on l (with the mirror contributor), applies it and returns the plan.
func policyRun(t *testing.T, l *lab.Lab, pol string) *plan.Plan {
	t.Helper()
	p, err := policy.Parse("policy.yaml", []byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pl := plan.Build(st, p, plan.Options{Contributors: []plan.Contributor{Contributor(nil)}})
	if len(pl.Problems) == 0 {
		if _, err := change.Run(context.Background(), l, pl.Ops, change.Hooks{}); err != nil {
			t.Fatal(err)
		}
	}
	return pl
}

func newLabNICs(t *testing.T, nics ...lab.NIC) *lab.Lab {
	t.Helper()
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), nics)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestPolicyMirrorSameMAC(t *testing.T) {
	for _, profile := range []string{"igb", "ice"} {
		t.Run(profile, func(t *testing.T) {
			l := newLabNICs(t, lab.NIC{Name: "eth0", Profile: profile})
			pol := `
pfs:
  - name: eth0
    numVfs: 4
mirrors:
  - name: tap
    pf: eth0
    vfs: "1-2"
    mac: "02:00:00:00:00:aa"
`
			pl := policyRun(t, l, pol)
			if len(pl.Problems) > 0 {
				t.Fatalf("problems: %v", pl.Problems)
			}
			pf := observe(t, l)
			r := eswitch.New(pf, nil).Trace(eswitch.Frame{From: "vf:3", Dst: "02:00:00:00:00:aa"})
			if !r.Reached("vf:1") || !r.Reached("vf:2") || len(r.Receivers) != 2 {
				t.Fatalf("after apply: %+v", r)
			}
			if again := policyRun(t, l, pol); len(again.Ops) != 0 {
				t.Fatalf("second plan not empty: %v", again.Ops)
			}
		})
	}
}

func TestPolicyMirrorProblems(t *testing.T) {
	l := newLabNICs(t, lab.NIC{Name: "eth0", Profile: "igb"}, lab.NIC{Name: "eth1", Profile: "mlx5"}, lab.NIC{Name: "eth2", Profile: "ixgbe"})
	for _, c := range []struct{ name, pol, kind, want string }{
		{"mlx5 legacy", `{pfs: [{name: eth1, numVfs: 2}], mirrors: [{name: m, pf: eth1, vfs: "0-1"}]}`, plan.ProblemUnsupported, "switchdev-tc"},
		{"ixgbe", `{pfs: [{name: eth2, numVfs: 2}], mirrors: [{name: m, pf: eth2, vfs: "0-1"}]}`, plan.ProblemUnsupported, "hardware-defined"},
		{"no such PF", `{pfs: [], mirrors: [{name: m, pf: eth9, vfs: "0-1"}]}`, plan.ProblemInvalid, "no such PF"},
		{"no such VF", `{pfs: [{name: eth0, numVfs: 2}], mirrors: [{name: m, pf: eth0, vfs: "1-2"}]}`, plan.ProblemInvalid, "VF 2 does not exist"},
		{"VLAN split", `{pfs: [{name: eth0, numVfs: 2, vfs: [{ids: "0", vlan: 100}]}], mirrors: [{name: m, pf: eth0, vfs: "0-1"}]}`, plan.ProblemInvalid, "share a port VLAN"},
		{"MAC conflict", `{pfs: [{name: eth0, numVfs: 2, vfs: [{ids: "0", mac: "02:00:00:00:00:01"}]}], mirrors: [{name: m, pf: eth0, vfs: "0-1", mac: "02:00:00:00:00:02"}]}`, plan.ProblemInvalid, "conflicts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := l.MutatingOps()
			pl := policyRun(t, l, c.pol)
			found := false
			for _, p := range pl.Problems {
				if p.Kind == c.kind && strings.Contains(p.String(), c.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("problems %v: want a %s problem mentioning %q", pl.Problems, c.kind, c.want)
			}
			if after, _ := l.MutatingOps(); after != before {
				t.Fatal("a plan with problems was applied")
			}
		})
	}
}

func TestPolicyMirrorSwitchdev(t *testing.T) {
	l := newLabNICs(t, lab.NIC{Name: "eth0", Profile: "mlx5"})
	if err := l.SetEswitchMode(context.Background(), "eth0", "switchdev"); err != nil {
		t.Fatal(err)
	}
	pol := `
pfs:
  - name: eth0
    numVfs: 3
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:10"
mirrors:
  - name: tap
    pf: eth0
    vfs: "0,2"
`
	pl := policyRun(t, l, pol)
	if len(pl.Problems) > 0 {
		t.Fatalf("problems: %v", pl.Problems)
	}
	pf := observe(t, l)
	if len(pf.MirrorRules) != 1 || pf.MirrorRules[0].MAC != "02:00:00:00:00:10" {
		t.Fatalf("rules %+v", pf.MirrorRules)
	}
	r := eswitch.New(pf, nil).Trace(eswitch.Frame{From: "wire", Dst: "02:00:00:00:00:10"})
	if !r.Reached("vf:0") || !r.Reached("vf:2") {
		t.Fatalf("%+v", r)
	}
	if again := policyRun(t, l, pol); len(again.Ops) != 0 {
		t.Fatalf("second plan not empty: %v", again.Ops)
	}
	changed := strings.Replace(pol, `vfs: "0,2"`, `vfs: "0-2"`, 1)
	if pl := policyRun(t, l, changed); len(pl.Ops) != 2 {
		t.Fatalf("changing the members: %d ops, want delete + add", len(pl.Ops))
	}
	if pf := observe(t, l); len(pf.MirrorRules) != 1 || len(pf.MirrorRules[0].VFs) != 3 {
		t.Fatalf("rules %+v", pf.MirrorRules)
	}
}

// TestSharedMACNote: VFs a plan leaves sharing a MAC outside any mirror group get a note naming them, in
// the words of what their NIC does with a shared MAC; a mirror group's members do not, and NICs that
// refuse a shared MAC get the planner's problem instead.
func TestSharedMACNote(t *testing.T) {
	dup := `
pfs:
  - name: eth0
    numVfs: 4
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:01"
      - ids: "2"
        mac: "02:00:00:00:00:01"
`
	grouped := `
pfs:
  - name: eth0
    numVfs: 4
mirrors:
  - name: tap
    pf: eth0
    vfs: "0,2"
    mac: "02:00:00:00:00:01"
`
	for _, tc := range []struct {
		name, profile, policy string
		note                  string // "" = no shared-MAC note
		problem               bool
	}{
		{"all-receive", "igb", dup, "eth0: VFs 0,2 share MAC 02:00:00:00:00:01 outside any mirror group: igb delivers frames to it to each of them", false},
		{"hardware-defined", "i40e", dup, "eth0: VFs 0,2 share MAC 02:00:00:00:00:01 outside any mirror group: i40e accepts that, but which of them receives its frames is hardware-defined", false},
		{"mirror group", "igb", grouped, "", false},
		{"refused", "mlx5", dup, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLabNICs(t, lab.NIC{Name: "eth0", Profile: tc.profile})
			pl := policyRun(t, l, tc.policy)
			if (len(pl.Problems) > 0) != tc.problem {
				t.Fatalf("problems %v, want some: %v", pl.Problems, tc.problem)
			}
			var shared []string
			for _, n := range pl.Notes {
				if strings.Contains(n, "outside any mirror group") {
					shared = append(shared, n)
				}
			}
			switch {
			case tc.note == "" && len(shared) > 0:
				t.Fatalf("unexpected note: %q", shared)
			case tc.note != "" && (len(shared) != 1 || !strings.HasPrefix(shared[0], tc.note)):
				t.Fatalf("notes %q, want one starting %q", pl.Notes, tc.note)
			}
		})
	}
}
