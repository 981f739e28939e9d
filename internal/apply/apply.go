// Package apply executes a plan on a host so that the host never stays half-applied:
//
//   - Rollback: change.Run undoes the operations already done, newest first, when one fails.
//   - Crash safety: before the first write, a journal (DIR/apply.journal) records the plan's operations and
//     a snapshot of every PF they write (its settings and the VFs they touch, see SnapshotFor), fsynced;
//     before each operation a line records which one is about to run (not fsynced: it only reports how far
//     the apply got), and a commit line ends it. After a kill -9 at any point, Recover (run first by every
//     apply, restore and `sriovctl recover`) finds the journal and undoes the interrupted apply by
//     planning from the current host back to the snapshot (idempotent: a recovery interrupted in its turn
//     is simply run again), or, when the journal says every operation was done, finishes it by storing the
//     desired state. Pool commands journal through their ledger record instead (ExecRecorded).
//   - One writer: Acquire takes an flock on DIR/apply.lock for the whole command.
//   - Persistence: a successful apply stores its policy as the desired state (DIR/desired.yaml).
package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Run executes p on h with a journal in dir, then stores policyData as the desired state (when not nil).
// observed must be the host state p was planned from. The caller holds the lock.
func Run(ctx context.Context, h host.Host, observed *sriov.Host, p *plan.Plan, policyData []byte, dir, what string) (change.Result, error) {
	return Exec(ctx, h, observed, p.Ops, policyData, dir, what)
}

// Exec executes ops on h with a journal in dir (see the package comment), then stores policyData as the
// desired state (when not nil). observed must be the host state ops were planned from; the caller holds
// the lock. Every writer of sriovctl goes through it, so that a crash anywhere is undone by Recover.
//
// After a failed write and its rollback the journal is removed only once the host is known to match the
// snapshot again (observed and compared); otherwise it stays, and the error says to run `sriovctl
// recover`, which retries the undo.
func Exec(ctx context.Context, h host.Host, observed *sriov.Host, ops []change.Op, policyData []byte, dir, what string) (change.Result, error) {
	if len(ops) == 0 {
		if policyData != nil {
			if err := StoreDesired(dir, policyData); err != nil {
				return change.Result{}, fmt.Errorf("store desired state: %w", err)
			}
		}
		return change.Result{}, nil
	}
	ops = change.Addressed(observed, ops)
	hdr := Header{What: what, Policy: policyData, Ops: ops, Snapshot: SnapshotFor(observed, ops)}
	j, err := Begin(dir, hdr)
	if err != nil {
		return change.Result{}, err
	}
	res, err := change.Run(ctx, h, ops, change.Hooks{Before: func(i int, _ change.Op) error { return j.Next(i) }})
	if err != nil {
		if len(res.Unrestored) > 0 {
			j.Close()
			return res, fmt.Errorf("%w; the journal %s is kept: `sriovctl recover` retries the undo", err, filepath.Join(dir, JournalFile))
		}
		if undoLeftSomething(ctx, h, hdr.Snapshot, &res, err) {
			j.Close()
			return res, fmt.Errorf("%w; the journal %s is kept: run `sriovctl recover`", err, filepath.Join(dir, JournalFile))
		}
		if rerr := j.Remove(); rerr != nil {
			return res, fmt.Errorf("%w; removing the journal: %v", err, rerr)
		}
		return res, err
	}
	// Without a desired state to store, the commit line only decides between finishing and undoing a
	// command that had not returned; a kill leaves the line in the page cache all the same, so it is
	// fsynced only when recovery would store the policy.
	if err := j.commit(policyData != nil); err != nil {
		j.Close()
		return res, err
	}
	if policyData != nil {
		if err := StoreDesired(dir, policyData); err != nil {
			j.Close()
			return res, fmt.Errorf("store desired state: %w", err)
		}
	}
	return res, j.Remove()
}

// ExecRecorded executes ops on h with rollback as Exec does, without the journal, for a caller that has
// already made a durable record, before the first write, of how to undo them after a crash: a pool
// command's ledger record holds the VF's configuration and driver from before, and the next command's
// repair restores them. A second record (the journal, three fsyncs) would only repeat it. As in Exec, a
// failed write whose undo leaves the host different from before is a rollback failure (the error names
// what is left, and change.IsRollbackFailure holds), so that the caller keeps its record; keptBy says
// what then repairs the host. observed is the host ops were planned from; the caller holds the lock.
func ExecRecorded(ctx context.Context, h host.Host, observed *sriov.Host, ops []change.Op, keptBy string) (change.Result, error) {
	if len(ops) == 0 {
		return change.Result{}, nil
	}
	ops = change.Addressed(observed, ops)
	res, err := change.Run(ctx, h, ops, change.Hooks{})
	if err == nil {
		return res, nil
	}
	if len(res.Unrestored) == 0 && !undoLeftSomething(ctx, h, SnapshotFor(observed, ops), &res, err) {
		return res, err
	}
	return res, fmt.Errorf("%w; %s", err, keptBy)
}

