package apply_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"pgregory.net/rapid"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestMain runs 100 cases per property by default (rapid's own default; the lab store makes a case cheap);
// -rapid.checks=N on the command line still wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		flag.Set("rapid.checks", "100")
	}
	code := m.Run()
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

var profiles = []string{"igb", "ice", "mlx5", "ixgbe", "i40e"}

// propLab is a random lab host with a random starting state, in a directory removed at the end.
type propLab struct {
	*lab.Lab
	state string
}

func genLab(t *rapid.T) *propLab {
	dir, err := os.MkdirTemp("", "sriovctl-prop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var nics []lab.NIC
	for i := range rapid.IntRange(1, 3).Draw(t, "pfs") {
		nics = append(nics, lab.NIC{Name: fmt.Sprintf("pf%d", i), Profile: rapid.SampledFrom(profiles).Draw(t, "profile"),
			TotalVFs: rapid.IntRange(2, 6).Draw(t, "totalvfs")})
	}
	l, err := lab.Init(filepath.Join(dir, "lab"), nics)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range nics {
		prof, _ := nicprofile.ByName(n.Profile)
		numvfs := rapid.IntRange(0, n.TotalVFs).Draw(t, "numvfs")
		if err := l.SetNumVFs(ctx, n.Name, numvfs); err != nil {
			t.Fatal(err)
		}
		for id := range numvfs {
			// Any setting; the host refuses what it refuses, as on a real host.
			s := genSettings(t, prof, true, false)
			cur := sriov.DefaultVFConfig()
			for _, o := range change.Diff(n.Name, sriov.VF{ID: id, VFConfig: cur}, s.ApplyTo(cur), "setup") {
				_ = change.Execute(ctx, l, o)
			}
			switch rapid.IntRange(0, 3).Draw(t, "driver") {
			case 1:
				_ = l.BindVF(ctx, n.Name, id, "vfio-pci")
			case 2:
				_ = l.BindVF(ctx, n.Name, id, "")
			default:
				// Reload: a VF bound to its driver carries its admin MAC on its netdev, as after a boot.
				_ = l.BindVF(ctx, n.Name, id, "")
				_ = l.BindVF(ctx, n.Name, id, prof.VFDriver)
			}
		}
	}
	return &propLab{Lab: l, state: filepath.Join(dir, "state")}
}

var macs = []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03", sriov.ZeroMAC}

func maybe[V any](t *rapid.T, label string, g *rapid.Generator[V]) *V {
	if rapid.IntRange(0, 2).Draw(t, label+"?") != 0 {
		return nil
	}
	v := g.Draw(t, label)
	return &v
}

// genSettings draws a partial VF configuration; with mac, possibly a MAC; with supported, only what the
// NIC's profile accepts.
func genSettings(t *rapid.T, prof *nicprofile.Profile, mac, supported bool) (s sriov.VFSettings) {
	defer func() {
		if !supported {
			return
		}
		refused := func(a nicprofile.Attr) bool { return !prof.Supports(a) }
		if refused(nicprofile.AttrVLANProto8021AD) && s.VLANProto != nil && *s.VLANProto == sriov.VLANProto8021AD {
			s.VLANProto = nil
		}
		if refused(nicprofile.AttrLinkState) {
			s.LinkState = nil
		}
		if refused(nicprofile.AttrQueryRSS) {
			s.QueryRSS = nil
		}
		if refused(nicprofile.AttrMinTxRate) || (s.MinTxRateMbps != nil && prof.LinkSpeedMbps > 0 && *s.MinTxRateMbps > prof.LinkSpeedMbps) {
			s.MinTxRateMbps = nil
		}
		if s.MaxTxRateMbps != nil && prof.LinkSpeedMbps > 0 && *s.MaxTxRateMbps > prof.LinkSpeedMbps {
			s.MaxTxRateMbps = nil
		}
	}()
	if mac {
		s.MAC = maybe(t, "mac", rapid.SampledFrom(macs))
	}
	s.VLAN = maybe(t, "vlan", rapid.SampledFrom([]int{0, 10, 4094}))
	if s.VLAN != nil && *s.VLAN != 0 {
		s.QoS = maybe(t, "qos", rapid.IntRange(0, 7))
	}
	s.VLANProto = maybe(t, "proto", rapid.SampledFrom([]sriov.VLANProto{sriov.VLANProto8021Q, sriov.VLANProto8021AD}))
	s.SpoofCheck = maybe(t, "spoofchk", rapid.Bool())
	s.Trust = maybe(t, "trust", rapid.Bool())
	s.LinkState = maybe(t, "state", rapid.SampledFrom([]sriov.LinkState{sriov.LinkStateAuto, sriov.LinkStateEnable, sriov.LinkStateDisable}))
	s.MinTxRateMbps = maybe(t, "min", rapid.SampledFrom([]int{0, 10, 100}))
	s.MaxTxRateMbps = maybe(t, "max", rapid.SampledFrom([]int{0, 100, 1000, 20000}))
	if s.MinTxRateMbps != nil && s.MaxTxRateMbps != nil && *s.MaxTxRateMbps != 0 && *s.MinTxRateMbps > *s.MaxTxRateMbps {
		s.MinTxRateMbps = nil
	}
	s.QueryRSS = maybe(t, "rss", rapid.Bool())
	return s
}

// genPolicy draws a policy for some of st's PFs, as YAML that the parser accepts.
func genPolicy(t *rapid.T, st *sriov.Host) []byte {
	var pol policy.Policy
	for _, p := range st.PFs {
		if rapid.IntRange(0, 3).Draw(t, "skipPF") == 3 {
			continue
		}
		prof := nicprofile.ForDriver(p.Driver)
		pp := policy.PF{Name: p.Name}
		if rapid.IntRange(0, 4).Draw(t, "byaddr") == 0 {
			pp = policy.PF{PCIAddress: p.PCIAddress}
		}
		// Mostly settings the NIC supports, so that most plans apply; sometimes anything.
		supported := rapid.IntRange(0, 4).Draw(t, "anything") != 4
		n := p.NumVFs
		if rapid.IntRange(0, 2).Draw(t, "keepcount") != 0 {
			n = p.TotalVFs - rapid.IntRange(0, p.TotalVFs).Draw(t, "fewerVfs")
			pp.NumVFs = &n
		}
		// Spread some VF ids over up to three entries.
		groups := make([][]int, rapid.IntRange(1, 3).Draw(t, "groups"))
		for id := range n {
			if g := rapid.IntRange(0, len(groups)).Draw(t, "group"); g < len(groups) {
				groups[g] = append(groups[g], id)
			}
		}
		for _, ids := range groups {
			if len(ids) == 0 {
				continue
			}
			s := genSettings(t, prof, len(ids) == 1, supported)
			g := policy.VFGroup{IDs: policy.FormatIDs(ids), MAC: s.MAC, VLAN: s.VLAN, QoS: s.QoS, VLANProto: s.VLANProto,
				SpoofCheck: s.SpoofCheck, Trust: s.Trust, LinkState: s.LinkState, MinTxRateMbps: s.MinTxRateMbps,
				MaxTxRateMbps: s.MaxTxRateMbps, QueryRSS: s.QueryRSS}
			g.Driver = maybe(t, "bind", rapid.SampledFrom([]string{"vfio-pci", prof.VFDriver}))
			pp.VFs = append(pp.VFs, g)
		}
		pol.PFs = append(pol.PFs, pp)
	}
	data, err := yaml.Marshal(&pol)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// planFor parses y and plans it on l's current state.
func planFor(t *rapid.T, l *propLab, y []byte) (*sriov.Host, *plan.Plan) {
	pol, err := policy.Parse("random.yaml", y)
	if err != nil {
		t.Fatalf("generated policy rejected: %v\n%s", err, y)
	}
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st, plan.Build(st, pol, plan.Options{})
}

// applicable draws a lab and a policy whose plan has no problems (problems are checked elsewhere: here
// they only say which draws to skip).
func applicable(t *rapid.T) (*propLab, []byte, *sriov.Host, *plan.Plan) {
	l := genLab(t)
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	y := genPolicy(t, st)
	st, p := planFor(t, l, y)
	if len(p.Problems) > 0 {
		t.Skipf("plan has problems: %v", p.Problems)
	}
	return l, y, st, p
}

func TestPropApplyThenPlanIsEmpty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l, y, st, p := applicable(t)
		ctx := context.Background()
		res, err := apply.Run(ctx, l, st, p, y, l.state, "apply")
		if err != nil {
			t.Fatalf("apply failed where the plan predicted no refusal: %v\npolicy:\n%s", err, y)
		}
		if res.Writes != len(p.Ops) {
			t.Fatalf("%d writes for %d ops", res.Writes, len(p.Ops))
		}
		st, again := planFor(t, l, y)
		if len(again.Ops) != 0 || len(again.Problems) != 0 {
			t.Fatalf("plan after apply: %s %v\n%v\npolicy:\n%s", again.Summary(), again.Problems, again.Ops, y)
		}
		before, _ := l.MutatingOps()
		if res, err := apply.Run(ctx, l, st, again, y, l.state, "apply"); err != nil || res.Writes != 0 {
			t.Fatalf("second apply: %d writes, %v", res.Writes, err)
		}
		if after, _ := l.MutatingOps(); after != before {
			t.Fatalf("second apply made %d host writes", after-before)
		}
	})
}

