package lab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/host"
)

// The lab's state lives in DIR/lab.db, a bbolt database with one record per PF and one per VF, so that a
// write costs the same on a lab of 8 VFs as on one of 4096 (the first format, one JSON file rewritten by
// every write, made applying N VFs cost O(N²)). Layout:
//
//	lab/    version, created, serial, ops, generation, fault, order (the PFs' names in lab init's order)
//	pfs/    PF name -> pf (JSON)
//	addrs/  PCI address -> PF name
//	vfs/    PF name -> bucket: VF id (4 bytes, big endian) -> vf (JSON)
//	stats/  PF name -> bucket: VF id or "pf" or "wire" -> counters (JSON), see traffic.go
//
// Every access holds the lab's lock (lock.go) and opens the database for its duration only, because
// bbolt itself allows one writing process per file: a long-lived handle would shut other processes out.
// Commits do not fsync (bbolt's NoSync). bbolt writes the new pages and then the meta page that makes
// them current, so a process killed at any point (kill -9) leaves the previous or the new state, and
// every other process sees it through the page cache. What is not kept is the state of the emulated
// kernel across a power loss of the machine running the lab, which a real host loses too (its VFs are
// gone after a power cycle); lab init's NICs, written once, are fsynced.
const (
	dbFile       = "lab.db"
	legacyFile   = "lab.json" // the first format; migrated on Open
	lockFile     = ".lock"
	storeVersion = "3"
	// jsonVFsVersion is a lab whose VF records are all JSON (vfcodec.go): still read, and moved to
	// storeVersion by its first write, so that an older sriovctl refuses the binary records it cannot
	// read instead of calling them damaged.
	jsonVFsVersion = "2"
)

var (
	bktLab   = []byte("lab")
	bktPFs   = []byte("pfs")
	bktAddrs = []byte("addrs")
	bktVFs   = []byte("vfs")
	bktStats = []byte("stats")

	keyVersion = []byte("version")
	keyCreated = []byte("created")
	keySerial  = []byte("serial")
	keyOps     = []byte("ops")
	keyGen     = []byte("generation")
	keyFault   = []byte("fault")
	keyOrder   = []byte("order")
)

// errNotLab says how to make one.
func errNotLab(dir string) error {
	return fmt.Errorf("%s is not a lab (no %s): create one with `sriovctl lab init %s`", dir, dbFile, dir)
}

// withDB runs fn with the lab's database open, holding the lab's lock: exclusive (and the database
// writable) for writers, shared for readers.
func withDB(ctx context.Context, dir string, exclusive bool, fn func(db *bolt.DB) error) error {
	if err := migrate(ctx, dir); err != nil {
		return err
	}
	unlock, err := lockLab(ctx, dir, exclusive)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(dir, dbFile)
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errNotLab(dir)
		}
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		// bbolt would take an empty file for a new database, and follow a link.
		return fmt.Errorf("lab %s: %s is damaged (empty or not a regular file): create a new lab with `sriovctl lab init`", dir, dbFile)
	}
	// Timeout: the lab lock already serializes sriovctl processes; bbolt's own flock could only be held
	// by something else, which must not hang us.
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: !exclusive, NoSync: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("lab %s: open %s: %w (if it is damaged, create a new lab with `sriovctl lab init`)", dir, dbFile, err)
	}
	err = fn(db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("lab %s: close %s: %w", dir, dbFile, cerr)
	}
	return err
}

// view runs fn in a read-only transaction under the shared lock.
func view(ctx context.Context, dir string, fn func(t *tx) error) error {
	return withDB(ctx, dir, false, func(db *bolt.DB) error {
		return db.View(func(b *bolt.Tx) error { return begin(b, dir, fn) })
	})
}

// update runs fn in a write transaction under the exclusive lock; an error from fn rolls it back.
func update(ctx context.Context, dir string, fn func(t *tx) error) error {
	return withDB(ctx, dir, true, func(db *bolt.DB) error {
		return db.Update(func(b *bolt.Tx) error { return begin(b, dir, fn) })
	})
}

// begin checks that the database is a lab this sriovctl reads, then runs fn on it.
func begin(b *bolt.Tx, dir string, fn func(t *tx) error) error {
	t := &tx{b: b, dir: dir}
	meta, err := t.bucket(bktLab)
	if err != nil {
		return err
	}
	switch v := string(meta.Get(keyVersion)); {
	case v == jsonVFsVersion && b.Writable():
		if err := meta.Put(keyVersion, []byte(storeVersion)); err != nil {
			return err
		}
	case v != storeVersion && v != jsonVFsVersion:
		return fmt.Errorf("lab %s: %s has version %q, this sriovctl reads %q: create the lab again with `sriovctl lab init`", dir, dbFile, v, storeVersion)
	}
	return fn(t)
}

// tx is one transaction on the lab's records.
type tx struct {
	b   *bolt.Tx
	dir string
}

func vfKey(id int) []byte {
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], uint32(id))
	return k[:]
}

