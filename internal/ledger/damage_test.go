package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/statefile"
)

// goodLedger makes a ledger in a new dir holding n records and returns the dir and the file's bytes.
func goodLedger(t *testing.T, n int) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Update(func(tx *Tx) error {
		for i := range n {
			if err := tx.Put(rec(i, "owner")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	return dir, data
}

// opens are the two ways in; each must refuse the damaged file with ErrDamaged, naming it, and must
// leave the file as it was.
var opens = []struct {
	name string
	open func(context.Context, string) (*Ledger, error)
}{
	{"Open", Open},
	{"OpenReadOnly", OpenReadOnly},
}

func wantDamaged(t *testing.T, dir string, damaged []byte) {
	t.Helper()
	path := filepath.Join(dir, DBFile)
	for _, o := range opens {
		if err := os.WriteFile(path, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := o.open(context.Background(), dir)
		if err == nil {
			all, aerr := l.All()
			l.Close()
			t.Fatalf("%s opened a damaged ledger (%d bytes): All = %d records, %v", o.name, len(damaged), len(all), aerr)
		}
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore-backup") {
			t.Fatalf("%s: %v; want ErrDamaged naming %s and the way back", o.name, err, path)
		}
		after, _ := os.ReadFile(path)
		if string(after) != string(damaged) {
			t.Fatalf("%s changed the damaged file", o.name)
		}
	}
}

func TestZeroLengthLedgerIsDamagedNotEmpty(t *testing.T) {
	dir, _ := goodLedger(t, 3)
	wantDamaged(t, dir, nil)
}

func TestTruncatedLedgerIsRefusedWithoutSIGBUS(t *testing.T) {
	dir, good := goodLedger(t, 300) // several pages of records
	ps := os.Getpagesize()
	if len(good) < 6*ps {
		t.Fatalf("test ledger only %d bytes", len(good))
	}
	m, ok := parseMeta(good[pageHeaderSize:])
	if !ok {
		t.Fatal("test ledger has no valid first meta page")
	}
	hwm := int(m.pgid) * ps // bytes past the high water mark are unused preallocation
	for _, size := range []int{1, 100, ps - 1, ps, ps + 100, 2 * ps, 3*ps + 7, hwm / 2, hwm - ps, hwm - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { wantDamaged(t, dir, good[:size]) })
	}
}

// TestGarbagePagesNeverPanicOrLoseRecords overwrites each data page in turn with random bytes: the ledger
// is refused as damaged, or (a free page) reads back every record; never a panic, never fewer records.
func TestGarbagePagesNeverPanicOrLoseRecords(t *testing.T) {
	dir, good := goodLedger(t, 300)
	ps := os.Getpagesize()
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(dir, DBFile)
	refused := 0
	for p := 2; p*ps < len(good); p++ {
		bad := append([]byte(nil), good...)
		for i := p * ps; i < (p+1)*ps; i++ {
			bad[i] = byte(rng.Uint32())
		}
		for _, o := range opens {
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := o.open(context.Background(), dir)
			if err != nil {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
					t.Fatalf("page %d, %s: %v; want ErrDamaged naming the file", p, o.name, err)
				}
				refused++
				continue
			}
			all, err := l.All()
			l.Close()
			if err == nil && len(all) != 300 {
				t.Fatalf("page %d, %s: read %d records of 300 without an error", p, o.name, len(all))
			}
		}
	}
	if refused == 0 {
		t.Fatal("no garbage page was detected")
	}
}

func TestBothMetaPagesGarbage(t *testing.T) {
	dir, good := goodLedger(t, 3)
	ps := os.Getpagesize()
	bad := append([]byte(nil), good...)
	for i := range 2 * ps {
		bad[i] = byte(i * 7)
	}
	wantDamaged(t, dir, bad)
}

func TestLedgerSymlinkIsRefused(t *testing.T) {
	for _, o := range opens {
		t.Run(o.name, func(t *testing.T) {
			dir, good := goodLedger(t, 1)
			target := filepath.Join(t.TempDir(), "precious")
			if err := os.WriteFile(target, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			dangling := filepath.Join(t.TempDir(), "nothing-here")
			for _, to := range []string{target, dangling} {
				path := filepath.Join(dir, DBFile)
				os.Remove(path)
				if err := os.Symlink(to, path); err != nil {
					t.Fatal(err)
				}
				_, err := o.open(context.Background(), dir)
				if !errors.Is(err, statefile.ErrUntrusted) || !strings.Contains(err.Error(), path) {
					t.Fatalf("ledger.db -> %s: %v, want a refusal naming %s", to, err, path)
				}
				if data, _ := os.ReadFile(target); string(data) != "keep me" {
					t.Fatal("the link's target was changed")
				}
				if _, err := os.Lstat(dangling); !errors.Is(err, os.ErrNotExist) {
					t.Fatal("a database was written through a dangling link")
				}
			}
			_ = good
		})
	}
}

func TestStateDirSymlinkIsRefused(t *testing.T) {
	real, _ := goodLedger(t, 1)
	link := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, o := range opens {
		if _, err := o.open(context.Background(), link); !errors.Is(err, statefile.ErrUntrusted) || !strings.Contains(err.Error(), link) {
			t.Fatalf("%s on a linked state dir: %v", o.name, err)
		}
	}
}

func TestRestoreBackupAfterDamage(t *testing.T) {
	dir, _ := goodLedger(t, 5)
	path := filepath.Join(dir, DBFile)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := RestoreBackup(context.Background(), dir); err != nil || n != 5 {
		t.Fatal(err)
	}
	l, err := OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if all, err := l.All(); err != nil || len(all) != 5 {
		t.Fatalf("after restore: %d records, %v", len(all), err)
	}
}

// TestBackupFollowsSessions: the last good copy holds what a session committed once it closes.
func TestBackupFollowsSessions(t *testing.T) {
	dir := t.TempDir()
	copyRecords := func() int {
		t.Helper()
		b, err := open(filepath.Join(dir, DBFile+BackupSuffix), true)
		if err != nil {
			t.Fatal(err)
		}
		defer b.db.Close()
		all, err := b.All()
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	for n := 1; n <= 3; n++ {
		l, err := Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Put(rec(n, "vm")); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := copyRecords(); got != n {
			t.Fatalf("after session %d the copy holds %d records", n, got)
		}
	}
}
