package apply_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

const testPolicy = `pfs:
  - name: igb0
    numVfs: 3
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:10"
        vlan: 100
        qos: 2
      - ids: "1"
        spoofchk: false
        trust: true
      - ids: "2"
        trust: true
        driver: vfio-pci
  - name: mlx0
    numVfs: 2
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:21"
      - ids: "1"
        mac: "02:00:00:00:00:20"
        maxTxRateMbps: 1000
`

type env struct {
	t     *testing.T
	ctx   context.Context
	lab   *lab.Lab
	state string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	l, err := lab.Init(filepath.Join(dir, "lab"), []lab.NIC{{Name: "igb0", Profile: "igb"}, {Name: "mlx0", Profile: "mlx5", TotalVFs: 4}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), lab: l, state: filepath.Join(dir, "state")}
	// A starting state worth restoring: a resize and a MAC swap on mlx5.
	for _, step := range []error{
		l.SetNumVFs(e.ctx, "igb0", 2), l.SetVFVLAN(e.ctx, "igb0", 1, 7, 0, sriov.VLANProto8021Q),
		l.SetNumVFs(e.ctx, "mlx0", 2), l.SetVFMAC(e.ctx, "mlx0", 0, "02:00:00:00:00:20"), l.SetVFMAC(e.ctx, "mlx0", 1, "02:00:00:00:00:21"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	if err := os.MkdirAll(e.state, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) observe() *sriov.Host {
	st, err := e.lab.Observe(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) plan(y string) (*sriov.Host, *plan.Plan) {
	pol, err := policy.Parse("p.yaml", []byte(y))
	if err != nil {
		e.t.Fatal(err)
	}
	st := e.observe()
	p := plan.Build(st, pol, plan.Options{})
	if len(p.Problems) > 0 {
		e.t.Fatal(p.Problems)
	}
	return st, p
}

func (e *env) writes() uint64 {
	n, err := e.lab.MutatingOps()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestApplyThenNothingToDo(t *testing.T) {
	e := newEnv(t)
	st, p := e.plan(testPolicy)
	res, err := apply.Run(e.ctx, e.lab, st, p, []byte(testPolicy), e.state, "apply")
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != len(p.Ops) || res.Writes == 0 {
		t.Fatalf("writes = %d, plan has %d ops", res.Writes, len(p.Ops))
	}
	st, again := e.plan(testPolicy)
	if len(again.Ops) != 0 {
		t.Fatalf("second plan: %s", again.Summary())
	}
	before := e.writes()
	if res, err := apply.Run(e.ctx, e.lab, st, again, []byte(testPolicy), e.state, "apply"); err != nil || res.Writes != 0 {
		t.Fatalf("second apply: %d writes, %v", res.Writes, err)
	}
	if e.writes() != before {
		t.Fatalf("second apply wrote to the host: %d -> %d", before, e.writes())
	}
	d, err := apply.LoadDesired(e.state)
	if err != nil || d == nil || string(d.Policy) != testPolicy {
		t.Fatalf("desired = %+v, %v", d, err)
	}
	if p, _ := apply.LoadJournal(e.state); p != nil {
		t.Fatalf("journal left behind: %+v", p)
	}
	// The igb VF netdev took its MAC (the plan reloads igbvf).
	if vf := e.observe().FindPF("igb0").VF(0); vf.NetdevMAC != "02:00:00:00:00:10" {
		t.Errorf("igb vf 0 netdev MAC = %s", vf.NetdevMAC)
	}
}

func TestFailureAtEveryOperationRestoresTheHost(t *testing.T) {
	e := newEnv(t)
	want := applytest.Normalize(e.observe())
	_, p := e.plan(testPolicy)
	for k := 1; k <= len(p.Ops); k++ {
		if err := e.lab.SetFault(lab.FaultConfig{FailAt: k}); err != nil {
			t.Fatal(err)
		}
		st, p := e.plan(testPolicy)
		_, err := apply.Run(e.ctx, e.lab, st, p, []byte(testPolicy), e.state, "apply")
		var fe *change.FailedError
		if !errors.As(err, &fe) || len(fe.Unrestored) > 0 {
			t.Fatalf("fault at %d: err = %v", k, err)
		}
		if got := applytest.Normalize(e.observe()); got != want {
			t.Fatalf("fault at op %d (%s): host not restored:\n%s\nwant:\n%s", k, fe.Op.Describe(), got, want)
		}
		if j, _ := apply.LoadJournal(e.state); j != nil {
			t.Fatalf("fault at %d: journal left after a full rollback", k)
		}
	}
	if d, _ := apply.LoadDesired(e.state); d != nil {
		t.Fatal("a failed apply stored desired state")
	}
}

// crash runs the first k operations of p as apply would and stops as a kill -9 would: journal kept.
func crash(t *testing.T, e *env, st *sriov.Host, p *plan.Plan, k int, commit bool) {
	t.Helper()
	hdr := apply.Header{What: "apply", Policy: []byte(testPolicy), Ops: p.Ops, Snapshot: apply.SnapshotFor(st, p.Ops)}
	j, err := apply.Begin(e.state, hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := 0; i < k; i++ {
		if err := j.Next(i); err != nil {
			t.Fatal(err)
		}
		if err := change.Execute(e.ctx, e.lab, p.Ops[i]); err != nil {
			t.Fatal(err)
		}
	}
	if commit {
		if err := j.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecoverUndoesAnInterruptedApply(t *testing.T) {
	e := newEnv(t)
	want := applytest.Normalize(e.observe())
	_, p := e.plan(testPolicy)
	for _, k := range []int{0, 1, 2, len(p.Ops) / 2, len(p.Ops)} {
		st, p := e.plan(testPolicy)
		crash(t, e, st, p, k, false)
		rec, err := apply.Recover(e.ctx, e.lab, e.state)
		if err != nil || rec == nil || rec.Action != "undone" {
			t.Fatalf("crash after %d ops: recover = %+v, %v", k, rec, err)
		}
		if got := applytest.Normalize(e.observe()); got != want {
			t.Fatalf("crash after %d ops: host not restored:\n%s\nwant:\n%s", k, got, want)
		}
		if rec, err := apply.Recover(e.ctx, e.lab, e.state); rec != nil || err != nil {
			t.Fatalf("second recover = %+v, %v", rec, err)
		}
	}
}

// vfOnly changes VF 1 of igb0 (two writes) and not its VF count.
const vfOnly = `pfs:
  - name: igb0
    numVfs: 2
    vfs:
      - ids: "1"
        vlan: 9
        trust: true
`

// A plan that changes some VFs of a PF and not its VF count journals only those VFs; recovery still
// brings the whole host back.
func TestRecoverUndoesAnInterruptedVFChange(t *testing.T) {
	e := newEnv(t)
	want := applytest.Normalize(e.observe())
	for k := 0; ; k++ {
		st, p := e.plan(vfOnly)
		if k > len(p.Ops) {
			break
		}
		snap := apply.SnapshotFor(st, p.Ops)
		if len(snap) != 1 || len(snap[0].VFs) != 1 || snap[0].VFs[0].ID != 1 || snap[0].NumVFs != 2 {
			t.Fatalf("snapshot of %s: %+v", p.Summary(), snap)
		}
		crash(t, e, st, p, k, false)
		if rec, err := apply.Recover(e.ctx, e.lab, e.state); err != nil || rec == nil || rec.Action != "undone" {
			t.Fatalf("crash after %d ops: recover = %+v, %v", k, rec, err)
		}
		if got := applytest.Normalize(e.observe()); got != want {
			t.Fatalf("crash after %d ops: host not restored:\n%s\nwant:\n%s", k, got, want)
		}
	}
}

func TestSnapshotForKeepsTouchedVFsOrTheWholePF(t *testing.T) {
	pf := sriov.PF{Name: "p0", PCIAddress: "0000:01:00.0", NumVFs: 3, MTU: 1500,
		VFs: []sriov.VF{{ID: 0}, {ID: 1}, {ID: 2}}}
	other := sriov.PF{Name: "p1", PCIAddress: "0000:02:00.0", NumVFs: 1, VFs: []sriov.VF{{ID: 0}}}
	st := &sriov.Host{PFs: []sriov.PF{pf, other}}
	for _, tc := range []struct {
		name string
		ops  []change.Op
		want map[string][]int // PF name: the VF ids kept
	}{
		{"one VF", []change.Op{{Kind: change.KindMAC, PF: "p0", VF: 2}}, map[string][]int{"p0": {2}}},
		{"two VFs, two writes each", []change.Op{{Kind: change.KindMAC, PF: "p0", VF: 2}, {Kind: change.KindTrust, PF: "p0", VF: 0},
			{Kind: change.KindVLAN, PF: "p0", VF: 2}}, map[string][]int{"p0": {0, 2}}},
		{"MTU only", []change.Op{{Kind: change.KindMTU, PF: "p0", VF: -1}}, map[string][]int{"p0": {}}},
		{"resize keeps every VF", []change.Op{{Kind: change.KindNumVFs, PF: "p0", VF: -1}, {Kind: change.KindMAC, PF: "p0", VF: 1}},
			map[string][]int{"p0": {0, 1, 2}}},
		{"eswitch mode keeps every VF", []change.Op{{Kind: change.KindEswitchMode, PF: "p0", VF: -1}}, map[string][]int{"p0": {0, 1, 2}}},
		{"two PFs", []change.Op{{Kind: change.KindMAC, PF: "p0", VF: 1}, {Kind: change.KindNumVFs, PF: "p1", VF: -1}},
			map[string][]int{"p0": {1}, "p1": {0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]int{}
			for _, p := range apply.SnapshotFor(st, tc.ops) {
				ids := []int{}
				for _, v := range p.VFs {
					ids = append(ids, v.ID)
				}
				got[p.Name] = ids
				if p.NumVFs != st.FindPF(p.Name).NumVFs || p.MTU != st.FindPF(p.Name).MTU {
					t.Errorf("%s: PF settings not kept: %+v", p.Name, p)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecoverFinishesACommittedApply(t *testing.T) {
	e := newEnv(t)
	st, p := e.plan(testPolicy)
	crash(t, e, st, p, len(p.Ops), true)
	rec, err := apply.Recover(e.ctx, e.lab, e.state)
	if err != nil || rec.Action != "finished" {
		t.Fatalf("recover = %+v, %v", rec, err)
	}
	if d, _ := apply.LoadDesired(e.state); d == nil || string(d.Policy) != testPolicy {
		t.Fatal("desired state not stored")
	}
	if _, p := e.plan(testPolicy); len(p.Ops) != 0 {
		t.Fatalf("host not at the policy: %s", p.Summary())
	}
}

func TestTornJournalLine(t *testing.T) {
	e := newEnv(t)
	st, p := e.plan(testPolicy)
	crash(t, e, st, p, 2, false)
	f, err := os.OpenFile(filepath.Join(e.state, apply.JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"next":`)
	f.Close()
	pend, err := apply.LoadJournal(e.state)
	if err != nil || pend.Next != 1 || pend.Committed {
		t.Fatalf("pending = %+v, %v", pend, err)
	}
}

func TestLockNoWait(t *testing.T) {
	dir := t.TempDir()
	l, err := apply.Acquire(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Acquire(dir, true); !errors.Is(err, apply.ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	l.Release()
	l2, err := apply.Acquire(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	l2.Release()
}

// TestLockWaitEndsWithContext: a command waiting for the lock stops when its context ends (Ctrl-C)
// instead of blocking until the holder is done, and leaves the lock usable.
func TestLockWaitEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	l, err := apply.Acquire(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		l2, err := apply.AcquireContext(ctx, dir, false)
		if err == nil {
			l2.Release()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("wait ended with %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the wait for the lock ignored the cancelled context")
	}
	l.Release()
	// The abandoned wait takes the lock once it is free and drops it at once.
	deadline := time.Now().Add(2 * time.Second)
	for {
		l3, err := apply.Acquire(dir, true)
		if err == nil {
			l3.Release()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock after a cancelled wait: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// renamedHost is a host whose PF igb0 was renamed igb9 (udev at boot) after the plan was made: the old
// name no longer resolves.
type renamedHost struct{ *lab.Lab }

func (h renamedHost) check(pf string) error {
	if pf == "igb0" {
		return fmt.Errorf("no PF igb0: %w", host.ErrNotFound)
	}
	return nil
}

func (h renamedHost) SetNumVFs(ctx context.Context, pf string, n int) error {
	if err := h.check(pf); err != nil {
		return err
	}
	return h.Lab.SetNumVFs(ctx, pf, n)
}

func (h renamedHost) SetVFMAC(ctx context.Context, pf string, vf int, mac string) error {
	if err := h.check(pf); err != nil {
		return err
	}
	return h.Lab.SetVFMAC(ctx, pf, vf, mac)
}

func (h renamedHost) SetVFVLAN(ctx context.Context, pf string, vf int, vlan, qos int, proto sriov.VLANProto) error {
	if err := h.check(pf); err != nil {
		return err
	}
	return h.Lab.SetVFVLAN(ctx, pf, vf, vlan, qos, proto)
}

func (h renamedHost) BindVF(ctx context.Context, pf string, vf int, driver string) error {
	if err := h.check(pf); err != nil {
		return err
	}
	return h.Lab.BindVF(ctx, pf, vf, driver)
}

// TestOpsNamePFsByPCIAddress: a PF renamed between plan and write is still written, because execution
// names PFs by the PCI address observed at planning time (before, every write failed with "no PF").
func TestOpsNamePFsByPCIAddress(t *testing.T) {
	e := newEnv(t)
	st, p := e.plan("pfs: [{name: igb0, vfs: [{ids: \"1\", vlan: 9, mac: \"02:00:00:00:00:33\"}]}]\n")
	if len(p.Ops) == 0 {
		t.Fatal("nothing planned")
	}
	if _, err := apply.Exec(e.ctx, renamedHost{e.lab}, st, p.Ops, nil, e.state, "apply"); err != nil {
		t.Fatal(err)
	}
	v := e.observe().FindPF("igb0").VF(1)
	if v.VLAN != 9 || v.MAC != "02:00:00:00:00:33" {
		t.Fatalf("vf 1 = %+v", v.VFConfig)
	}
}

// undoIgnoringHost is a lab whose second VLAN write (the undo of the first) reports success without
// writing: an undo that does not take, as a driver that acknowledges and drops a write would.
type undoIgnoringHost struct {
	*lab.Lab
	vlanWrites int
}

func (h *undoIgnoringHost) SetVFVLAN(ctx context.Context, pf string, vf, vlan, qos int, proto sriov.VLANProto) error {
	if h.vlanWrites++; h.vlanWrites == 2 {
		return nil
	}
	return h.Lab.SetVFVLAN(ctx, pf, vf, vlan, qos, proto)
}

// ExecRecorded runs without a journal and rolls back like Exec: a failure whose undo restored the host
// is a plain failure, and one whose undo did not take is a rollback failure naming what is left and
// what repairs it, so that the caller keeps its record.
func TestExecRecorded(t *testing.T) {
	const keptBy = "the ledger keeps it"
	e := newEnv(t)
	want := applytest.Normalize(e.observe())
	for k := 1; k <= 2; k++ {
		if err := e.lab.SetFault(lab.FaultConfig{FailAt: k}); err != nil {
			t.Fatal(err)
		}
		st, p := e.plan(vfOnly)
		_, err := apply.ExecRecorded(e.ctx, e.lab, st, p.Ops, keptBy)
		if err == nil || change.IsRollbackFailure(err) || strings.Contains(err.Error(), keptBy) {
			t.Fatalf("fault at %d: err = %v, want a failure whose undo restored the host", k, err)
		}
		if got := applytest.Normalize(e.observe()); got != want {
			t.Fatalf("fault at %d: host not restored:\n%s\nwant:\n%s", k, got, want)
		}
	}
	if err := e.lab.SetFault(lab.FaultConfig{FailAt: 2}); err != nil {
		t.Fatal(err)
	}
	st, p := e.plan(vfOnly)
	_, err := apply.ExecRecorded(e.ctx, &undoIgnoringHost{Lab: e.lab}, st, p.Ops, keptBy)
	if !change.IsRollbackFailure(err) || !strings.Contains(err.Error(), keptBy) || !strings.Contains(err.Error(), "vlan") {
		t.Fatalf("undo that did not take: err = %v", err)
	}
	if _, err := apply.ExecRecorded(e.ctx, e.lab, st, nil, keptBy); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.state, apply.JournalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ExecRecorded wrote a journal: %v", err)
	}
	if _, p := e.plan(vfOnly); len(p.Ops) != 0 {
		if err := e.lab.SetFault(lab.FaultConfig{}); err != nil {
			t.Fatal(err)
		}
		st, p := e.plan(vfOnly)
		if _, err := apply.ExecRecorded(e.ctx, e.lab, st, p.Ops, keptBy); err != nil {
			t.Fatalf("a run without faults: %v", err)
		}
	}
	if _, p := e.plan(vfOnly); len(p.Ops) != 0 {
		t.Fatalf("host not at the policy after a clean run: %s", p.Summary())
	}
}
