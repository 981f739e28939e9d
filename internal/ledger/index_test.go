package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The index answers as a scan of the records does, and the records are what was committed: after puts,
// deletes, updates that failed (rolled back), updates that read through the index what they wrote, and
// new sessions.
func TestIndexMatchesTheRecordsThroughASession(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	model := map[string]Record{} // what was committed, by key
	rng := rand.New(rand.NewPCG(1, 2))
	boom := errors.New("boom")
	states := []State{StateAssigned, StateAssigning, StateReleasing}
	for step := 0; step < 300; step++ {
		vf := rng.IntN(12)
		// Few owners and two pools, so that owners hold several records and records change hands.
		r := rec(vf, fmt.Sprintf("owner-%d", rng.IntN(4)))
		r.Pool = []string{"p", "q"}[rng.IntN(2)]
		r.State = states[rng.IntN(len(states))]
		if rng.IntN(3) == 0 {
			r.PFAddress = "0000:3c:00.0"
		}
		var err error
		switch rng.IntN(5) {
		case 0:
			if err = l.Put(r); err == nil {
				model[string(r.Key())] = r
			}
		case 1:
			if err = l.Delete(r); err == nil {
				delete(model, string(r.Key()))
			}
		case 2: // rolled back: nothing of it may show
			if uerr := l.Update(func(tx *Tx) error { _ = tx.Put(r); return boom }); !errors.Is(uerr, boom) {
				t.Fatalf("step %d: %v", step, uerr)
			}
		case 3: // a transaction reads its own write through the index
			err = l.Update(func(tx *Tx) error {
				if err := tx.Put(r); err != nil {
					return err
				}
				owned, err := tx.Owned(r.Pool, r.Owner)
				if err != nil {
					return err
				}
				for _, a := range owned {
					if reflect.DeepEqual(a, r) {
						return nil
					}
				}
				return fmt.Errorf("put record not read back through the index in its transaction: %+v", owned)
			})
			if err == nil {
				model[string(r.Key())] = r
			}
		case 4:
			if rng.IntN(4) == 0 { // a new session starts from the file
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if l, err = Open(context.Background(), dir); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		all, err := l.All()
		if err != nil {
			t.Fatal(err)
		}
		var want []Record
		for _, k := range slices.Sorted(maps.Keys(model)) {
			want = append(want, model[k])
		}
		if !reflect.DeepEqual(all, want) {
			t.Fatalf("step %d: All() = %+v\nwant what was committed: %+v", step, all, want)
		}
		checkIndex(t, l, all)
	}
}

// checkIndex compares what the index answers with a scan of all records.
func checkIndex(t *testing.T, l *Ledger, all []Record) {
	t.Helper()
	err := l.View(func(tx *Tx) error {
		pending, err := tx.Pending()
		if err != nil {
			return err
		}
		var want []Record
		for _, r := range all {
			if r.State != StateAssigned {
				want = append(want, r)
			}
		}
		if !reflect.DeepEqual(pending, want) {
			return fmt.Errorf("Pending() = %+v, want %+v", pending, want)
		}
		for _, pool := range []string{"p", "q"} {
			for o := 0; o < 4; o++ {
				owner := fmt.Sprintf("owner-%d", o)
				got, err := tx.Owned(pool, owner)
				if err != nil {
					return err
				}
				var want []Record
				for _, r := range all {
					if r.Pool == pool && r.Owner == owner {
						want = append(want, r)
					}
				}
				if !reflect.DeepEqual(got, want) {
					return fmt.Errorf("Owned(%s, %s) = %+v, want %+v", pool, owner, got, want)
				}
			}
		}
		for _, pf := range []string{"0000:3b:00.0", "0000:3c:00.0"} {
			used, err := tx.UsedVFs(pf)
			if err != nil {
				return err
			}
			want := map[int]bool{}
			for _, r := range all {
				if r.PFAddress == pf {
					want[r.VF] = true
				}
			}
			if !reflect.DeepEqual(used, want) {
				return fmt.Errorf("UsedVFs(%s) = %v, want %v", pf, used, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A ledger written before the index (schema 1) reads the same through a read-only reader (which scans)
// and is indexed by the first session that opens it for writing.
func TestSchemaOneLedgerIsIndexedOnOpen(t *testing.T) {
	dir := t.TempDir()
	recs := []Record{rec(1, "a"), rec(2, "b"), rec(3, "a")}
	recs[1].State = StateAssigning
	recs[2].Pool = "q"
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyVersion, []byte("1")); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketAssignments)
		if err != nil {
			return err
		}
		for _, r := range recs {
			data, _ := json.Marshal(r)
			if err := b.Put(r.Key(), data); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	version := func(db *bolt.DB) string {
		var v string
		db.View(func(tx *bolt.Tx) error { v = string(tx.Bucket(bucketMeta).Get(keyVersion)); return nil })
		return v
	}
	ro, err := OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	all, err := ro.All()
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, ro, all)
	if v := version(ro.db); v != "1" {
		t.Fatalf("a read-only open wrote the ledger: schema %s", v)
	}
	ro.Close()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v := version(l.db); v != "2" {
		t.Fatalf("schema %s after a writing session opened it, want 2", v)
	}
	checkIndex(t, l, all)
	if len(all) != 3 {
		t.Fatalf("records %+v", all)
	}
}

// An index entry that names a record the ledger does not hold is damage, reported as such.
func TestDamagedIndexIsReported(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	r := rec(4, "a")
	if err := l.Put(r); err != nil {
		t.Fatal(err)
	}
	// Remove the record behind the index's back.
	if err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAssignments).Delete(r.Key()) }); err != nil {
		t.Fatal(err)
	}
	err = l.View(func(tx *Tx) error { _, err := tx.Owned("p", "a"); return err })
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Owned on a damaged index: %v", err)
	}
	l.Close()
}
