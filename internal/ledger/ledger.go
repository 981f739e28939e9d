// Package ledger is the durable record of which VF is handed to whom: one record per assigned VF with its
// pool, owner, lease token, state and the VF's configuration and driver from before the assignment, so
// that a release can put the VF back exactly as it was.
//
// It lives in a bbolt database (ledger.db) in the state directory. Every Update commits with an fsync
// before it returns, so a command that reports success after an Update has its record on disk. bbolt's
// own file lock polls every 50 ms, which makes dozens of waiting processes slow and unfair; Open therefore
// takes a blocking flock on ledger.lock first and holds it until Close. A Ledger is thus an exclusive
// session: the caller may read the ledger, write the host and record the outcome without any other
// process interleaving.
//
// Records carry a State so that a crash (kill -9) between recording intent and recording completion is
// visible to the next session, which repairs it (see package pool).
package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

// File names inside the state directory.
const (
	DBFile   = "ledger.db"
	LockFile = "ledger.lock"
	// BackupSuffix names the last good copy: ledger.db.good.
	BackupSuffix = ".good"
)

// dbMode lets users who can read the state dir read the ledger (status, assignments as non-root); only
// its owner writes it.
const dbMode = 0o644

// schemaVersion is stored in the meta bucket; a newer ledger is refused rather than misread. Schema 2
// adds the index (index.go); a schema-1 ledger is still read, and indexed by the first session that
// writes it.
const (
	schemaVersion   = 2
	unindexedSchema = 1
)

var (
	bucketAssignments = []byte("assignments")
	bucketMeta        = []byte("meta")
	keyVersion        = []byte("version")
)

// State is where a record is in its life.
type State string

// The record states. A VF without a record is free.
const (
	// StateAssigning: the VF is taken and its prior state saved; host writes may be under way.
	StateAssigning State = "assigning"
	// StateAssigned: the owner's settings and driver are on the host; the owner was told.
	StateAssigned State = "assigned"
	// StateReleasing: the release has begun; host writes restoring the prior state may be under way.
	StateReleasing State = "releasing"
)

// Record is one VF handed to an owner.
type Record struct {
	Pool string `json:"pool"`
	// PF is the PF's netdev name when the VF was assigned; PFAddress (its PCI address) is the stable key.
	PF         string    `json:"pf"`
	PFAddress  string    `json:"pfAddress"`
	VF         int       `json:"vf"`
	PCIAddress string    `json:"pciAddress"`
	Owner      string    `json:"owner"`
	Lease      string    `json:"lease"`
	State      State     `json:"state"`
	Since      time.Time `json:"since"`
	// Settings is what the owner asked for; Config and Driver are what the VF was given.
	Settings sriov.VFSettings `json:"settings"`
	Config   sriov.VFConfig   `json:"config"`
	Driver   string           `json:"driver"`
	// Prior and PriorDriver are the VF's configuration and driver before the assignment.
	Prior       sriov.VFConfig `json:"prior"`
	PriorDriver string         `json:"priorDriver"`
}

// Key returns the record's key: the PF's PCI address and the VF id.
func (r Record) Key() []byte { return Key(r.PFAddress, r.VF) }

// Key builds the key of VF vf of the PF at pfAddress; zero-padded so that keys sort by VF id.
func Key(pfAddress string, vf int) []byte { return fmt.Appendf(nil, "%s/%05d", pfAddress, vf) }

// Ledger is an open ledger: an exclusive session (Open) or a read-only snapshot reader (OpenReadOnly).
type Ledger struct {
	db       *bolt.DB // nil: a read-only ledger that does not exist yet, i.e. empty
	lock     *statefile.Lock
	path     string
	noBackup bool // benchmarks measure the copy's cost

	// The last good copy: when it was last written and whether commits came since (see backup).
	lastBackup time.Time
	dirty      bool
}

// backupEvery bounds how stale the last good copy gets during a long session (the agent's).
const backupEvery = 30 * time.Second

