package plan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestTrustedIGBVFTakesMACWithoutReload: on igb, a VF bound to igbvf that ends trusted gets its MAC by
// a write of its netdev's own address after the admin MAC and trust (no unbind and bind); an untrusted
// one is still reloaded. Run on the lab, the plan leaves every netdev carrying its admin MAC, a second
// plan is empty, and a failure at any operation leaves the host as it was (the netdevs written to with
// their old addresses).
func TestTrustedIGBVFTakesMACWithoutReload(t *testing.T) {
	ctx := context.Background()
	setup := func(l *lab.Lab) {
		must(t, l.SetNumVFs(ctx, "igb0", 4))
		must(t, l.SetVFTrust(ctx, "igb0", 2, true))
		must(t, l.SetVFMAC(ctx, "igb0", 2, "02:00:00:00:00:20")) // admin MAC igbvf has not taken yet
	}
	pol := parse(t, "pfs:\n  - name: igb0\n    vfs:\n"+
		"      - ids: \"0\"\n        mac: 02:00:00:00:00:01\n        trust: true\n        vlan: 10\n"+
		"      - ids: \"1\"\n        mac: 02:00:00:00:00:02\n"+
		"      - ids: \"2\"\n        mac: 02:00:00:00:00:20\n        trust: true\n")
	l, st := newHost(t, setup)
	before := st.FindPF("igb0")
	p := plan.Build(st, pol, plan.Options{})
	if len(p.Problems) > 0 {
		t.Fatal(p.Problems)
	}
	kinds := map[int][]change.Kind{}
	for _, o := range p.Ops {
		kinds[o.VF] = append(kinds[o.VF], o.Kind)
	}
	for vf, want := range map[int]string{
		0: "mac vlan trust netdevMac", // the netdev write after trust on
		1: "mac driver mac driver",    // untrusted: the reload (the clear admin MAC written again first, for an undo)
		2: "netdevMac",                // admin MAC and trust already there: the stale netdev only
	} {
		var got []string
		for _, k := range kinds[vf] {
			got = append(got, string(k))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("vf %d ops %v, want %s\nplan: %q", vf, got, want, describe(p))
		}
	}
	for _, o := range p.Ops {
		if o.Kind == change.KindNetdevMAC && (o.From.MAC != before.VF(o.VF).NetdevMAC || !strings.HasPrefix(o.Describe(), fmt.Sprintf("igb0 vf %d: netdevMac %s -> ", o.VF, o.From.MAC))) {
			t.Errorf("netdev op %q: want the observed netdev MAC %s as its prior value", o.Describe(), before.VF(o.VF).NetdevMAC)
		}
	}

	// A failure at each operation in turn: the host ends as it was, netdev MACs included.
	for fail := 1; fail <= len(p.Ops); fail++ {
		l, st := newHost(t, setup)
		want, before := applytest.Normalize(st), st.FindPF("igb0")
		must(t, l.SetFault(lab.FaultConfig{FailAt: fail}))
		if _, err := change.Run(ctx, l, plan.Build(st, pol, plan.Options{}).Ops, change.Hooks{}); err == nil || change.IsRollbackFailure(err) {
			t.Fatalf("failure at op %d: %v, want a failure rolled back", fail, err)
		}
		after, _ := l.Observe(ctx)
		if got := applytest.Normalize(after); got != want {
			t.Errorf("failure at op %d left:\n%s\nwant:\n%s", fail, got, want)
		}
		for _, v := range after.FindPF("igb0").VFs {
			// vf 1's undo rebinds igbvf, which picks a new random MAC as the real driver does.
			if b := before.VF(v.ID); v.ID != 1 && v.NetdevMAC != b.NetdevMAC {
				t.Errorf("failure at op %d: vf %d netdev MAC %s, was %s", fail, v.ID, v.NetdevMAC, b.NetdevMAC)
			}
		}
	}

	if _, err := change.Run(ctx, l, p.Ops, change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	after, _ := l.Observe(ctx)
	for _, id := range []int{0, 1, 2} {
		v := after.FindPF("igb0").VF(id)
		if v.NetdevMAC != v.MAC || v.MAC == sriov.ZeroMAC {
			t.Errorf("vf %d: admin MAC %s, netdev MAC %s: want the netdev to carry the admin MAC", id, v.MAC, v.NetdevMAC)
		}
	}
	if again := plan.Build(after, pol, plan.Options{}); len(again.Ops) != 0 {
		t.Errorf("second plan: %q", describe(again))
	}
}

// TestTrustedIGBVFCreatedTakesMACWithoutReload: VFs the same plan creates get the netdev address write
// too (their netdevs exist once the VF count is written); its undo writes nothing, since the VF count's
// undo removes the VF, and a failure at any operation leaves the host as it was.
func TestTrustedIGBVFCreatedTakesMACWithoutReload(t *testing.T) {
	ctx := context.Background()
	pol := parse(t, "pfs:\n  - name: igb0\n    numVfs: 2\n    vfs:\n"+
		"      - ids: \"0\"\n        mac: 02:00:00:00:00:01\n        trust: true\n"+
		"      - ids: \"1\"\n        mac: 02:00:00:00:00:02\n")
	_, st := newHost(t, nil)
	p := plan.Build(st, pol, plan.Options{})
	got := describe(p)
	want := []string{"igb0: numvfs 0 -> 2",
		"igb0 vf 0: mac 00:00:00:00:00:00 -> 02:00:00:00:00:01", "igb0 vf 0: trust off -> on", "igb0 vf 0: netdevMac (a new VF's) -> 02:00:00:00:00:01",
		"igb0 vf 1: driver igbvf -> (none)", "igb0 vf 1: mac 00:00:00:00:00:00 -> 02:00:00:00:00:02", "igb0 vf 1: driver (none) -> igbvf"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for fail := 1; fail <= len(p.Ops); fail++ {
		l, st := newHost(t, nil)
		must(t, l.SetFault(lab.FaultConfig{FailAt: fail}))
		if _, err := change.Run(ctx, l, plan.Build(st, pol, plan.Options{}).Ops, change.Hooks{}); err == nil || change.IsRollbackFailure(err) {
			t.Fatalf("failure at op %d: %v, want a failure rolled back", fail, err)
		}
		after, _ := l.Observe(ctx)
		if got, want := applytest.Normalize(after), applytest.Normalize(st); got != want {
			t.Errorf("failure at op %d left:\n%s\nwant:\n%s", fail, got, want)
		}
	}
	l, st := newHost(t, nil)
	if _, err := change.Run(ctx, l, plan.Build(st, pol, plan.Options{}).Ops, change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	after, _ := l.Observe(ctx)
	for _, v := range after.FindPF("igb0").VFs {
		if v.NetdevMAC != v.MAC || v.MAC == sriov.ZeroMAC {
			t.Errorf("vf %d: admin MAC %s, netdev MAC %s: want the netdev to carry the admin MAC", v.ID, v.MAC, v.NetdevMAC)
		}
	}
	if again := plan.Build(after, pol, plan.Options{}); len(again.Ops) != 0 {
		t.Errorf("second plan: %q", describe(again))
	}
}
