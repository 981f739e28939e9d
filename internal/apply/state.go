package apply

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

// Files in the state directory.
const (
	LockFile    = "apply.lock"
	JournalFile = "apply.journal"
	DesiredFile = "desired.yaml"
	desiredMeta = "desired.json"
)

// ErrLocked says another process holds the apply lock and the caller did not want to wait.
var ErrLocked = errors.New("another sriovctl command that writes the host (apply, restore, recover, assign, release or mirror) is running")

// Lock is the one-writer lock of a state directory (flock on DIR/apply.lock). The kernel releases it when
// its holder dies, so a kill -9 never leaves it stale.
type Lock struct{ l *statefile.Lock }

// Acquire takes the lock, waiting for it unless noWait. With noWait and a holder, the error wraps
// ErrLocked and names the holder's pid.
func Acquire(dir string, noWait bool) (*Lock, error) {
	return AcquireContext(context.Background(), dir, noWait)
}

// AcquireContext is Acquire whose wait ends when ctx does (Ctrl-C). The lock file is opened without
// following links and never truncated; the holder's pid is written over its start.
func AcquireContext(ctx context.Context, dir string, noWait bool) (*Lock, error) {
	if err := statefile.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	l, err := statefile.AcquireLock(ctx, path, statefile.LockOptions{Exclusive: true, NoWait: noWait, WritePID: true})
	if errors.Is(err, statefile.ErrLocked) {
		pid := statefile.HolderPID(path)
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w (pid %s holds %s); not waiting because of --no-wait", ErrLocked, pid, path)
	}
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return &Lock{l: l}, nil
}

// Release drops the lock.
func (l *Lock) Release() {
	if l == nil || l.l == nil {
		return
	}
	l.l.Release()
	l.l = nil
}

// Header is the first record of a journal: everything needed to undo or finish the apply.
type Header struct {
	Version int    `json:"version"`
	PID     int    `json:"pid"`
	Started string `json:"started"`
	// What runs: "apply", "restore".
	What string `json:"what"`
	// Policy is the policy file being applied, stored as desired state when the apply commits.
	Policy []byte `json:"policy,omitempty"`
	// Snapshot is the observed state of every PF the operations write, taken before the first write: the
	// PF's settings and the VFs the operations touch, or every VF when they resize it (SnapshotFor).
	Snapshot []sriov.PF  `json:"snapshot"`
	Ops      []change.Op `json:"ops"`
}

// record is one line of the journal after the header.
type record struct {
	Next      *int `json:"next,omitempty"`      // operation about to run
	Committed bool `json:"committed,omitempty"` // every operation succeeded
}

// Journal is the write-ahead record of one apply in DIR/apply.journal: a header, then one line before each
// operation, then a commit line. Each line is fsynced before the host is written.
type Journal struct {
	dir string
	f   *os.File
}

// Pending is a journal left by an apply that did not finish.
type Pending struct {
	Header
	// Next is the last operation the apply started (-1: none); it may or may not have been done.
	Next      int
	Committed bool
}

const journalVersion = 1