// Open opens (creating if needed) the ledger in dir, waiting until no other process holds it or ctx
// ends. A new ledger is built in a temporary file and renamed into place, so ledger.db is never empty
// or half-initialised; an existing one is validated before use (see checkFile) and opening it writes
// nothing.
func Open(ctx context.Context, dir string) (*Ledger, error) {
	if err := statefile.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	lock, err := statefile.AcquireLock(ctx, filepath.Join(dir, LockFile), statefile.LockOptions{Exclusive: true})
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		err = create(path)
		if err != nil {
			lock.Release()
			return nil, err
		}
	}
	l, err := open(path, false)
	if err != nil {
		lock.Release()
		return nil, err
	}
	l.lock = lock
	return l, nil
}

// OpenReadOnly opens the ledger in dir for reading: a shared lock (so it waits, at most until ctx ends,
// for a writer's session to end, and lets other readers in), the file opened read-only, nothing created or
// written. A non-root user who can read the state dir can use it. A missing state dir or ledger reads as
// empty; a damaged one is an error naming the file.
func OpenReadOnly(ctx context.Context, dir string) (*Ledger, error) {
	exists, err := statefile.CheckDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if !exists {
		return &Ledger{path: filepath.Join(dir, DBFile)}, nil
	}
	lock, err := statefile.AcquireLock(ctx, filepath.Join(dir, LockFile), statefile.LockOptions{ReadOnly: true})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	// Without a lock file no writer ever opened this ledger (Open creates the lock before the database).
	path := filepath.Join(dir, DBFile)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return &Ledger{lock: lock, path: path}, nil
	}
	l, err := open(path, true)
	if err != nil {
		lock.Release()
		return nil, err
	}
	l.lock = lock
	return l, nil
}

// nofollow opens the database file without following a link and checks it like every state file.
func nofollow(name string, flag int, perm os.FileMode) (*os.File, error) {
	return statefile.Open(name, flag, perm)
}

// open validates and opens an existing ledger file. bbolt trusts its file: a truncated one faults
// (SIGBUS) when a page past the end is touched, a garbage page panics, and a panic inside bolt.Open leaves
// the file mapped, which keeps its flock held for the life of the process. So: the meta pages are checked
// against the file size (checkFile); the file is opened read-only, which touches nothing past the meta
// pages, and bbolt's consistency check (which recovers its own panics) walks every page and the freelist;
// only a file that passed is opened for writing.
func open(path string, readOnly bool) (*Ledger, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	l, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	if err := l.check(); err != nil || readOnly {
		if err != nil {
			l.db.Close()
			return nil, err
		}
		return l, nil
	}
	if err := l.db.Close(); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if l, err = openBolt(path, false); err != nil {
		return nil, err
	}
	if err := l.init(); err != nil {
		l.db.Close()
		return nil, err
	}
	l.lastBackup = time.Now()
	if db, gerr := os.Stat(path); gerr == nil {
		if good, gerr := os.Lstat(path + BackupSuffix); gerr != nil || good.ModTime().Before(db.ModTime()) {
			l.backup()
		}
	}
	return l, nil
}

func openBolt(path string, readOnly bool) (l *Ledger, err error) {
	defer func() {
		if p := recover(); p != nil {
			l, err = nil, damaged(path, fmt.Errorf("%v", p))
		}
	}()
	var file *os.File
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := nofollow(name, flag, perm)
		file = f
		return f, err
	}
	db, err := bolt.Open(path, dbMode, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: readOnly, OpenFile: openFile})
	if err != nil {
		if file != nil {
			file.Close() // not every bbolt error path closes it
		}
		if errors.Is(err, statefile.ErrUntrusted) {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		return nil, damaged(path, err)
	}
	return &Ledger{db: db, path: path}, nil
}

// create builds an empty ledger at path: initialised in a temporary file, then renamed into place and the
// directory synced, so a crash leaves no ledger or a whole one.
func create(path string) error {
	tmp := path + ".new"
	os.Remove(tmp)
	db, err := bolt.Open(tmp, dbMode, &bolt.Options{Timeout: time.Second, OpenFile: nofollow})
	if err != nil {
		return fmt.Errorf("ledger %s: %w", tmp, err)
	}
	l := &Ledger{db: db, path: tmp}
	err = l.init()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = statefile.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	return nil
}

// ErrDamaged is wrapped by every error about a ledger file that cannot be trusted.
var ErrDamaged = errors.New("damaged")

