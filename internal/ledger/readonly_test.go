package ledger

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestOpenReadOnlyMissingIsEmptyAndCreatesNothing(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		name string
		dir  string
	}{
		{"no state dir", filepath.Join(base, "absent")},
		{"empty state dir", base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := OpenReadOnly(context.Background(), tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			all, err := l.All()
			if err != nil || len(all) != 0 {
				t.Fatalf("All = %v, %v; want empty", all, err)
			}
			if err := l.Put(rec(1, "a")); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("Put on read-only: %v, want ErrReadOnly", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(base)
			if len(entries) != 0 {
				t.Fatalf("read-only open created %v", entries)
			}
		})
	}
}

func TestOpenReadOnlyReadsAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(rec(3, "vm")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	db := filepath.Join(dir, DBFile)
	before, _ := os.ReadFile(db)
	fi0, _ := os.Stat(db)

	r1, err := OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Readers share: a second one opens while the first is held.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r2, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	for _, r := range []*Ledger{r1, r2} {
		all, err := r.All()
		if err != nil || len(all) != 1 || all[0].Owner != "vm" {
			t.Fatalf("All = %+v, %v", all, err)
		}
		if err := r.Delete(all[0]); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("Delete on read-only: %v", err)
		}
		r.Close()
	}
	after, _ := os.ReadFile(db)
	fi1, _ := os.Stat(db)
	if string(before) != string(after) || !fi0.ModTime().Equal(fi1.ModTime()) {
		t.Fatal("read-only open changed ledger.db")
	}
}

func TestOpenReadOnlyWaitIsBoundedByContext(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := OpenReadOnly(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read-only open while a writer holds the ledger: %v, want a deadline error", err)
	}
	w.Close()
	r, err := OpenReadOnly(context.Background(), dir)
	if err != nil {
		t.Fatalf("after the writer closed: %v", err)
	}
	// A writer waits for the reader in turn.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := Open(ctx2, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writer while a reader holds the ledger: %v", err)
	}
	r.Close()
}

// TestOpenReadOnlyAsNonRoot runs the read in a child process as nobody against a root-owned state dir
// that nobody can read but not write.
func TestOpenReadOnlyAsNonRoot(t *testing.T) {
	if dir := os.Getenv("LEDGER_TEST_RO_DIR"); dir != "" {
		l, err := OpenReadOnly(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		all, err := l.All()
		if err != nil || len(all) != 1 {
			t.Fatalf("All = %+v, %v", all, err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a root-owned state dir and run a child as nobody")
	}
	base, err := os.MkdirTemp("/tmp", "ledger-ro")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	dir := filepath.Join(base, "state")
	l, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Put(rec(1, "vm"))
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a private build dir; copy it where nobody can run it.
	bin := filepath.Join(base, "ledger.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenReadOnlyAsNonRoot$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LEDGER_TEST_RO_DIR="+dir)
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}
