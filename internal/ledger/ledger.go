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
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// File names inside the state directory.
const (
	DBFile   = "ledger.db"
	LockFile = "ledger.lock"
)

// schemaVersion is stored in the meta bucket; a newer ledger is refused rather than misread.
const schemaVersion = 1

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

// Ledger is an open, exclusively held ledger.
type Ledger struct {
	db   *bolt.DB
	lock *os.File
}

// Open opens (creating if needed) the ledger in dir, waiting until no other process holds it or ctx
// ends.
func Open(ctx context.Context, dir string) (*Ledger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	lock, err := lockFile(ctx, filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DBFile)
	_, statErr := os.Stat(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	l := &Ledger{db: db, lock: lock}
	if err := l.init(); err != nil {
		l.Close()
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file's directory entry must reach the disk too, or a crash could lose the whole ledger.
		if err := syncDir(dir); err != nil {
			l.Close()
			return nil, fmt.Errorf("ledger: %w", err)
		}
	}
	return l, nil
}

func (l *Ledger) init() error {
	return l.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil {
			if string(v) != fmt.Sprint(schemaVersion) {
				return fmt.Errorf("ledger: schema version %s, this sriovctl reads %d", v, schemaVersion)
			}
		} else if err := meta.Put(keyVersion, fmt.Append(nil, schemaVersion)); err != nil {
			return err
		}
		_, err = tx.CreateBucketIfNotExists(bucketAssignments)
		return err
	})
}

// lockFile takes an exclusive flock on path, blocking; ctx cancels the wait.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("ledger: lock %s: %w", path, err)
		}
		return f, nil
	case <-ctx.Done():
		// Closing the file releases the lock should the flock still succeed.
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("ledger: waiting for %s: %w", path, ctx.Err())
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close closes the database and releases the lock.
func (l *Ledger) Close() error {
	err := l.db.Close()
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// Tx is one ledger transaction.
type Tx struct {
	b *bolt.Bucket
}

// Get returns the record of VF vf of the PF at pfAddress.
func (t *Tx) Get(pfAddress string, vf int) (Record, bool, error) {
	v := t.b.Get(Key(pfAddress, vf))
	if v == nil {
		return Record{}, false, nil
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return Record{}, false, fmt.Errorf("ledger: corrupt record %s/%d: %w", pfAddress, vf, err)
	}
	return r, true, nil
}

// Put stores r (replacing the VF's record).
func (t *Tx) Put(r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return t.b.Put(r.Key(), data)
}

// Delete removes the record of r's VF: the VF is free.
func (t *Tx) Delete(r Record) error { return t.b.Delete(r.Key()) }

// All returns every record, ordered by PF address and VF id.
func (t *Tx) All() ([]Record, error) {
	var out []Record
	err := t.b.ForEach(func(k, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("ledger: corrupt record %s: %w", k, err)
		}
		if !bytes.Equal(k, r.Key()) {
			return fmt.Errorf("ledger: record under key %s names %s", k, r.Key())
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Update runs fn in a read-write transaction and commits it durably (fsync) when fn returns nil.
func (l *Ledger) Update(fn func(t *Tx) error) error {
	return l.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{b: tx.Bucket(bucketAssignments)}) })
}

// View runs fn in a read-only transaction.
func (l *Ledger) View(fn func(t *Tx) error) error {
	return l.db.View(func(tx *bolt.Tx) error { return fn(&Tx{b: tx.Bucket(bucketAssignments)}) })
}

// All returns every record.
func (l *Ledger) All() ([]Record, error) {
	var out []Record
	err := l.View(func(t *Tx) error {
		var err error
		out, err = t.All()
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