func damaged(path string, why error) error {
	return fmt.Errorf("ledger %s is %w (%v); nothing was changed. Restore the last good copy with `sriovctl ledger restore-backup` (or copy %s over it)",
		path, ErrDamaged, why, filepath.Base(path)+BackupSuffix)
}

// bbolt's file format: each page starts with a 16-byte header; pages 0 and 1 hold the two meta copies.
const (
	pageHeaderSize = 16
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	metaSumOffset  = 56 // the checksum covers the meta's bytes before it
)

type meta struct {
	pageSize      uint32
	root, freeRef uint64
	pgid, txid    uint64
}

func parseMeta(b []byte) (meta, bool) {
	if len(b) < metaSumOffset+8 {
		return meta{}, false
	}
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(b[:metaSumOffset])
	if le.Uint32(b[0:]) != metaMagic || le.Uint32(b[4:]) != metaVersion || le.Uint64(b[metaSumOffset:]) != h.Sum64() {
		return meta{}, false
	}
	return meta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freeRef: le.Uint64(b[32:]),
		pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}, true
}

// checkFile refuses a ledger file bbolt would misread or fault on: empty (a ledger is never empty: it is
// created whole), no valid meta page, or shorter than the pages its meta says it holds.
func checkFile(path string) error {
	f, err := statefile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, statefile.ErrUntrusted) {
			return fmt.Errorf("ledger: %w", err)
		}
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return damaged(path, errors.New("the file is empty"))
	}
	var best meta
	found := false
	var buf [pageHeaderSize + metaSumOffset + 8]byte
	try := func(off int64) {
		if n, _ := f.ReadAt(buf[:], off); n == len(buf) {
			if m, ok := parseMeta(buf[pageHeaderSize:]); ok && (!found || m.txid > best.txid) {
				best, found = m, true
			}
		}
	}
	try(0)
	if found {
		try(int64(best.pageSize))
	} else {
		try(int64(os.Getpagesize()))
	}
	if !found {
		return damaged(path, errors.New("no valid meta page"))
	}
	if best.pageSize < 512 || best.pageSize > 1<<20 || best.root >= best.pgid || (best.freeRef >= best.pgid && best.freeRef != noFreelist) {
		return damaged(path, fmt.Errorf("meta page out of range (page size %d, root %d, freelist %d, pages %d)", best.pageSize, best.root, best.freeRef, best.pgid))
	}
	if want := int64(best.pgid) * int64(best.pageSize); size < want {
		return damaged(path, fmt.Errorf("truncated: %d bytes, its pages need %d", size, want))
	}
	return nil
}

// noFreelist is bbolt's freelist pgid when the freelist is not stored.
const noFreelist = 0xffffffffffffffff

// check runs bbolt's consistency check (every reachable page, the freelist) and the ledger's own: the
// buckets it needs and a schema it reads.
func (l *Ledger) check() error {
	return l.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return damaged(l.path, errors.Join(errs...))
		}
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if v := meta.Get(keyVersion); v != nil && string(v) != fmt.Sprint(schemaVersion) && string(v) != fmt.Sprint(unindexedSchema) {
				return fmt.Errorf("ledger %s: schema version %s, this sriovctl reads %d", l.path, v, schemaVersion)
			}
		}
		return nil
	})
}

// init creates the buckets when missing (a new file) and indexes a schema-1 ledger; on a current one it
// writes nothing, so that opening costs no commit.
func (l *Ledger) init() error {
	ready := false
	if err := l.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		ready = meta != nil && tx.Bucket(bucketAssignments) != nil && openIndex(tx).ok() &&
			string(meta.Get(keyVersion)) == fmt.Sprint(schemaVersion)
		return nil
	}); err != nil || ready {
		return err
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketAssignments)
		if err != nil {
			return err
		}
		// Rebuilt from the records whatever the index holds: an older sriovctl may have written them.
		for _, name := range [][]byte{bucketOwners, bucketPending} {
			if tx.Bucket(name) != nil {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := openIndex(tx).build(b); err != nil {
			return err
		}
		return meta.Put(keyVersion, fmt.Append(nil, schemaVersion))
	})
}

