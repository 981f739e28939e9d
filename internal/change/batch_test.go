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
// confirm) the Nth lab operation, which may be any group of a batch; the host ends exactly as it was and
// the error names the op that failed.
func TestBatchedRollbackAtEveryOperation(t *testing.T) {
	l0, p0 := setup(t)
	m0, _ := l0.MutatingOps()
	if _, err := change.Run(context.Background(), lab.Batched{Lab: l0}, reloadOps(p0), change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	m1, _ := l0.MutatingOps()
	n := int(m1 - m0)
	t.Logf("%d lab operations", n)
	for _, conc := range []int{1, 4} {
		for _, after := range []bool{false, true} {
			for k := 1; k <= n; k++ {
				t.Run(fmt.Sprintf("concurrent %d after-write %v op %d", conc, after, k), func(t *testing.T) {
					l, p := setup(t)
					before := observe(t, l)
					if err := l.SetFault(lab.FaultConfig{FailAt: k, Errno: "EIO", AfterWrite: after}); err != nil {
						t.Fatal(err)
					}
					res, err := change.Run(context.Background(), lab.Batched{Lab: l, Concurrent: conc}, reloadOps(p), change.Hooks{})
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
