package apply

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
type Lock struct{ f *os.File }

// Acquire takes the lock, waiting for it unless noWait. With noWait and a holder, the error wraps
// ErrLocked and names the holder's pid.
func Acquire(dir string, noWait bool) (*Lock, error) {
	return AcquireContext(context.Background(), dir, noWait)
}

// AcquireContext is Acquire whose wait ends when ctx does (Ctrl-C): the kernel restarts a blocking flock
// after a signal, so without this a waiting command could not be interrupted.
func AcquireContext(ctx context.Context, dir string, noWait bool) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	how := unix.LOCK_EX
	if noWait {
		how |= unix.LOCK_NB
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.Flock(int(f.Fd()), how)
			if !errors.Is(err, unix.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Closing the file releases the lock should the flock still succeed.
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("waiting for %s: %w", filepath.Join(dir, LockFile), ctx.Err())
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		pid := strings.TrimSpace(string(holder))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w (pid %s holds %s); not waiting because of --no-wait", ErrLocked, pid, filepath.Join(dir, LockFile))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
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
	// Snapshot is the observed state of every PF the operations write, taken before the first write.
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	h.Version = journalVersion
	h.PID = os.Getpid()
	h.Started = time.Now().UTC().Format(time.RFC3339Nano)
	data, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(dir, JournalFile, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{dir: dir, f: f}, nil
}

func (j *Journal) append(r record) error {
	data, _ := json.Marshal(r)
	if _, err := j.f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// Next records that operation i is about to run.
func (j *Journal) Next(i int) error { return j.append(record{Next: &i}) }

// Commit records that every operation succeeded.
func (j *Journal) Commit() error { return j.append(record{Committed: true}) }

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
	return syncDir(dir)
}

// LoadJournal reads a pending journal; nil when there is none. A torn last line (a crash while it was
// written) is ignored: its operation had not started.
func LoadJournal(dir string) (*Pending, error) {
	data, err := os.ReadFile(filepath.Join(dir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	if !sc.Scan() {
		return nil, nil
	}
	p := &Pending{Next: -1}
	if err := json.Unmarshal(sc.Bytes(), &p.Header); err != nil {
		return nil, fmt.Errorf("journal %s: corrupt header: %w", filepath.Join(dir, JournalFile), err)
	}
	if p.Version != journalVersion {
		return nil, fmt.Errorf("journal %s: version %d, this sriovctl reads %d", filepath.Join(dir, JournalFile), p.Version, journalVersion)
	}
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			break
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

// Desired is the stored desired state.
type Desired struct {
	Policy []byte
	Stored time.Time
	Path   string
}

// StoreDesired saves the policy as the host's desired state (atomically, fsynced). An identical stored
// policy is left alone.
func StoreDesired(dir string, policy []byte) error {
	if old, err := os.ReadFile(filepath.Join(dir, DesiredFile)); err == nil && bytes.Equal(old, policy) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	meta, _ := json.Marshal(map[string]string{"stored": time.Now().UTC().Format(time.RFC3339)})
	if err := writeFileSync(dir, desiredMeta, append(meta, '\n')); err != nil {
		return err
	}
	return writeFileSync(dir, DesiredFile, policy)
}

// LoadDesired reads the stored desired state; nil when there is none.
func LoadDesired(dir string) (*Desired, error) {
	path := filepath.Join(dir, DesiredFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &Desired{Policy: data, Path: path}
	var meta struct{ Stored string }
	if m, err := os.ReadFile(filepath.Join(dir, desiredMeta)); err == nil && json.Unmarshal(m, &meta) == nil {
		d.Stored, _ = time.Parse(time.RFC3339, meta.Stored)
	}
	if d.Stored.IsZero() {
		if fi, err := os.Stat(path); err == nil {
			d.Stored = fi.ModTime().UTC()
		}
	}
	return d, nil
}

// writeFileSync replaces DIR/name atomically and durably: the rename itself is fsynced too (directory).
func writeFileSync(dir, name string, data []byte) error {
	if err := statefile.WriteAtomic(filepath.Join(dir, name), data); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
