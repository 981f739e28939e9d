package statefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteFileKeepsModeAndOwner(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing os.FileMode // 0: no file
		uid, gid int
		perm     os.FileMode
		wantMode os.FileMode
	}{
		{"new file gets perm", 0, -1, -1, 0o644, 0o644},
		{"new private file", 0, -1, -1, 0o600, 0o600},
		{"existing 0640 stays 0640", 0o640, -1, -1, 0o644, 0o640},
		{"existing 0600 stays 0600", 0o600, -1, -1, 0o644, 0o600},
		{"existing foreign owner kept", 0o640, 1234, 5678, 0o644, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.uid >= 0 && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			path := filepath.Join(t.TempDir(), "nova.conf")
			if tc.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), tc.existing); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, tc.existing)
				if tc.uid >= 0 {
					if err := os.Chown(path, tc.uid, tc.gid); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := WriteFile(path, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(path); string(data) != "new" {
				t.Fatalf("content %q", data)
			}
			if fi.Mode().Perm() != tc.wantMode {
				t.Fatalf("mode %o, want %o", fi.Mode().Perm(), tc.wantMode)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if tc.uid >= 0 && (int(st.Uid) != tc.uid || int(st.Gid) != tc.gid) {
				t.Fatalf("owner %d:%d, want %d:%d", st.Uid, st.Gid, tc.uid, tc.gid)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Fatalf("temporary files left: %v", entries)
			}
		})
	}
}

func TestWriteAtomicRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	path := filepath.Join(dir, "state.json")
	os.Symlink(target, path)
	if err := WriteAtomic(path, []byte("x")); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteAtomic over a link: %v", err)
	}
	if _, err := ReadFile(path); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("ReadFile through a link: %v", err)
	}
	if data, _ := os.ReadFile(target); string(data) != "keep" {
		t.Fatal("target changed")
	}
}

func TestForeignOwnerIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	// A file owned by uid 1234 is neither root's nor the invoking user's.
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("x"), 0o644)
	os.Chown(path, 1234, 1234)
	if _, err := ReadFile(path); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "uid 1234") {
		t.Fatalf("ReadFile of a foreign file: %v", err)
	}
	sub := filepath.Join(dir, "state")
	os.Mkdir(sub, 0o755)
	os.Chown(sub, 1234, 1234)
	if err := EnsureDir(sub); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("EnsureDir of a foreign dir: %v", err)
	}
}

func TestEnsureDirCreatesAndChecks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "state")
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("%v %v", fi, err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(dir, link)
	if err := EnsureDir(link); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("EnsureDir of a link: %v", err)
	}
	if ok, err := CheckDir(filepath.Join(base, "none")); ok || err != nil {
		t.Fatalf("CheckDir of a missing dir: %v %v", ok, err)
	}
}

func TestLockSharedExclusiveAndBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	if _, err := AcquireLock(context.Background(), path, LockOptions{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only lock of a missing file: %v (must not create it)", err)
	}
	ex, err := AcquireLock(context.Background(), path, LockOptions{Exclusive: true, WritePID: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(context.Background(), path, LockOptions{NoWait: true}); !errors.Is(err, ErrLocked) {
		t.Fatalf("shared no-wait while exclusive: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := AcquireLock(ctx, path, LockOptions{ReadOnly: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shared wait while exclusive: %v", err)
	}
	if HolderPID(path) != strings.TrimSpace(strings.Fields(string(mustRead(t, path)))[0]) {
		t.Fatal("HolderPID disagrees with the file")
	}
	ex.Release()
	a, err := AcquireLock(context.Background(), path, LockOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := AcquireLock(context.Background(), path, LockOptions{NoWait: true})
	if err != nil {
		t.Fatalf("two shared holders: %v", err)
	}
	a.Release()
	b.Release()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
