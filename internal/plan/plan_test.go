package plan_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// newHost makes a lab with igb (7 VFs), ice (8) and mlx5 (4) PFs; setup writes its starting state.
func newHost(t *testing.T, setup func(l *lab.Lab)) (*lab.Lab, *sriov.Host) {
	t.Helper()
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), []lab.NIC{
		{Name: "igb0", Profile: "igb"}, {Name: "ice0", Profile: "ice", TotalVFs: 8}, {Name: "mlx0", Profile: "mlx5", TotalVFs: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(l)
	}
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, y string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("p.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func describe(p *plan.Plan) []string {
	var out []string
	for _, o := range p.Ops {
		out = append(out, o.Describe())
	}
	return out
}

func TestBuild(t *testing.T) {
	ctx := context.Background()
	fourConfigured := func(l *lab.Lab) {
		must(t, l.SetNumVFs(ctx, "igb0", 4))
		must(t, l.SetVFVLAN(ctx, "igb0", 1, 100, 3, sriov.VLANProto8021Q))
		must(t, l.SetVFTrust(ctx, "igb0", 3, true))
		must(t, l.BindVF(ctx, "igb0", 2, "vfio-pci"))
	}
	cases := []struct {
		name     string
		setup    func(l *lab.Lab)
		policy   string
		want     []string // op descriptions, in order
		summary  string
		problems []string // substrings, one per problem
		check    func(t *testing.T, p *plan.Plan)
	}{
		{
			name:    "create and configure",
			policy:  "pfs:\n  - name: ice0\n    numVfs: 2\n    vfs:\n      - ids: \"1\"\n        vlan: 10\n        driver: vfio-pci\n",
			want:    []string{"ice0: numvfs 0 -> 2", "ice0 vf 1: driver iavf -> vfio-pci", "ice0 vf 1: vlan 0 (flat) -> 10"},
			summary: "3 changes (0 disruptive)",
		},
		{
			name:    "matches: no changes",
			setup:   fourConfigured,
			policy:  "pfs:\n  - name: igb0\n    numVfs: 4\n    vfs:\n      - ids: \"1\"\n        vlan: 100\n        qos: 3\n      - ids: \"2\"\n        driver: vfio-pci\n",
			summary: "no changes",
		},
		{
			name:    "unnamed attributes and PFs are left alone",
			setup:   fourConfigured,
			policy:  "pfs:\n  - name: igb0\n    vfs:\n      - ids: \"1,3\"\n        spoofchk: false\n",
			want:    []string{"igb0 vf 1: spoofchk on -> off", "igb0 vf 3: spoofchk on -> off"},
			summary: "2 changes (0 disruptive)",
		},
		{
			name:    "resize keeps survivors' settings unless the policy says otherwise",
			setup:   fourConfigured,
			policy:  "pfs:\n  - name: igb0\n    numVfs: 3\n    vfs:\n      - ids: \"1\"\n        vlan: 200\n",
			want:    []string{"igb0: numvfs 4 -> 0", "igb0: numvfs 0 -> 3", "igb0 vf 1: vlan 0 (flat) -> 200", "igb0 vf 2: driver igbvf -> vfio-pci"},
			summary: "4 changes (1 disruptive)",
			check: func(t *testing.T, p *plan.Plan) {
				o := p.Ops[0]
				if !o.Disruptive || len(o.PriorVFs) != 4 || !strings.Contains(o.Reason, "destroys VFs 0-3 (configured: 1,3)") {
					t.Errorf("resize op = %+v", o)
				}
				if len(p.Resizes) != 1 || policy.FormatIDs(p.Resizes[0].Restored) != "0-2" || policy.FormatIDs(p.Resizes[0].Removed) != "3" {
					t.Errorf("resizes = %+v", p.Resizes)
				}
				if p.Ops[3].Reason != "restore the VF's setting from before the resize" {
					t.Errorf("restore reason = %q", p.Ops[3].Reason)
				}
			},
		},
		{
			name:    "remove every VF",
			setup:   fourConfigured,
			policy:  "pfs:\n  - name: igb0\n    numVfs: 0\n",
			want:    []string{"igb0: numvfs 4 -> 0"},
			summary: "1 change (1 disruptive)",
		},
		{
			name:   "igb MAC on a bound VF reloads igbvf",
			setup:  fourConfigured,
			policy: "pfs:\n  - name: igb0\n    vfs:\n      - ids: \"0\"\n        mac: 02:00:00:00:00:01\n      - ids: \"2\"\n        mac: 02:00:00:00:00:02\n",
			// The clear admin MAC written again before the unbind: an undo binds igbvf again last, and igb
			// would then report igbvf's own MAC as the admin MAC.
			want: []string{"igb0 vf 0: mac 00:00:00:00:00:00 (unchanged, written again)", "igb0 vf 0: driver igbvf -> (none)", "igb0 vf 0: mac 00:00:00:00:00:00 -> 02:00:00:00:00:01",
				"igb0 vf 0: driver (none) -> igbvf", "igb0 vf 2: mac 00:00:00:00:00:00 -> 02:00:00:00:00:02"},
			check: func(t *testing.T, p *plan.Plan) {
				if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "Reload the VF driver") {
					t.Errorf("notes = %q", p.Notes)
				}
			},
		},
		{
			name:   "igb driver changes keep a clear admin MAC clear",
			setup:  fourConfigured,
			policy: "pfs:\n  - name: igb0\n    vfs:\n      - ids: \"0\"\n        driver: vfio-pci\n      - ids: \"2\"\n        driver: igbvf\n",
			want: []string{"igb0 vf 0: mac 00:00:00:00:00:00 (unchanged, written again)", "igb0 vf 0: driver igbvf -> vfio-pci",
				// vf 2: a clear before the bind too, which an undo runs last after unbinding igbvf again.
				"igb0 vf 2: mac 00:00:00:00:00:00 (unchanged, written again)", "igb0 vf 2: driver vfio-pci -> igbvf", "igb0 vf 2: mac 00:00:00:00:00:00 (unchanged, written again)"},
		},
		{
			name: "mlx5 MAC swap clears first",
			setup: func(l *lab.Lab) {
				must(t, l.SetNumVFs(ctx, "mlx0", 2))
				must(t, l.SetVFMAC(ctx, "mlx0", 0, "02:00:00:00:00:0a"))
				must(t, l.SetVFMAC(ctx, "mlx0", 1, "02:00:00:00:00:0b"))
			},
			policy: "pfs:\n  - name: mlx0\n    vfs:\n      - ids: \"0\"\n        mac: 02:00:00:00:00:0b\n      - ids: \"1\"\n        mac: 02:00:00:00:00:0a\n",
			want: []string{"mlx0 vf 0: mac 02:00:00:00:00:0a -> 00:00:00:00:00:00", "mlx0 vf 1: mac 02:00:00:00:00:0b -> 00:00:00:00:00:00",
				"mlx0 vf 0: mac 00:00:00:00:00:00 -> 02:00:00:00:00:0b", "mlx0 vf 1: mac 00:00:00:00:00:00 -> 02:00:00:00:00:0a"},
		},
		{
			name:     "mlx5 duplicate MAC is refused",
			policy:   "pfs:\n  - name: mlx0\n    numVfs: 2\n    vfs:\n      - ids: \"0\"\n        mac: 02:00:00:00:00:0b\n      - ids: \"1\"\n        mac: 02:00:00:00:00:0b\n",
			problems: []string{"unsupported: line 2: mlx0 vf 1: MAC 02:00:00:00:00:0b is also wanted on VF 0"},
		},
		{
			name:     "driver refusal from the profile",
			policy:   "pfs:\n  - name: igb0\n    numVfs: 2\n    vfs:\n      - ids: \"0\"\n        linkState: enable\n",
			problems: []string{"unsupported: line 2: igb0 vf 0: set vf 0 state enable on igb0: operation not supported (igb: Operation not supported) (pfs[0].vfs[0], line 5)"},
		},
		{
			name:     "count above sriov_totalvfs",
			policy:   "pfs:\n  - name: igb0\n    numVfs: 8\n",
			problems: []string{"invalid: line 2: pfs[0].numVfs: igb0: numVfs: invalid value \"8\": allowed 0-7 (sriov_totalvfs)"},
		},
		{
			name:     "no such PF",
			policy:   "pfs:\n  - name: eth9\n",
			problems: []string{"invalid: line 2: pfs[0]: eth9: no such PF on this host; PFs: igb0, ice0, mlx0"},
		},
		{
			name:     "VF beyond the current count",
			setup:    fourConfigured,
			policy:   "pfs:\n  - name: igb0\n    vfs:\n      - ids: \"2-5\"\n        trust: true\n",
			problems: []string{"invalid: line 4: pfs[0].vfs[0].ids: igb0 vf 4: VF 4 does not exist: igb0 has 4 VFs"},
		},
		{
			name:     "named twice",
			policy:   "pfs:\n  - name: igb0\n  - pciAddress: \"{igb0}\"\n",
			problems: []string{"named twice"},
		},
		{
			name:    "PF MTU before the VFs are created",
			policy:  "pfs:\n  - name: ice0\n    numVfs: 2\n    mtu: 9000\n",
			want:    []string{"ice0: mtu 1500 -> 9000", "ice0: numvfs 0 -> 2"},
			summary: "2 changes (0 disruptive)",
			check: func(t *testing.T, p *plan.Plan) {
				if o := p.Ops[0]; o.Kind != change.KindMTU || o.VF != -1 || !strings.Contains(o.Reason, "set before VFs are created (pfs[0], line 2)") {
					t.Errorf("mtu op = %+v", o)
				}
			},
		},
		{
			name:    "PF MTU before a resize",
			setup:   fourConfigured,
			policy:  "pfs:\n  - name: igb0\n    numVfs: 2\n    mtu: 9216\n",
			want:    []string{"igb0: mtu 1500 -> 9216", "igb0: numvfs 4 -> 0", "igb0: numvfs 0 -> 2", "igb0 vf 1: vlan 0 (flat) -> 100 qos 3"},
			summary: "4 changes (1 disruptive)",
		},
		{
			name:    "PF MTU already set",
			policy:  "pfs:\n  - name: igb0\n    mtu: 1500\n",
			summary: "no changes",
		},
		{
			name:     "PF MTU above the NIC's maximum",
			policy:   "pfs:\n  - name: igb0\n    mtu: 9500\n",
			problems: []string{"invalid: line 2: pfs[0].mtu: igb0: mtu: invalid value \"9500\": allowed 68-9216 (the most igb allows)"},
		},
		{
			name:    "PF by match",
			policy:  "pfs:\n  - match: {driver: mlx5_core}\n    numVfs: 1\n    mtu: 9978\n",
			want:    []string{"mlx0: mtu 1500 -> 9978", "mlx0: numvfs 0 -> 1"},
			summary: "2 changes (0 disruptive)",
		},
		{
			name:    "PF by match with a PCI address glob",
			policy:  "pfs:\n  - match: {vendorId: \"8086\", pciAddress: \"{ice0}\"}\n    numVfs: 1\n",
			want:    []string{"ice0: numvfs 0 -> 1"},
			summary: "1 change (0 disruptive)",
		},
		{
			name:     "match selecting several PFs",
			policy:   "pfs:\n  - match: {vendorId: \"8086\"}\n    numVfs: 1\n",
			problems: []string{"invalid: line 2: pfs[0]: match{vendorId=8086} selects 2 PFs (ice0 {ice0}, igb0 {igb0}); it must select one"},
		},
		{
			name:     "match selecting no PF",
			policy:   "pfs:\n  - match: {driver: ixgbe}\n    numVfs: 1\n",
			problems: []string{"nomatch: line 2: pfs[0]: no PF on this host matches match{driver=ixgbe}; PFs: igb0, ice0, mlx0"},
		},
		{
			name:     "named by name and match",
			policy:   "pfs:\n  - name: igb0\n  - match: {driver: igb}\n",
			problems: []string{"named twice"},
		},
		{
			name:    "by PCI address",
			policy:  "pfs:\n  - pciAddress: \"{ice0}\"\n    numVfs: 1\n",
			want:    []string{"ice0: numvfs 0 -> 1"},
			summary: "1 change (0 disruptive)",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, st := newHost(t, c.setup)
			y := c.policy
			for _, pf := range st.PFs { // {name} stands for the PF's PCI address
				y = strings.ReplaceAll(y, "{"+pf.Name+"}", pf.PCIAddress)
			}
			p := plan.Build(st, parse(t, y), plan.Options{})
			if c.problems != nil {
				if len(p.Problems) != len(c.problems) {
					t.Fatalf("problems = %v, want %d", p.Problems, len(c.problems))
				}
				for i, want := range c.problems {
					for _, pf := range st.PFs {
						want = strings.ReplaceAll(want, "{"+pf.Name+"}", pf.PCIAddress)
					}
					if got := p.Problems[i].Kind + ": " + p.Problems[i].String(); !strings.Contains(got, want) {
						t.Errorf("problem %d = %q, want it to contain %q", i, got, want)
					}
				}
				return
			}
			if len(p.Problems) > 0 {
				t.Fatalf("problems: %v", p.Problems)
			}
			if got := describe(p); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if c.summary != "" && p.Summary() != c.summary {
				t.Errorf("summary = %q, want %q", p.Summary(), c.summary)
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func TestContributors(t *testing.T) {
	_, st := newHost(t, nil)
	pol := parse(t, "pfs:\n  - name: ice0\n    numVfs: 4\n    vfs:\n      - ids: \"0\"\n        mac: 02:00:00:00:00:01\n")
	var sawResize bool
	mirror := plan.Contributor{
		Name: "test-mirror",
		Desire: func(b *plan.Builder) {
			tg := b.Target("ice0", "mirrors[0]", 9)
			mac := "02:00:00:00:00:aa"
			tg.Set(1, sriov.VFSettings{MAC: &mac}, nil, "mirror m", 9)
			tg.Set(2, sriov.VFSettings{MAC: &mac}, nil, "mirror m", 9)
			// A conflicting setting is a problem.
			other := "02:00:00:00:00:02"
			tg.Set(0, sriov.VFSettings{MAC: &other}, nil, "mirror m", 9)
		},
		Check: func(b *plan.Builder) {
			sawResize = len(b.Plan.Ops) > 0 && b.Plan.Ops[0].Kind == change.KindNumVFs
			if !b.Opts.Force {
				b.Problemf(plan.ProblemRefused, "ice0", 3, "", 0, "VF 3 is assigned; --force to remove it")
			}
		},
	}
	p := plan.Build(st, pol, plan.Options{Contributors: []plan.Contributor{mirror}})
	if !sawResize {
		t.Error("Check did not see the numvfs operation")
	}
	got := strings.Join(describe(p), "\n")
	for _, want := range []string{"ice0 vf 1: mac 00:00:00:00:00:00 -> 02:00:00:00:00:aa", "ice0 vf 2: mac 00:00:00:00:00:00 -> 02:00:00:00:00:aa"} {
		if !strings.Contains(got, want) {
			t.Errorf("ops lack %q:\n%s", want, got)
		}
	}
	if len(p.Problems) != 2 || !strings.Contains(p.Problems[0].Msg, "conflicts with 02:00:00:00:00:01 from pfs[0].vfs[0], line 5") ||
		p.Problems[1].Kind != plan.ProblemRefused {
		t.Errorf("problems = %+v", p.Problems)
	}
	if p.InvalidInput() != true {
		t.Error("a conflict is an input error")
	}
}

func TestRestoreSnapshot(t *testing.T) {
	ctx := context.Background()
	l, before := newHost(t, func(l *lab.Lab) {
		must(t, l.SetNumVFs(ctx, "igb0", 3))
		must(t, l.SetVFMAC(ctx, "igb0", 0, "02:00:00:00:00:01"))
		must(t, l.BindVF(ctx, "igb0", 0, ""))
		must(t, l.BindVF(ctx, "igb0", 0, "igbvf"))
		must(t, l.BindVF(ctx, "igb0", 2, ""))
	})
	must(t, l.SetNumVFs(ctx, "igb0", 0))
	must(t, l.SetPFMTU(ctx, "igb0", 9000))
	must(t, l.SetNumVFs(ctx, "igb0", 5))
	must(t, l.SetVFVLAN(ctx, "igb0", 1, 5, 0, sriov.VLANProto8021Q))
	now, _ := l.Observe(ctx)
	p := plan.Restore(now, before.PFs[:1])
	if got := describe(p)[0]; got != "igb0: mtu 9000 -> 1500" {
		t.Errorf("first restore op %q, want the MTU back first", got)
	}
	if len(p.Problems) > 0 {
		t.Fatal(p.Problems)
	}
	if _, err := change.Run(ctx, l, p.Ops, change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	after, _ := l.Observe(ctx)
	if a, b := applytest.Normalize(after), applytest.Normalize(before); a != b {
		t.Errorf("restored:\n%s\nwant:\n%s", a, b)
	}
	if again := plan.Restore(after, before.PFs[:1]); len(again.Ops) != 0 {
		t.Errorf("second restore plans %v", describe(again))
	}
}

func TestRestoreSnapshotMirrorRules(t *testing.T) {
	ctx := context.Background()
	r1 := sriov.MirrorRule{Name: "r1", MAC: "02:00:00:00:00:aa", VFs: []int{0, 1}}
	l, before := newHost(t, func(l *lab.Lab) {
		must(t, l.SetEswitchMode(ctx, "mlx0", "switchdev"))
		must(t, l.SetNumVFs(ctx, "mlx0", 2))
		must(t, l.AddMirrorRule(ctx, "mlx0", r1))
	})
	snap := []sriov.PF{*before.FindPF("mlx0")}
	for _, crash := range []func(){
		func() { // the interrupted apply replaced r1 by r2
			must(t, l.DeleteMirrorRule(ctx, "mlx0", "r1"))
			must(t, l.AddMirrorRule(ctx, "mlx0", sriov.MirrorRule{Name: "r2", MAC: "02:00:00:00:00:bb", VFs: []int{1, 0}}))
		},
		func() { // it resized the PF, which dropped every rule
			must(t, l.SetNumVFs(ctx, "mlx0", 0))
			must(t, l.SetNumVFs(ctx, "mlx0", 3))
		},
	} {
		crash()
		now, _ := l.Observe(ctx)
		p := plan.Restore(now, snap)
		if _, err := change.Run(ctx, l, p.Ops, change.Hooks{}); err != nil {
			t.Fatal(err)
		}
		after, _ := l.Observe(ctx)
		if got, want := applytest.Normalize(after), applytest.Normalize(before); got != want {
			t.Fatalf("not restored:\n%s", applytest.Diff(got, want))
		}
	}
}

// TestSetOnPFWithoutVFsNamesTheFix: a contributor asking for a VF of a PF with no VFs gets a problem that
// says what to do, not "allowed 0--1".
func TestSetOnPFWithoutVFsNamesTheFix(t *testing.T) {
	_, st := newHost(t, nil)
	c := plan.Contributor{Name: "test", Desire: func(b *plan.Builder) {
		mac := "02:00:00:00:00:aa"
		b.Target("ice0", "mirrors[0]", 3).Set(0, sriov.VFSettings{MAC: &mac}, nil, "mirror m", 3)
	}}
	p := plan.Build(st, parse(t, "pfs: []\n"), plan.Options{Contributors: []plan.Contributor{c}})
	if len(p.Problems) != 1 || strings.Contains(p.Problems[0].Msg, "0--1") || !strings.Contains(p.Problems[0].Msg, "numVfs") {
		t.Fatalf("problems = %+v", p.Problems)
	}
}
