package change_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// reloadOps is opsFor (attribute writes to VFs 0 and 2, then a resize through 0) with VF 0 and VF 2 each taken off their driver before their attribute writes and
// given it back after, as plans do for igb's MACs: binds of two VFs that can run together.
func reloadOps(p *sriov.PF) []change.Op {
	ops := opsFor(p)
	var out []change.Op
	for _, id := range []int{0, 2} {
		drv := p.VFs[id].Driver
		out = append(out, change.Op{Kind: change.KindDriver, PF: "p0", VF: id, From: change.Value{Driver: drv}, To: change.Value{}})
	}
	out = append(out, ops[:6]...)
	for _, id := range []int{0, 2} {
		drv := p.VFs[id].Driver
		out = append(out, change.Op{Kind: change.KindDriver, PF: "p0", VF: id, From: change.Value{}, To: change.Value{Driver: drv}})
	}
	return append(out, ops[6:]...)
}

// On a batching host the ops land as on any other, in fewer host writes: VF 0's four attribute groups in
// one, VF 2's two in one, each bind alone.
func TestBatchedRunApplies(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprint("concurrent ", conc), func(t *testing.T) {
			want, p := setup(t)
			ops := reloadOps(p)[:10] // without the resize, which would wipe the VFs
			if _, err := change.Run(context.Background(), want, ops, change.Hooks{}); err != nil {
				t.Fatal(err)
			}
			l, p := setup(t)
			var before []int
			res, err := change.Run(context.Background(), lab.Batched{Lab: l, Concurrent: conc}, reloadOps(p)[:10], change.Hooks{
				Before: func(i int, _ change.Op) error { before = append(before, i); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			n := len(ops)
			if res.Writes != n || res.HostWrites != 6 {
				t.Fatalf("writes %d in %d host writes, want %d in 6", res.Writes, res.HostWrites, n)
			}
			if before[len(before)-1] != n-1 {
				t.Fatalf("Before saw %v, last should be %d", before, n-1)
			}
			if got, w := vfsOf(t, l), vfsOf(t, want); got != w {
				t.Fatalf("batched run ends as\n%s\nthe op-by-op run as\n%s", got, w)
			}
		})
	}
}

// Rollback at every host operation, on a batching host: a fault refuses (or, after writing, fails to
// confirm) the Nth lab operation, which may be any group of a batch, while other VFs' binds or whole
// sequences (pipelined) are in flight; the host ends exactly as it was and the error names the op that
// failed.
func TestBatchedRollbackAtEveryOperation(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  func(*sriov.PF) []change.Op
	}{
		{"two reloads", reloadOps},
		{"three reloads pipelined", threeReloads},
		{"MAC handover in lock step", func(p *sriov.PF) []change.Op { return handover(p, "test") }},
	} {
		l0, p0 := setup(t)
		m0, _ := l0.MutatingOps()
		if _, err := change.Run(context.Background(), lab.Batched{Lab: l0, Concurrent: 4}, tc.ops(p0), change.Hooks{}); err != nil {
			t.Fatal(err)
		}
		m1, _ := l0.MutatingOps()
		n := int(m1 - m0)
		t.Logf("%s: %d lab operations", tc.name, n)
		for _, conc := range []int{1, 4} {
			for _, after := range []bool{false, true} {
				for k := 1; k <= n; k++ {
					t.Run(fmt.Sprintf("%s concurrent %d after-write %v op %d", tc.name, conc, after, k), func(t *testing.T) {
						l, p := setup(t)
						before := observe(t, l)
						if err := l.SetFault(lab.FaultConfig{FailAt: k, Errno: "EIO", AfterWrite: after}); err != nil {
							t.Fatal(err)
						}
						res, err := change.Run(context.Background(), lab.Batched{Lab: l, Concurrent: conc}, tc.ops(p), change.Hooks{})
						var fe *change.FailedError
						if !errors.As(err, &fe) || !errors.Is(err, syscall.EIO) {
							fc, _ := l.Fault()
							t.Fatalf("err %v res %+v fault %+v", err, res, fc)
						}
						if !res.RolledBack || len(res.Unrestored) != 0 {
							t.Fatalf("result %+v", res)
						}
						if wantOutcome := map[bool]host.Outcome{false: host.NotWritten, true: host.Unconfirmed}[after]; fe.Outcome != wantOutcome {
							t.Fatalf("outcome %v, want %v (%v)", fe.Outcome, wantOutcome, err)
						}
						if !strings.Contains(err.Error(), string(fe.Op.Kind)) {
							t.Fatalf("error %q does not name the failed op's kind %s", err, fe.Op.Kind)
						}
						if got := observe(t, l); got != before {
							t.Fatalf("host not restored\nbefore %s\nafter  %s", before, got)
						}
					})
				}
			}
		}
	}
}