// Close closes the database and releases the lock.
func (l *Ledger) Close() error {
	var err error
	if l.dirty {
		l.backup()
	}
	if l.db != nil {
		err = l.db.Close()
	}
	if cerr := l.lock.Release(); err == nil {
		err = cerr
	}
	return err
}

// Tx is one ledger transaction.
type Tx struct {
	b  *bolt.Bucket // nil: an empty read-only ledger
	ix index
	l  *Ledger
}

func (l *Ledger) tx(b *bolt.Tx) *Tx {
	return &Tx{b: b.Bucket(bucketAssignments), ix: openIndex(b), l: l}
}

// Get returns the record of VF vf of the PF at pfAddress.
func (t *Tx) Get(pfAddress string, vf int) (Record, bool, error) {
	if t.b == nil {
		return Record{}, false, nil
	}
	v := t.b.Get(Key(pfAddress, vf))
	if v == nil {
		return Record{}, false, nil
	}
	r, err := decodeRecord(Key(pfAddress, vf), v)
	return r, err == nil, err
}

// decodeRecord decodes the record stored under key, checking that it is the record of that key.
func decodeRecord(key, v []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return Record{}, fmt.Errorf("ledger: corrupt record %s: %w", key, err)
	}
	if !bytes.Equal(key, r.Key()) {
		return Record{}, fmt.Errorf("ledger: record under key %s names %s", key, r.Key())
	}
	return r, nil
}

// Put stores r (replacing the VF's record).
func (t *Tx) Put(r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := r.Key()
	if t.ix.ok() {
		old, err := t.stored(key)
		if err != nil {
			return err
		}
		if err := t.ix.update(key, old, &r); err != nil {
			return err
		}
	}
	return t.b.Put(key, data)
}

// Delete removes the record of r's VF: the VF is free.
func (t *Tx) Delete(r Record) error {
	key := r.Key()
	if t.ix.ok() {
		old, err := t.stored(key)
		if err != nil {
			return err
		}
		if err := t.ix.update(key, old, nil); err != nil {
			return err
		}
	}
	return t.b.Delete(key)
}

// stored returns the record on file under key; nil when there is none.
func (t *Tx) stored(key []byte) (*Record, error) {
	v := t.b.Get(key)
	if v == nil {
		return nil, nil
	}
	r, err := decodeRecord(key, v)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// All returns every record, ordered by PF address and VF id, each decoded and checked against its key.
// Pool commands read through the index instead (Owned, Pending, UsedVFs); All is for listings.
func (t *Tx) All() ([]Record, error) {
	if t.b == nil {
		return nil, nil
	}
	var out []Record
	err := t.b.ForEach(func(k, v []byte) error {
		r, err := decodeRecord(k, v)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// ErrReadOnly is returned by Update on a ledger opened with OpenReadOnly.
var ErrReadOnly = errors.New("ledger: opened read-only")

// Update runs fn in a read-write transaction and commits it durably (fsync) when fn returns nil; then
// the committed ledger is copied to ledger.db.good (see backup).
func (l *Ledger) Update(fn func(t *Tx) error) error {
	if l.db == nil || l.db.IsReadOnly() {
		return ErrReadOnly
	}
	err := l.guard(fn, func(fn func(*Tx) error) error {
		return l.db.Update(func(tx *bolt.Tx) error { return fn(l.tx(tx)) })
	})
	if err == nil {
		l.dirty = true
		if time.Since(l.lastBackup) > backupEvery {
			l.backup()
		}
	}
	return err
}

// View runs fn in a read-only transaction.
func (l *Ledger) View(fn func(t *Tx) error) error {
	if l.db == nil {
		return fn(&Tx{})
	}
	return l.guard(fn, func(fn func(*Tx) error) error {
		return l.db.View(func(tx *bolt.Tx) error { return fn(l.tx(tx)) })
	})
}

// guard runs fn through run and turns a panic inside bbolt (a page damaged after the open-time check)
// into an error naming the file. A panic raised by fn itself is re-raised: it is a bug, not damage.
func (l *Ledger) guard(fn func(*Tx) error, run func(func(*Tx) error) error) (err error) {
	var fnPanic any
	errFnPanic := errors.New("panic in transaction")
	wrapped := func(t *Tx) (err error) {
		defer func() {
			if p := recover(); p != nil {
				fnPanic, err = p, errFnPanic
			}
		}()
		return fn(t)
	}
	defer func() {
		if fnPanic != nil {
			panic(fnPanic)
		}
		if p := recover(); p != nil {
			err = damaged(l.path, fmt.Errorf("%v", p))
		}
	}()
	return run(wrapped)
}

// backup copies the ledger to ledger.db.good: a consistent snapshot (bbolt's Tx.WriteTo) written to a
// temporary file and renamed into place. It runs when a session that committed closes, every backupEvery
// during a long one, and on opening a ledger that passed validation and is newer than its copy (a session
// killed before Close). Not per commit: copying the file and renaming it after each commit halved the
// commit rate (docs/performance.md). It is not fsynced: ledger.db itself is durable, the copy is there for
// when ledger.db gets damaged later (a disk error, a stray write, someone truncating it). A failed copy
// does not fail anything; the older copy stays.
func (l *Ledger) backup() {
	if l.noBackup {
		return
	}
	l.lastBackup, l.dirty = time.Now(), false
	good := l.path + BackupSuffix
	tmp := good + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, dbMode) // O_EXCL: never through a planted link
	if err != nil {
		return
	}
	err = l.db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(f); return err })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, good)
	}
	if err != nil {
		os.Remove(tmp)
	}
}

