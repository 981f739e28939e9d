package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The session's decoded records must always read as the file does: after puts, deletes, updates that
// failed (rolled back) and updates that read inside themselves what they wrote.
func TestAllMatchesTheFileThroughASession(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	fromFile := func() []Record {
		t.Helper()
		var out []Record
		if err := l.View(func(tx *Tx) error { var err error; out, err = tx.decodeAll(); return err }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	boom := errors.New("boom")
	for step := 0; step < 300; step++ {
		vf := rng.IntN(12)
		r := rec(vf, fmt.Sprintf("owner-%d", step))
		var err error
		switch rng.IntN(5) {
		case 0:
			err = l.Put(r)
		case 1:
			err = l.Delete(r)
		case 2: // rolled back: nothing of it may show
			if uerr := l.Update(func(tx *Tx) error { _ = tx.Put(r); return boom }); !errors.Is(uerr, boom) {
				t.Fatalf("step %d: %v", step, uerr)
			}
		case 3: // a transaction sees its own writes
			err = l.Update(func(tx *Tx) error {
				if err := tx.Put(r); err != nil {
					return err
				}
				all, err := tx.All()
				if err != nil {
					return err
				}
				for _, a := range all {
					if a.VF == vf && a.Owner == r.Owner {
						return nil
					}
				}
				return fmt.Errorf("put record not read back in its transaction: %+v", all)
			})
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
		got, err := l.All()
		if err != nil {
			t.Fatal(err)
		}
		if want := fromFile(); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: All() = %+v\nthe file holds %+v", step, got, want)
		}
	}
}
