package ledger

import (
	"bytes"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Two index buckets spare a pool command from decoding every record (an assign used to decode the whole
// ledger twice: once to find interrupted commands, once to find the owner's record):
//
//   - owners: pool NUL owner NUL record key, empty value: the records an owner holds in a pool;
//   - pending: record key, empty value: the records not in state assigned, which repair looks at.
//
// Tx.Put and Tx.Delete keep them in the transaction that writes the record. A ledger of schema 1 has no
// index; the first session that opens it for writing builds it and moves it to schema 2, and a read-only
// reader of a schema-1 ledger scans the records instead.
var (
	bucketOwners  = []byte("owners")
	bucketPending = []byte("pending")
)

func ownerPrefix(pool, owner string) []byte {
	return fmt.Appendf(nil, "%s\x00%s\x00", pool, owner)
}

// index is the index of one transaction; nil buckets: a schema-1 ledger read without one.
type index struct {
	owners, pending *bolt.Bucket
}

func openIndex(tx *bolt.Tx) index {
	return index{owners: tx.Bucket(bucketOwners), pending: tx.Bucket(bucketPending)}
}

func (ix index) ok() bool { return ix.owners != nil && ix.pending != nil }

// update moves the index entries of the record under key from old to r (nil: none). Entries that stay
// are not rewritten: an assign's completion only takes its record off the pending list, and each
// rewritten bucket is one more page in the commit.
func (ix index) update(key []byte, old, r *Record) error {
	if old != nil && (r == nil || old.Pool != r.Pool || old.Owner != r.Owner) {
		if err := ix.owners.Delete(append(ownerPrefix(old.Pool, old.Owner), key...)); err != nil {
			return err
		}
	}
	if r != nil && (old == nil || old.Pool != r.Pool || old.Owner != r.Owner) {
		if err := ix.owners.Put(append(ownerPrefix(r.Pool, r.Owner), key...), nil); err != nil {
			return err
		}
	}
	wasPending, isPending := old != nil && old.State != StateAssigned, r != nil && r.State != StateAssigned
	switch {
	case isPending && !wasPending:
		return ix.pending.Put(key, nil)
	case wasPending && !isPending:
		return ix.pending.Delete(key)
	}
	return nil
}

// build indexes every record of b (a schema-1 ledger moving to schema 2).
func (ix index) build(b *bolt.Bucket) error {
	t := &Tx{b: b}
	all, err := t.All()
	if err != nil {
		return err
	}
	for i := range all {
		if err := ix.update(all[i].Key(), nil, &all[i]); err != nil {
			return err
		}
	}
	return nil
}

// Owned returns the records owner holds in pool, ordered by PF address and VF id.
func (t *Tx) Owned(pool, owner string) ([]Record, error) {
	if t.b == nil {
		return nil, nil
	}
	if !t.ix.ok() {
		return t.filter(func(r *Record) bool { return r.Pool == pool && r.Owner == owner })
	}
	var out []Record
	prefix := ownerPrefix(pool, owner)
	c := t.ix.owners.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		r, err := t.indexed(k[len(prefix):])
		if err != nil {
			return nil, err
		}
		if r.Pool != pool || r.Owner != owner {
			return nil, t.l.damagedIndex(fmt.Errorf("owners entry %q names a record of %s/%s", k, r.Pool, r.Owner))
		}
		out = append(out, r)
	}
	return out, nil
}

// Pending returns the records not in state assigned: those an interrupted command left.
func (t *Tx) Pending() ([]Record, error) {
	if t.b == nil {
		return nil, nil
	}
	if !t.ix.ok() {
		return t.filter(func(r *Record) bool { return r.State != StateAssigned })
	}
	var out []Record
	c := t.ix.pending.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		r, err := t.indexed(k)
		if err != nil {
			return nil, err
		}
		if r.State == StateAssigned {
			return nil, t.l.damagedIndex(fmt.Errorf("pending entry %q names an assigned record", k))
		}
		out = append(out, r)
	}
	return out, nil
}

// UsedVFs returns the ids of the VFs of the PF at pfAddress that have a record, read from the keys
// alone.
func (t *Tx) UsedVFs(pfAddress string) (map[int]bool, error) {
	used := map[int]bool{}
	if t.b == nil {
		return used, nil
	}
	prefix := append([]byte(pfAddress), '/')
	c := t.b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id, err := strconv.Atoi(string(k[len(prefix):]))
		if err != nil || id < 0 {
			return nil, fmt.Errorf("ledger: record under key %s names no VF", k)
		}
		used[id] = true
	}
	return used, nil
}

// indexed reads the record an index entry names.
func (t *Tx) indexed(key []byte) (Record, error) {
	v := t.b.Get(key)
	if v == nil {
		return Record{}, t.l.damagedIndex(fmt.Errorf("index names record %s, which does not exist", key))
	}
	r, err := decodeRecord(key, v)
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

// filter scans every record (a ledger without an index).
func (t *Tx) filter(keep func(*Record) bool) ([]Record, error) {
	all, err := t.All()
	if err != nil {
		return nil, err
	}
	var out []Record
	for i := range all {
		if keep(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func (l *Ledger) damagedIndex(why error) error {
	path := "ledger"
	if l != nil {
		path = l.path
	}
	return damaged(path, why)
}