// Begin writes the header atomically (temp file, fsync, rename, fsync of the directory) and opens the
// journal for appending.
func Begin(dir string, h Header) (*Journal, error) {
	if err := statefile.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	h.Version = journalVersion
	h.PID = os.Getpid()
	h.Started = time.Now().UTC().Format(time.RFC3339Nano)
	data, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if err := statefile.WriteAtomic(filepath.Join(dir, JournalFile), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	f, err := statefile.Open(filepath.Join(dir, JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{dir: dir, f: f}, nil
}

func (j *Journal) append(r record, sync bool) error {
	data, _ := json.Marshal(r)
	if _, err := j.f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if !sync {
		return nil
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// Next records that operation i is about to run. It is not fsynced: recovery undoes from the snapshot
// (fsynced when the journal began), whatever ran, and uses Next only to report how far the apply got. A
// killed process's record is in the page cache all the same; a power loss can lose it, and with it only
// that report (the kernel's VF state is gone after a power loss too). One fsync per write was most of
// a large apply's time.
func (j *Journal) Next(i int) error { return j.append(record{Next: &i}, false) }

// Commit records that every operation succeeded; fsynced, since recovery then finishes the apply
// (stores the desired state) instead of undoing it.
func (j *Journal) Commit() error { return j.commit(true) }

// commit writes the commit line, fsynced when sync (see Exec for when it need not be).
func (j *Journal) commit(sync bool) error { return j.append(record{Committed: true}, sync) }

// Close closes the journal file, keeping it.
func (j *Journal) Close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// Remove closes and deletes the journal: the apply is over, one way or the other.
func (j *Journal) Remove() error {
	j.Close()
	return RemoveJournal(j.dir)
}

// RemoveJournal deletes DIR/apply.journal durably.
func RemoveJournal(dir string) error {
	if err := os.Remove(filepath.Join(dir, JournalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return statefile.SyncDir(dir)
}

// LoadJournal reads a pending journal; nil when there is none. A torn last line (a crash while it was
// written) is ignored: its operation had not started. Anything else that does not parse is damage: an
// error naming the file and the way back, never "no pending apply".
func LoadJournal(dir string) (*Pending, error) {
	path := filepath.Join(dir, JournalFile)
	data, err := statefile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// Begin writes the header whole (atomic replace), so an empty or headless journal is damage.
	lines := bytes.Split(data, []byte("\n"))
	p := &Pending{Next: -1}
	if err := json.Unmarshal(lines[0], &p.Header); err != nil {
		return nil, journalDamaged(path, fmt.Errorf("corrupt header: %w", err))
	}
	if p.Version != journalVersion {
		return nil, fmt.Errorf("journal %s: version %d, this sriovctl reads %d", path, p.Version, journalVersion)
	}
	for i, line := range lines[1:] {
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			if i == len(lines)-2 { // the last line: torn, or empty after the final newline
				break
			}
			return nil, journalDamaged(path, fmt.Errorf("corrupt line %d: %w", i+2, err))
		}
		if r.Next != nil {
			p.Next = *r.Next
		}
		if r.Committed {
			p.Committed = true
		}
	}
	return p, nil
}

func journalDamaged(path string, err error) error {
	return fmt.Errorf("journal %s is damaged (%v): the interrupted apply it records cannot be undone automatically; "+
		"check the host with `sriovctl status`, move the journal away, then run `sriovctl restore`", path, err)
}

// Desired is the stored desired state.
type Desired struct {
	Policy []byte
	Stored time.Time
	Path   string
	sealed bool
}

// StoreDesired saves the policy as the host's desired state (atomically, fsynced). An identical stored
// policy is left alone. The file ends with a seal (a YAML comment holding the policy's size and SHA-256)
// so that a damaged or truncated desired.yaml is detected instead of silently restoring less; the policy
// is written before desired.json says it is sealed, so a crash between the two leaves a valid pair.
func StoreDesired(dir string, policy []byte) error {
	if old, err := LoadDesired(dir); err == nil && old != nil && bytes.Equal(old.Policy, policy) && old.sealed {
		return nil
	}
	if err := statefile.EnsureDir(dir); err != nil {
		return err
	}
	if err := statefile.WriteAtomic(filepath.Join(dir, DesiredFile), seal(policy)); err != nil {
		return err
	}
	meta, _ := json.Marshal(desiredMetaJSON{Stored: time.Now().UTC().Format(time.RFC3339), Sealed: true})
	return statefile.WriteAtomic(filepath.Join(dir, desiredMeta), append(meta, '\n'))
}

type desiredMetaJSON struct {
	Stored string `json:"stored"`
	Sealed bool   `json:"sealed,omitempty"`
}

const sealPrefix = "\n# sriovctl-seal "

func seal(policy []byte) []byte {
	sum := sha256.Sum256(policy)
	return fmt.Appendf(append([]byte(nil), policy...), sealPrefix+"size=%d sha256=%x\n", len(policy), sum)
}

// unseal returns the policy inside a sealed file; ok is false when there is no seal.
func unseal(data []byte) (policy []byte, ok bool, err error) {
	i := bytes.LastIndex(data, []byte(sealPrefix))
	if i < 0 {
		return data, false, nil
	}
	var size int
	var sum string
	if _, err := fmt.Sscanf(string(data[i+len(sealPrefix):]), "size=%d sha256=%s", &size, &sum); err != nil || size != i {
		return nil, true, errors.New("its seal does not match its size: truncated or edited")
	}
	if !bytes.Equal(seal(data[:i]), data) {
		return nil, true, errors.New("its seal does not match its content: damaged or edited")
	}
	return data[:i], true, nil
}

// LoadDesired reads the stored desired state; nil when there is none.
func LoadDesired(dir string) (*Desired, error) {
	path := filepath.Join(dir, DesiredFile)
	data, err := statefile.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	var meta desiredMetaJSON
	metaPath := filepath.Join(dir, desiredMeta)
	if m, err := statefile.ReadFile(metaPath); err == nil {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, desiredDamaged(metaPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	policy, sealed, err := unseal(data)
	if err == nil && !sealed && meta.Sealed {
		err = errors.New("its seal is missing: truncated")
	}
	if err != nil {
		return nil, desiredDamaged(path, err)
	}
	d := &Desired{Policy: policy, Path: path, sealed: sealed}
	d.Stored, _ = time.Parse(time.RFC3339, meta.Stored)
	if d.Stored.IsZero() {
		if fi, err := os.Stat(path); err == nil {
			d.Stored = fi.ModTime().UTC()
		}
	}
	return d, nil
}

func desiredDamaged(path string, err error) error {
	return fmt.Errorf("desired state %s is damaged (%v); nothing was changed. Apply your policy again "+
		"(`sriovctl apply -f FILE`) to store it anew", path, err)
}