func (t *tx) bucket(name []byte) (*bolt.Bucket, error) {
	b := t.b.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("lab %s: %s is damaged (no %s bucket): create a new lab with `sriovctl lab init`", t.dir, dbFile, name)
	}
	return b, nil
}

func (t *tx) getJSON(bucket, key []byte, v any) (bool, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return false, err
	}
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("lab %s: damaged record %s/%s: %w", t.dir, bucket, key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func (t *tx) counter(key []byte) (uint64, error) {
	b, err := t.bucket(bktLab)
	if err != nil {
		return 0, err
	}
	v := b.Get(key)
	if len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

// bump adds one to a counter and returns the new value.
func (t *tx) bump(key []byte) (uint64, error) {
	n, err := t.counter(key)
	if err != nil {
		return 0, err
	}
	n++
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return n, t.b.Bucket(bktLab).Put(key, v[:])
}

func (t *tx) fault() (fault, error) {
	var f fault
	_, err := t.getJSON(bktLab, keyFault, &f)
	return f, err
}

func (t *tx) putFault(f fault) error {
	b, err := t.bucket(bktLab)
	if err != nil {
		return err
	}
	return putJSON(b, keyFault, f)
}

// order lists the PFs' names in lab init's order.
func (t *tx) order() ([]string, error) {
	var names []string
	_, err := t.getJSON(bktLab, keyOrder, &names)
	return names, err
}

// pf finds a PF by netdev name or PCI address (ENODEV when there is none, as the kernel says).
func (t *tx) pf(op, ref string) (*pf, error) {
	name := ref
	if a, err := t.bucket(bktAddrs); err != nil {
		return nil, err
	} else if n := a.Get([]byte(ref)); n != nil {
		name = string(n)
	}
	var p pf
	ok, err := t.getJSON(bktPFs, []byte(name), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, host.Errorf(op, syscall.ENODEV, "no PF %q in this lab", ref)
	}
	return &p, nil
}

func (t *tx) putPF(p *pf) error {
	b, err := t.bucket(bktPFs)
	if err != nil {
		return err
	}
	return putJSON(b, []byte(p.Name), p)
}

func (t *tx) vfBucket(p *pf) (*bolt.Bucket, error) {
	b, err := t.bucket(bktVFs)
	if err != nil {
		return nil, err
	}
	if vb := b.Bucket([]byte(p.Name)); vb != nil {
		return vb, nil
	}
	if !t.b.Writable() {
		return nil, nil
	}
	return b.CreateBucket([]byte(p.Name))
}

// vf loads one VF, applying the kernel's rule: a VF index beyond numvfs is EINVAL.
func (t *tx) vf(op string, p *pf, id int) (*vf, error) {
	if id < 0 || id >= p.NumVFs {
		return nil, host.Errorf(op, syscall.EINVAL, "Invalid argument")
	}
	vb, err := t.vfBucket(p)
	if err != nil {
		return nil, err
	}
	var v vf
	data := []byte(nil)
	if vb != nil {
		data = vb.Get(vfKey(id))
	}
	if data == nil {
		return nil, fmt.Errorf("lab %s: %s is damaged (no record of VF %d of %s)", t.dir, dbFile, id, p.Name)
	}
	if err := decodeVF(data, &v); err != nil {
		return nil, fmt.Errorf("lab %s: damaged record of VF %d of %s: %w", t.dir, id, p.Name, err)
	}
	return &v, nil
}

func (t *tx) putVF(p *pf, v *vf) error {
	vb, err := t.vfBucket(p)
	if err != nil {
		return err
	}
	return vb.Put(vfKey(v.ID), encodeVF(v))
}

// vfs loads every VF of p, in id order.
func (t *tx) vfs(p *pf) ([]*vf, error) {
	vb, err := t.vfBucket(p)
	if err != nil || vb == nil {
		return nil, err
	}
	out := make([]*vf, 0, p.NumVFs)
	err = vb.ForEach(func(k, data []byte) error {
		var v vf
		if err := decodeVF(data, &v); err != nil {
			return fmt.Errorf("lab %s: damaged record of a VF of %s: %w", t.dir, p.Name, err)
		}
		out = append(out, &v)
		return nil
	})
	if err == nil && len(out) != p.NumVFs {
		err = fmt.Errorf("lab %s: %s is damaged (%s has %d VF records for %d VFs)", t.dir, dbFile, p.Name, len(out), p.NumVFs)
	}
	return out, err
}

// destroyVFs does what sriov_numvfs=0 does: every VF goes with its configuration, its counters and its
// representor's mirror rules.
func (t *tx) destroyVFs(p *pf) error {
	b, err := t.bucket(bktVFs)
	if err != nil {
		return err
	}
	if b.Bucket([]byte(p.Name)) != nil {
		if err := b.DeleteBucket([]byte(p.Name)); err != nil {
			return err
		}
	}
	if err := t.resetStats(p, true); err != nil {
		return err
	}
	p.NumVFs, p.MirrorRules = 0, nil
	return t.putPF(p)
}

// create writes a new lab's records into an empty database.
func create(b *bolt.Tx, created string, pfs []*pf, vfs map[string][]*vf, f fault, serial, ops uint64) error {
	buckets := map[string]*bolt.Bucket{}
	for _, name := range [][]byte{bktLab, bktPFs, bktAddrs, bktVFs, bktStats} {
		bk, err := b.CreateBucket(name)
		if err != nil {
			return err
		}
		buckets[string(name)] = bk
	}
	meta := buckets[string(bktLab)]
	var order []string
	for _, p := range pfs {
		order = append(order, p.Name)
		if err := putJSON(buckets[string(bktPFs)], []byte(p.Name), p); err != nil {
			return err
		}
		if err := buckets[string(bktAddrs)].Put([]byte(p.PCIAddress), []byte(p.Name)); err != nil {
			return err
		}
		if len(vfs[p.Name]) > 0 {
			vb, err := buckets[string(bktVFs)].CreateBucket([]byte(p.Name))
			if err != nil {
				return err
			}
			for _, v := range vfs[p.Name] {
				if err := vb.Put(vfKey(v.ID), encodeVF(v)); err != nil {
					return err
				}
			}
		}
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], serial)
	var o [8]byte
	binary.BigEndian.PutUint64(o[:], ops)
	for k, v := range map[string][]byte{string(keyVersion): []byte(storeVersion), string(keyCreated): []byte(created), string(keySerial): n[:], string(keyOps): o[:]} {
		if err := meta.Put([]byte(k), v); err != nil {
			return err
		}
	}
	if err := putJSON(meta, keyOrder, order); err != nil {
		return err
	}
	return putJSON(meta, keyFault, f)
}

// writeNew creates DIR/lab.db from records: built in a temporary file, fsynced, then renamed into place,
// so that a crash leaves no lab or a whole one. The caller holds the exclusive lock.
func writeNew(dir, created string, pfs []*pf, vfs map[string][]*vf, f fault, serial, ops uint64) error {
	tmp := filepath.Join(dir, dbFile+".tmp")
	os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(b *bolt.Tx) error { return create(b, created, pfs, vfs, f, serial, ops) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, dbFile))
	}
	if err != nil {
		os.Remove(tmp)
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

// legacyState is the first format: the whole lab in DIR/lab.json.
type legacyState struct {
	Version int        `json:"version"`
	PFs     []legacyPF `json:"pfs"`
	Fault   fault      `json:"fault"`
	Serial  uint64     `json:"serial"`
	Created string     `json:"created"`
	Ops     uint64     `json:"mutatingOps"`
}

type legacyPF struct {
	pf
	VFs []*vf `json:"vfs"`
}

// migrate turns a lab made by an older sriovctl (DIR/lab.json, no lab.db) into the current format, keeping
// its PFs, VFs, faults and counters, the first time an operation uses it. A lab.json it cannot read is
// an error that says to create the lab again.
func migrate(ctx context.Context, dir string) error {
	if _, err := os.Lstat(filepath.Join(dir, dbFile)); !errors.Is(err, os.ErrNotExist) {
		return nil // the current format (or an error withDB reports)
	}
	old := filepath.Join(dir, legacyFile)
	if _, err := os.Lstat(old); err != nil {
		return nil
	}
	unlock, err := lockLab(ctx, dir, true)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(filepath.Join(dir, dbFile)); err == nil {
		return nil // another process migrated it meanwhile
	}
	data, err := os.ReadFile(old)
	if err != nil {
		return fmt.Errorf("lab %s: %w", dir, err)
	}
	var s legacyState
	if err := json.Unmarshal(data, &s); err != nil || s.Version != 1 {
		return fmt.Errorf("lab %s: %s is from an older sriovctl and cannot be read (%v); create the lab again with `sriovctl lab init`", dir, legacyFile, errOr(err, fmt.Sprintf("version %d", s.Version)))
	}
	var pfs []*pf
	vfs := map[string][]*vf{}
	for i := range s.PFs {
		p := s.PFs[i].pf
		p.NumVFs = len(s.PFs[i].VFs)
		for id, v := range s.PFs[i].VFs {
			if v == nil || v.ID != id {
				return fmt.Errorf("lab %s: %s lists the VFs of %s out of order; create the lab again with `sriovctl lab init`", dir, legacyFile, p.Name)
			}
		}
		pfs = append(pfs, &p)
		vfs[p.Name] = s.PFs[i].VFs
	}
	if err := writeNew(dir, s.Created, pfs, vfs, s.Fault, s.Serial, s.Ops); err != nil {
		return fmt.Errorf("lab %s: migrating %s: %w", dir, legacyFile, err)
	}
	// lab.db now holds the lab; lab.json is ignored from here on even if removing it fails.
	os.Remove(old)
	return nil
}

func errOr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}