func TestPropFaultAtEveryOperationLeavesTheHostAsBefore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l, y, _, p := applicable(t)
		ctx := context.Background()
		st0, _ := l.Observe(ctx)
		want := applytest.Normalize(st0)
		for k := 1; k <= len(p.Ops); k++ {
			if err := l.SetFault(lab.FaultConfig{FailAt: k, Errno: rapid.SampledFrom([]string{"EIO", "EBUSY", "EINVAL"}).Draw(t, "errno")}); err != nil {
				t.Fatal(err)
			}
			st, p := planFor(t, l, y)
			_, err := apply.Run(ctx, l, st, p, y, l.state, "apply")
			var fe *change.FailedError
			if !errors.As(err, &fe) || len(fe.Unrestored) > 0 {
				t.Fatalf("fault at op %d: %v", k, err)
			}
			now, _ := l.Observe(ctx)
			if got := applytest.Normalize(now); got != want {
				t.Fatalf("fault at op %d (%s): host not restored:\n%s\npolicy:\n%s", k, fe.Op.Describe(), applytest.Diff(got, want), y)
			}
			if j, _ := apply.LoadJournal(l.state); j != nil {
				t.Fatalf("fault at op %d: journal kept after a full rollback", k)
			}
		}
	})
}

func TestPropRecoverAfterCrashAtAnyPoint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l, y, st, p := applicable(t)
		ctx := context.Background()
		want := applytest.Normalize(st)
		k := rapid.IntRange(0, len(p.Ops)).Draw(t, "crashAfter")
		// Run the first k operations as apply does, then stop as a kill -9 would.
		if err := os.MkdirAll(l.state, 0o755); err != nil {
			t.Fatal(err)
		}
		hdr := apply.Header{What: "apply", Policy: y, Ops: p.Ops}
		for _, name := range p.PFs() {
			hdr.Snapshot = append(hdr.Snapshot, *st.FindPF(name))
		}
		j, err := apply.Begin(l.state, hdr)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			if err := j.Next(i); err != nil {
				t.Fatal(err)
			}
			if err := change.Execute(ctx, l, p.Ops[i]); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		}
		j.Close()
		if _, err := apply.Recover(ctx, l, l.state); err != nil {
			t.Fatalf("recover after %d of %d ops: %v", k, len(p.Ops), err)
		}
		now, _ := l.Observe(ctx)
		if got := applytest.Normalize(now); got != want {
			t.Fatalf("crash after %d of %d ops: not undone:\n%s\npolicy:\n%s", k, len(p.Ops), applytest.Diff(got, want), y)
		}
		// And the policy still applies.
		st, p2 := planFor(t, l, y)
		if _, err := apply.Run(ctx, l, st, p2, y, l.state, "apply"); err != nil {
			t.Fatal(err)
		}
		if _, p3 := planFor(t, l, y); len(p3.Ops) != 0 {
			t.Fatalf("not converged: %s", p3.Summary())
		}
	})
}
