package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

func rec(vf int, owner string) Record {
	return Record{Pool: "p", PF: "eth0", PFAddress: "0000:3b:00.0", VF: vf, PCIAddress: "0000:3b:01.0", Owner: owner,
		Lease: NewLease(), State: StateAssigned, Since: time.Unix(1700000000, 0).UTC(), Prior: sriov.DefaultVFConfig()}
}

func TestPersistsAcrossOpen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{rec(10, "b"), rec(2, "a")}
	for _, r := range want {
		if err := l.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err := l.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].VF != 2 || got[1].VF != 10 || got[1].Lease != want[0].Lease {
		t.Fatalf("got %+v", got)
	}
	if err := l.Delete(got[0]); err != nil {
		t.Fatal(err)
	}
	err = l.View(func(tx *Tx) error {
		if _, ok, _ := tx.Get("0000:3b:00.0", 2); ok {
			t.Error("deleted record still there")
		}
		if r, ok, _ := tx.Get("0000:3b:00.0", 10); !ok || r.Owner != "b" {
			t.Errorf("record 10: %+v %v", r, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailedUpdateWritesNothing(t *testing.T) {
	l, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	boom := errors.New("boom")
	err = l.Update(func(tx *Tx) error {
		if err := tx.Put(rec(1, "a")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if all, _ := l.All(); len(all) != 0 {
		t.Fatalf("aborted transaction left %+v", all)
	}
}

func TestOpenIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Open(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Open while held: %v, want a deadline error", err)
	}
	opened := make(chan *Ledger)
	go func() {
		l2, err := Open(context.Background(), dir)
		if err != nil {
			t.Error(err)
		}
		opened <- l2
	}()
	select {
	case <-opened:
		t.Fatal("second Open did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	l.Close()
	select {
	case l2 := <-opened:
		if l2 != nil {
			l2.Close()
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Open still waiting after Close")
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyVersion, []byte("99"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir); err == nil {
		t.Fatal("opened a ledger of schema 99")
	}
}
