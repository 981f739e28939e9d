// Package service is the one layer below the command line (and the node agent) through which every
// change of the host goes. Each mutation is
//
//   - planned by pure functions (package plan, change.Diff, pool.ConvergeOps, mirror.PlanCreate...),
//   - checked against the VFs handed to owners (the ledger) and the mirror groups (their records),
//   - executed under the state directory's one-writer lock, after finishing or undoing whatever a killed
//     command left (Recover), with a write-ahead journal (apply.Exec) and rollback, so that a kill -9
//     between any two writes is undone by the next writer or `sriovctl recover`,
//   - and recorded (desired state, ledger, mirror records) so that the records end consistent with the
//     host.
//
// Read methods (Plan, Status, Assignments, PoolStatuses, Mirrors) take no exclusive lock, write nothing,
// run no recovery and report a pending one instead; they wait for the ledger at most Options.ReadWait.
//
// Methods return structured results and never print; Options.Progress receives notes (a recovery made
// first, a repair) as they happen.
package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Options tune a Service.
type Options struct {
	// NoWait makes a writer fail at once (apply.ErrLocked) when another one holds the lock.
	NoWait bool
	// ReadWait bounds how long a read waits for the ledger while a pool command holds it (default 10s).
	ReadWait time.Duration
	// Progress, when set, receives notes as they happen (what a recovery or repair did first).
	Progress func(Note)
	// Waiting, when set (and not NoWait), is told who holds the lock once, before a writer waits for it.
	Waiting func(holder string)
}

// Note kinds.
const (
	NoteRecovered = "recovered" // an interrupted command's host writes were undone or finished
	NoteRepaired  = "repaired"  // a record left by a killed command was repaired
	NoteWarning   = "warning"
)

// Note is one progress message.
type Note struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Service works on one host with the durable state in one directory.
type Service struct {
	host host.Host
	dir  string
	opts Options
}

// New returns the service for h with its state in stateDir.
func New(h host.Host, stateDir string, opts Options) *Service {
	if opts.ReadWait <= 0 {
		opts.ReadWait = 10 * time.Second
	}
	return &Service{host: h, dir: stateDir, opts: opts}
}

// Host is the backend the service writes.
func (s *Service) Host() host.Host { return s.host }

// StateDir is where the durable state lives.
func (s *Service) StateDir() string { return s.dir }