// vfsOf renders the VFs of the lab's PF p0 (the PF's own MAC differs between labs).
func vfsOf(t *testing.T, l *lab.Lab) string {
	t.Helper()
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vfs := st.FindPF("p0").VFs
	for i := range vfs {
		vfs[i].NetdevMAC = "" // a reload without an admin MAC gives the netdev a random one
	}
	b, _ := json.Marshal(vfs)
	return string(b)
}

// meetingHost makes each bind wait, up to a bound, until want binds are in flight at once: with binds run
// one at a time none would ever meet another.
type meetingHost struct {
	lab.Batched
	want    int
	mu      sync.Mutex
	inNow   int
	met     bool
	arrived chan struct{}
}

func (m *meetingHost) BindVF(ctx context.Context, pf string, vf int, driver string) error {
	m.mu.Lock()
	m.inNow++
	if m.inNow >= m.want && !m.met {
		m.met = true
		close(m.arrived)
	}
	m.mu.Unlock()
	select {
	case <-m.arrived:
	case <-time.After(5 * time.Second):
	}
	m.mu.Lock()
	m.inNow--
	m.mu.Unlock()
	return m.Batched.BindVF(ctx, pf, vf, driver)
}

// The unbinds (and the binds) of VFs 0 and 2 run concurrently on a host that allows it.
func TestBatchedBindsRunConcurrently(t *testing.T) {
	l, p := setup(t)
	h := &meetingHost{Batched: lab.Batched{Lab: l, Concurrent: 4}, want: 2, arrived: make(chan struct{})}
	if _, err := change.Run(context.Background(), h, reloadOps(p)[:10], change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	if !h.met {
		t.Fatal("no two binds were ever in flight together")
	}
}

// threeReloads is reloadOps with VF 1 reloaded too (its MAC changed between the unbind and the bind): three
// VFs, each with its own unbind, batch and bind, none touching another's MAC, so a batching host with
// concurrent binds runs each VF's sequence on its own (pipelined).
func threeReloads(p *sriov.PF) []change.Op {
	ops := reloadOps(p)
	v1 := p.VFs[1]
	want := v1.VFConfig
	want.MAC = "02:00:00:00:00:0a"
	mid := append(change.Diff("p0", v1, want, "test"), change.Op{Kind: change.KindDriver, PF: "p0", VF: 1, From: change.Value{}, To: change.Value{Driver: v1.Driver}})
	out := []change.Op{{Kind: change.KindDriver, PF: "p0", VF: 1, From: change.Value{Driver: v1.Driver}, To: change.Value{}}}
	out = append(out, ops[:10]...)
	out = append(out, mid...)
	return append(out, ops[10:]...)
}

// handover is a MAC handed from VF 1 to VF 2, each reloaded around its write: VF 2 may take the MAC only
// after VF 1 gave it up (NICs that refuse duplicate MACs), so the VFs must advance in lock step.
func handover(p *sriov.PF, reason string) []change.Op {
	m := p.VFs[1].MAC
	var ops []change.Op
	for _, id := range []int{1, 2} {
		ops = append(ops, change.Op{Kind: change.KindDriver, PF: "p0", VF: id, From: change.Value{Driver: p.VFs[id].Driver}, To: change.Value{}})
	}
	ops = append(ops,
		change.Op{Kind: change.KindMAC, PF: "p0", VF: 1, From: change.Value{MAC: m}, To: change.Value{MAC: sriov.ZeroMAC}, Reason: reason},
		change.Op{Kind: change.KindMAC, PF: "p0", VF: 2, From: change.Value{MAC: p.VFs[2].MAC}, To: change.Value{MAC: m}})
	for _, id := range []int{1, 2} {
		ops = append(ops, change.Op{Kind: change.KindDriver, PF: "p0", VF: id, From: change.Value{}, To: change.Value{Driver: p.VFs[id].Driver}})
	}
	return ops
}

// gateHost holds VF gate's unbind until VF signal's bind starts, or until wait passes: the unbind and the
// bind meet only when the VFs run their own sequences (pipelined); in lock step no bind starts before
// every unbind of the segment returned.
type gateHost struct {
	lab.Batched
	gate, signal int
	wait         time.Duration
	once         sync.Once
	started      chan struct{}
	met          bool
}

func (g *gateHost) BindVF(ctx context.Context, pf string, vf int, driver string) error {
	switch {
	case vf == g.signal && driver != "":
		g.once.Do(func() { close(g.started) })
	case vf == g.gate && driver == "":
		select {
		case <-g.started:
			g.met = true
		case <-time.After(g.wait):
		}
	}
	return g.Batched.BindVF(ctx, pf, vf, driver)
}

// The scheduling decision: VFs whose ops are independent each run their own unbind, batch and bind as
// soon as they can (VF 0's bind starts while VF 2's unbind is still in flight); a MAC that one VF of
// the segment gives up and another takes (or a plan's "free MAC" step), or no concurrency, keeps the VFs
// in lock step. Either way the run ends as the op-by-op run does.
func TestBatchedSchedule(t *testing.T) {
	freeMAC := func(p *sriov.PF) []change.Op {
		ops := handover(p, "free MAC 02:00:00:00:00:01 for VF 2 (ice refuses duplicate MACs)")
		ops[3].To.MAC = "02:00:00:00:00:0b" // VF 2 takes another MAC: only the Reason marks the step
		return ops
	}
	for _, tc := range []struct {
		name         string
		ops          func(*sriov.PF) []change.Op
		conc         int
		gate, signal int
		pipelined    bool
	}{
		{"independent VFs", threeReloads, 4, 2, 0, true},
		{"independent VFs, fewer sequences at once than VFs", threeReloads, 2, 2, 1, true},
		{"independent VFs, no concurrency", threeReloads, 1, 2, 0, false},
		{"MAC handover", func(p *sriov.PF) []change.Op { return handover(p, "test") }, 4, 2, 1, false},
		{"free MAC step", freeMAC, 4, 2, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, p := setup(t)
			if _, err := change.Run(context.Background(), want, tc.ops(p), change.Hooks{}); err != nil {
				t.Fatal(err)
			}
			l, p := setup(t)
			// Lock step can never meet (the wait only bounds the test); pipelined meets as soon as the
			// other sequence reaches its bind.
			wait := 300 * time.Millisecond
			if tc.pipelined {
				wait = 10 * time.Second
			}
			g := &gateHost{Batched: lab.Batched{Lab: l, Concurrent: tc.conc}, gate: tc.gate, signal: tc.signal, wait: wait, started: make(chan struct{})}
			res, err := change.Run(context.Background(), g, tc.ops(p), change.Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			if g.met != tc.pipelined {
				t.Fatalf("VF %d's bind started during VF %d's unbind: %v, want %v (pipelined)", tc.signal, tc.gate, g.met, tc.pipelined)
			}
			if n := len(tc.ops(p)); res.Writes != n {
				t.Fatalf("%d writes, want %d", res.Writes, n)
			}
			if got, w := vfsOf(t, l), vfsOf(t, want); got != w {
				t.Fatalf("batched run ends as\n%s\nthe op-by-op run as\n%s", got, w)
			}
		})
	}
}