// undoLeftSomething observes h after a failed run whose undo reported success and compares it with
// snapshot. When something is left (or h cannot be observed), it adds that to the unrestored writes of
// res and of err (a change.FailedError) and returns true.
func undoLeftSomething(ctx context.Context, h host.Host, snapshot []sriov.PF, res *change.Result, err error) bool {
	diff, verr := Differs(context.WithoutCancel(ctx), h, snapshot)
	if verr == nil && len(diff) == 0 {
		return false
	}
	why := "the host could not be observed after the undo"
	if verr == nil {
		why = "after the undo the host still differs from before (" + strings.Join(diff, "; ") + ")"
	}
	res.Unrestored = append(res.Unrestored, why)
	var fe *change.FailedError
	if errors.As(err, &fe) {
		fe.Unrestored = append(fe.Unrestored, why)
	}
	return true
}

// SnapshotFor returns what the journal keeps of each PF that ops write: the PF's own settings, and the
// VFs the operations touch. A PF whose VF count or eswitch mode changes is kept whole (those replace
// every VF). Recovery restores the snapshot (plan.Restore), and a VF no operation touched has nothing
// to restore: after a kill it is as it was, after a reboot every VF is gone alike and the boot's restore
// brings back the desired state. Keeping only the touched VFs makes an assign on a 256-VF PF journal one
// VF instead of 256 (most of its time went to encoding them).
func SnapshotFor(observed *sriov.Host, ops []change.Op) []sriov.PF {
	var out []sriov.PF
	for _, name := range (&plan.Plan{Ops: ops}).PFs() {
		pf := observed.FindPF(name)
		if pf == nil {
			continue
		}
		touched, whole := map[int]bool{}, false
		for _, o := range ops {
			if o.PF != name {
				continue
			}
			switch {
			case o.Kind == change.KindNumVFs || o.Kind == change.KindEswitchMode:
				whole = true
			case o.VF >= 0:
				touched[o.VF] = true
			}
		}
		snap := *pf
		if !whole {
			snap.VFs = make([]sriov.VF, 0, len(touched))
			for _, v := range pf.VFs {
				if touched[v.ID] {
					snap.VFs = append(snap.VFs, v)
				}
			}
		}
		out = append(out, snap)
	}
	return out
}

// Differs observes h and returns what of snapshot's PFs differs on it now (the writes that would bring
// them back), empty when the host matches the snapshot.
func Differs(ctx context.Context, h host.Host, snapshot []sriov.PF) ([]string, error) {
	st, err := h.Observe(ctx)
	if err != nil {
		return nil, err
	}
	undo := plan.Restore(st, snapshot)
	var out []string
	for _, p := range undo.Problems {
		out = append(out, p.String())
	}
	for _, o := range undo.Ops {
		// A reload or netdev address write only brings a VF netdev to the admin MAC: not a setting.
		if o.Kind != change.KindNetdevMAC && !strings.HasPrefix(o.Reason, "reload ") {
			out = append(out, o.Describe())
		}
	}
	return out, nil
}

// Recovery reports what Recover did about an interrupted apply.
type Recovery struct {
	What    string `json:"what"`
	PID     int    `json:"pid"`
	Started string `json:"started"`
	Ops     int    `json:"ops"`
	// Next is the operation that was running when the apply stopped (-1: none had started).
	Next int `json:"next"`
	// Action is "finished" (every operation was done) or "undone" (the host is back as it was).
	Action string `json:"action"`
	Writes int    `json:"writes"`
	// Undo is the plan that brought the host back.
	Undo *plan.Plan `json:"undo,omitempty"`
}

// Recover finishes or undoes an apply interrupted by a crash; nil when there was none. The caller holds
// the lock.
func Recover(ctx context.Context, h host.Host, dir string) (*Recovery, error) {
	pend, err := LoadJournal(dir)
	if err != nil || pend == nil {
		return nil, err
	}
	rec := &Recovery{What: pend.What, PID: pend.PID, Started: pend.Started, Ops: len(pend.Ops), Next: pend.Next}
	if pend.Committed {
		rec.Action = "finished"
		if pend.Policy != nil {
			if err := StoreDesired(dir, pend.Policy); err != nil {
				return rec, fmt.Errorf("store desired state: %w", err)
			}
		}
		return rec, RemoveJournal(dir)
	}
	rec.Action = "undone"
	st, err := h.Observe(ctx)
	if err != nil {
		return rec, fmt.Errorf("observe host: %w", err)
	}
	undo := plan.Restore(st, pend.Snapshot)
	rec.Undo = undo
	if len(undo.Problems) > 0 {
		return rec, fmt.Errorf("cannot undo the interrupted %s: %s", pend.What, undo.Problems[0])
	}
	res, err := change.Run(ctx, h, undo.Ops, change.Hooks{})
	rec.Writes = res.Writes
	if err != nil {
		return rec, fmt.Errorf("undo of the interrupted %s: %w; the journal is kept, run `sriovctl recover` again", pend.What, err)
	}
	return rec, RemoveJournal(dir)
}