func (s *Service) note(kind, format string, args ...any) {
	if s.opts.Progress != nil {
		s.opts.Progress(Note{Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
}

// UsageError is invalid input or a request that needs a flag (exit 2); nothing was changed.
type UsageError struct {
	What string
	Msg  string
}

func (e *UsageError) Error() string { return e.What + ": " + e.Msg }

// AssignedError refuses a change to VFs handed to owners by assign (exit 1: the input is valid, the
// host's state refuses it). Every writer refuses with it; --force goes ahead.
type AssignedError struct {
	PF   string
	Held []ledger.Record
	What string // what the change does to them
	// NoForce: the command has no --force to go ahead anyway.
	NoForce bool
}

func (e *AssignedError) Error() string {
	msg := fmt.Sprintf("%s: refused: VFs of %s are handed to owners:", e.What, e.PF)
	for i, r := range e.Held {
		if i > 0 {
			msg += ","
		}
		msg += fmt.Sprintf(" vf %d assigned to %s (pool %s)", r.VF, r.Owner, r.Pool)
	}
	msg += "; release them first (sriovctl release --owner OWNER)"
	if !e.NoForce {
		msg += " or use --force"
	}
	return msg + "; nothing was changed"
}

// Recovered is what a writer finished or undid first, left by commands that were killed.
type Recovered struct {
	Apply       *apply.Recovery `json:"apply,omitempty"`
	Assignments []ledger.Record `json:"assignments,omitempty"`
	Mirrors     []mirror.Group  `json:"mirrors,omitempty"`
}

// Empty says nothing was left to recover.
func (r *Recovered) Empty() bool {
	return r == nil || r.Apply == nil && len(r.Assignments) == 0 && len(r.Mirrors) == 0
}

// session is one writer: the lock is held from begin to end.
type session struct {
	s         *Service
	lock      *apply.Lock
	recovered *Recovered
	// ledger is the ledger the recovery opened, kept open for a strict session's pool command (opening
	// it twice would validate it twice); end closes it.
	ledger *ledger.Ledger
}

// begin takes the one-writer lock and finishes or undoes what killed commands left: the journal first
// (the host back to its snapshot, or the commit finished), then the ledger's and the mirror records'
// pending entries. A repair that fails is an error when strict (pool commands need the ledger right),
// else a warning note.
func (s *Service) begin(ctx context.Context, what string, strict bool) (*session, error) {
	lock, err := apply.AcquireContext(ctx, s.dir, s.opts.NoWait || s.opts.Waiting != nil)
	if errors.Is(err, apply.ErrLocked) && !s.opts.NoWait && s.opts.Waiting != nil {
		holder, _, _ := strings.Cut(err.Error(), "; not waiting")
		s.opts.Waiting(holder)
		lock, err = apply.AcquireContext(ctx, s.dir, false)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ss := &session{s: s, lock: lock}
	rec, led, err := s.recoverLocked(ctx, strict)
	ss.recovered, ss.ledger = rec, led
	if err != nil {
		var re *repairError
		// A damaged ledger is never worked around: every writer that goes on would ignore the owners.
		if !strict && errors.As(err, &re) && !errors.Is(err, ledger.ErrDamaged) {
			s.note(NoteWarning, "%v", err)
			return ss, nil
		}
		lock.Release()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ss, nil
}

func (ss *session) end() {
	if ss.ledger != nil {
		ss.ledger.Close()
	}
	ss.lock.Release()
}

// repairError says records could not be repaired (the host writes were recovered).
type repairError struct{ err error }

func (e *repairError) Error() string { return e.err.Error() }
func (e *repairError) Unwrap() error { return e.err }

// recoverLocked does the recovery; the caller holds the lock. With keep, it returns the ledger it opened
// (if there is one) still open, unless it fails.
func (s *Service) recoverLocked(ctx context.Context, keep bool) (out *Recovered, kept *ledger.Ledger, err error) {
	out = &Recovered{}
	ar, err := apply.Recover(ctx, s.host, s.dir)
	out.Apply = ar
	if err != nil {
		return out, nil, fmt.Errorf("recover an interrupted command: %w", err)
	}
	if ar != nil {
		s.note(NoteRecovered, "%s", DescribeRecovery(ar))
	}
	var errs []error
	if exists(filepath.Join(s.dir, ledger.DBFile)) {
		l, oerr := ledger.Open(ctx, s.dir)
		if oerr != nil {
			return out, nil, &repairError{oerr}
		}
		defer func() { // err is the result
			if keep && err == nil {
				kept = l
			} else {
				l.Close()
			}
		}()
		done, rerr := s.manager(l).Repair(ctx)
		for _, r := range done {
			s.note(NoteRepaired, "finished an interrupted command: %s vf %d (pool %s, owner %s, was %s) restored and free", r.PF, r.VF, r.Pool, r.Owner, r.State)
		}
		out.Assignments = done
		if rerr != nil {
			errs = append(errs, rerr)
		}
	}
	groups, err := mirror.Repair(ctx, s.host, s.mirrorStore(), s.Runner())
	for _, g := range groups {
		s.note(NoteRepaired, "finished an interrupted mirror command: group %s (was %s) removed, its members restored", g.Name, g.State)
	}
	out.Mirrors = groups
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return out, nil, &repairError{errors.Join(errs...)}
	}
	return out, nil, nil
}

// DescribeRecovery is a one-line account of a journal recovery.
func DescribeRecovery(r *apply.Recovery) string {
	if r.Action == "finished" {
		return fmt.Sprintf("the interrupted %s (pid %d, started %s) had made every write; finished it", r.What, r.PID, r.Started)
	}
	return fmt.Sprintf("undid the interrupted %s (pid %d, started %s, stopped at operation %d of %d): %d writes",
		r.What, r.PID, r.Started, r.Next+1, r.Ops, r.Writes)
}

// Recover finishes or undoes whatever killed commands left (host writes, ledger and mirror records).
// It writes nothing when nothing is pending: no lock file, no state directory is created.
func (s *Service) Recover(ctx context.Context) (*Recovered, error) {
	pending, err := s.Pending()
	if err != nil {
		return nil, err
	}
	if !pending.Any() {
		return &Recovered{}, nil
	}
	ss, err := s.begin(ctx, "recover", true)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	return ss.recovered, nil
}

// Pending is what killed commands left, as a read sees it (nothing is done about it).
type Pending struct {
	Journal     *apply.Pending  `json:"journal,omitempty"`
	Assignments []ledger.Record `json:"assignments,omitempty"` // records not "assigned"
	Mirrors     []mirror.Group  `json:"mirrors,omitempty"`     // groups "applying" or "deleting"
}

// Any says something is pending.
func (p *Pending) Any() bool {
	return p != nil && (p.Journal != nil || len(p.Assignments) > 0 || len(p.Mirrors) > 0)
}

// Pending reports, without writing, what a writer or `sriovctl recover` would recover first.
func (s *Service) Pending() (*Pending, error) {
	return s.pending(context.Background())
}

func (s *Service) pending(ctx context.Context) (*Pending, error) {
	p := &Pending{}
	j, err := apply.LoadJournal(s.dir)
	if err != nil {
		return nil, err
	}
	p.Journal = j
	recs, err := s.ledgerRecords(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.State != ledger.StateAssigned {
			p.Assignments = append(p.Assignments, r)
		}
	}
	groups, err := s.mirrorGroups()
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.State == mirror.StateApplying || g.State == mirror.StateDeleting {
			p.Mirrors = append(p.Mirrors, g)
		}
	}
	return p, nil
}

// Runner is the journaled change.Runner every writer uses: it observes the host, journals the
// operations with a snapshot of the PFs they write, and executes them with rollback (apply.Exec). The
// caller holds the lock.
func (s *Service) Runner() change.Runner {
	return func(ctx context.Context, what string, ops []change.Op) (change.Result, error) {
		return s.runFrom(ctx, what, nil, ops)
	}
}

// runFrom is Runner given the host as the caller observed it under the lock (nil: observe it now).
func (s *Service) runFrom(ctx context.Context, what string, st *sriov.Host, ops []change.Op) (change.Result, error) {
	st, err := s.observedOr(ctx, st, ops)
	if err != nil || len(ops) == 0 {
		return change.Result{}, err
	}
	return apply.Exec(ctx, s.host, st, ops, nil, s.dir, what)
}

// runRecorded is the runner of pool commands: their ledger record, committed before the first write,
// holds the VF's prior configuration and driver, and the next command's repair restores them after a
// crash, so the writes need no journal of their own (apply.ExecRecorded). A re-apply of an assignment's
// settings is cured by asking again.
func (s *Service) runRecorded(ctx context.Context, what string, st *sriov.Host, ops []change.Op) (change.Result, error) {
	st, err := s.observedOr(ctx, st, ops)
	if err != nil || len(ops) == 0 {
		return change.Result{}, err
	}
	keptBy := "the VF stays recorded as in use until `sriovctl recover` (or the next pool command) restores it from the ledger"
	if what == pool.RunReapply {
		keptBy = "the same assign again, or `sriovctl restore`, re-applies the owner's settings"
	}
	return apply.ExecRecorded(ctx, s.host, st, ops, keptBy)
}

// observedOr returns st, or the host observed now when st is nil and there are ops to run.
func (s *Service) observedOr(ctx context.Context, st *sriov.Host, ops []change.Op) (*sriov.Host, error) {
	if st != nil || len(ops) == 0 {
		return st, nil
	}
	return s.observe(ctx)
}

func (s *Service) manager(l *ledger.Ledger) *pool.Manager {
	return &pool.Manager{Host: s.host, Ledger: l, Run: s.runRecorded}
}

func (s *Service) mirrorStore() *mirror.Store { return mirror.OpenStore(s.dir) }

// mirrorGroups lists the groups made with `mirror create`; an unreadable record file is an error.
func (s *Service) mirrorGroups() ([]mirror.Group, error) {
	groups, err := s.mirrorStore().List()
	if err != nil {
		return nil, fmt.Errorf("mirror records %s: %w", s.mirrorStore().Path(), err)
	}
	return groups, nil
}

// contributors are the pools' and mirror groups' plan contributors, from their records as they are now.
func (s *Service) contributors(ctx context.Context) ([]plan.Contributor, error) {
	recs, err := s.ledgerRecords(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := s.mirrorGroups()
	if err != nil {
		return nil, err
	}
	return []plan.Contributor{mirror.Contributor(groups), pool.Contributor(recs)}, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// observe reads the whole host.
func (s *Service) observe(ctx context.Context) (*sriov.Host, error) {
	st, err := s.host.Observe(ctx)
	if err != nil {
		return nil, fmt.Errorf("observe host: %w", err)
	}
	return st, nil
}

// assignedOn returns the ledger's records of pf's VFs (all of them when vfs is nil).
func assignedOn(recs []ledger.Record, pf *sriov.PF, vfs []int) []ledger.Record {
	var out []ledger.Record
	for _, r := range recs {
		if r.PFAddress != pf.PCIAddress {
			continue
		}
		if vfs == nil {
			out = append(out, r)
			continue
		}
		for _, id := range vfs {
			if id == r.VF {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// refuseAssigned refuses, unless force, a change to VFs of pf handed to owners.
func (s *Service) refuseAssigned(ctx context.Context, what, does string, pf *sriov.PF, vfs []int, force bool) error {
	return s.refuseAssignedHow(ctx, what, does, pf, vfs, force, false)
}

func (s *Service) refuseAssignedHow(ctx context.Context, what, does string, pf *sriov.PF, vfs []int, force, noForce bool) error {
	if force {
		return nil
	}
	recs, err := s.ledgerRecords(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if held := assignedOn(recs, pf, vfs); len(held) > 0 {
		return &AssignedError{PF: pf.Name, Held: held, What: what + " " + does, NoForce: noForce}
	}
	return nil
}