// All returns every record.
func (l *Ledger) All() ([]Record, error) { return l.read((*Tx).All) }

// Pending returns the records an interrupted command left (not in state assigned).
func (l *Ledger) Pending() ([]Record, error) { return l.read((*Tx).Pending) }

// read runs one reading method of Tx in a read-only transaction.
func (l *Ledger) read(fn func(*Tx) ([]Record, error)) ([]Record, error) {
	var out []Record
	err := l.View(func(t *Tx) error {
		var err error
		out, err = fn(t)
		return err
	})
	return out, err
}

// Put stores one record durably.
func (l *Ledger) Put(r Record) error { return l.Update(func(t *Tx) error { return t.Put(r) }) }

// Delete removes one record durably.
func (l *Ledger) Delete(r Record) error { return l.Update(func(t *Tx) error { return t.Delete(r) }) }

// NewLease returns a fresh lease token: 128 random bits in hex.
func NewLease() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ledger: no randomness: " + err.Error()) // crypto/rand.Read does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// SortByOwner orders records by pool, owner, PF and VF, for listings.
func SortByOwner(rs []Record) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Owner != b.Owner {
			return a.Owner < b.Owner
		}
		if a.Pool != b.Pool {
			return a.Pool < b.Pool
		}
		return bytes.Compare(a.Key(), b.Key()) < 0
	})
}

// RestoreBackup replaces a damaged ledger.db in dir with its last good copy (ledger.db.good), holding the
// ledger's lock. The copy is validated like a ledger first; the damaged file is kept beside it as
// ledger.db.damaged for inspection. It returns the number of records restored.
func RestoreBackup(ctx context.Context, dir string) (int, error) {
	if err := statefile.EnsureDir(dir); err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	lock, err := statefile.AcquireLock(ctx, filepath.Join(dir, LockFile), statefile.LockOptions{Exclusive: true})
	if err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	defer lock.Release()
	path := filepath.Join(dir, DBFile)
	good := path + BackupSuffix
	if _, err := os.Lstat(good); err != nil {
		return 0, fmt.Errorf("ledger: no last good copy: %w", err)
	}
	b, err := open(good, true)
	if err != nil {
		return 0, fmt.Errorf("ledger: the last good copy cannot be used either: %w", err)
	}
	all, err := b.All()
	b.db.Close()
	if err != nil {
		return 0, fmt.Errorf("ledger: the last good copy cannot be used either: %w", err)
	}
	data, err := statefile.ReadFile(good)
	if err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if err := os.Rename(path, path+".damaged"); err != nil {
			return 0, fmt.Errorf("ledger: %w", err)
		}
	}
	if err := statefile.WriteFile(path, data, dbMode); err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	return len(all), nil
}
