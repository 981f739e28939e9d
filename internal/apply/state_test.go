package apply_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

// TestLockNeverTruncatesOrFollowsLinks: a link planted at apply.lock is refused and its target left
// alone; a lock file's other content is overwritten only by the pid, never truncated.
func TestLockNeverTruncatesOrFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(target, []byte("keep me whole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, apply.LockFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Acquire(dir, true); !errors.Is(err, statefile.ErrUntrusted) || !strings.Contains(err.Error(), apply.LockFile) {
		t.Fatalf("Acquire through a link: %v", err)
	}
	if data, _ := os.ReadFile(target); string(data) != "keep me whole\n" {
		t.Fatalf("the link's target became %q", data)
	}

	// A hard link is refused too: writing the pid would change the other name's content.
	dir2 := t.TempDir()
	if err := os.Link(target, filepath.Join(dir2, apply.LockFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Acquire(dir2, true); !errors.Is(err, statefile.ErrUntrusted) {
		t.Fatalf("Acquire of a hard-linked lock file: %v", err)
	}

	dir3 := t.TempDir()
	lockPath := filepath.Join(dir3, apply.LockFile)
	long := strings.Repeat("x", 100)
	if err := os.WriteFile(lockPath, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := apply.Acquire(dir3, true)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(lockPath)
	if len(data) != len(long) || !strings.HasPrefix(string(data), strconv.Itoa(os.Getpid())) {
		t.Fatalf("lock file after Acquire: %q", data)
	}
	if _, err := apply.Acquire(dir3, true); !errors.Is(err, apply.ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Acquire: %v, want ErrLocked naming our pid", err)
	}
	l.Release()
	if data, _ := os.ReadFile(lockPath); len(data) != len(long) {
		t.Fatalf("Release truncated the lock file to %q", data)
	}
}

func TestStateDirLinkIsRefused(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Acquire(link, true); !errors.Is(err, statefile.ErrUntrusted) || !strings.Contains(err.Error(), link) {
		t.Fatalf("Acquire in a linked state dir: %v", err)
	}
	if err := apply.StoreDesired(link, []byte("pfs: []\n")); !errors.Is(err, statefile.ErrUntrusted) {
		t.Fatalf("StoreDesired in a linked state dir: %v", err)
	}
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Fatalf("wrote through the link: %v", entries)
	}
}

func TestDamagedJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := apply.Begin(dir, apply.Header{What: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := j.Next(i); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	path := filepath.Join(dir, apply.JournalFile)
	good, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(good), "\n")
	for _, tc := range []struct {
		name    string
		content string
		next    int // -2: damaged
	}{
		{"whole", string(good), 2},
		{"torn last line", strings.Join(lines[:3], "") + lines[3][:4], 1},
		{"zero-length", "", -2},
		{"torn header", lines[0][:len(lines[0])/2], -2},
		{"garbage line in the middle", lines[0] + "\x00garbage\n" + strings.Join(lines[2:], ""), -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := apply.LoadJournal(dir)
			if tc.next == -2 {
				if err == nil || p != nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "sriovctl status") {
					t.Fatalf("LoadJournal = %+v, %v; want an error naming %s and the way back", p, err, path)
				}
				return
			}
			if err != nil || p == nil || p.Next != tc.next {
				t.Fatalf("LoadJournal = %+v, %v; want next %d", p, err, tc.next)
			}
		})
	}
}

func TestDamagedDesiredState(t *testing.T) {
	const pol = "pfs:\n  - name: eth0\n    numVfs: 4\n  - name: eth1\n    numVfs: 2\n"
	for _, tc := range []struct {
		name   string
		damage func(data string) string
	}{
		{"truncated after a whole line", func(d string) string { return pol[:strings.Index(pol, "  - name: eth1")] }},
		{"truncated inside the seal", func(d string) string { return d[:len(d)-10] }},
		{"zero-length", func(string) string { return "" }},
		{"a byte changed", func(d string) string { return strings.Replace(d, "numVfs: 4", "numVfs: 8", 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := apply.StoreDesired(dir, []byte(pol)); err != nil {
				t.Fatal(err)
			}
			d, err := apply.LoadDesired(dir)
			if err != nil || string(d.Policy) != pol {
				t.Fatalf("LoadDesired of what was stored: %+v, %v", d, err)
			}
			path := filepath.Join(dir, apply.DesiredFile)
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, []byte(tc.damage(string(data))), 0o600); err != nil {
				t.Fatal(err)
			}
			d, err = apply.LoadDesired(dir)
			if err == nil || d != nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "apply -f") {
				t.Fatalf("LoadDesired = %+v, %v; want an error naming %s and the way back", d, err, path)
			}
		})
	}
}

// TestUnsealedDesiredStateStillReads: a desired.yaml stored by an earlier sriovctl (no seal, no sealed
// flag) reads as it is, and storing it again seals it.
func TestUnsealedDesiredStateStillReads(t *testing.T) {
	dir := t.TempDir()
	const pol = "pfs: []\n"
	os.WriteFile(filepath.Join(dir, apply.DesiredFile), []byte(pol), 0o600)
	os.WriteFile(filepath.Join(dir, "desired.json"), []byte(`{"stored":"2026-01-01T00:00:00Z"}`), 0o600)
	d, err := apply.LoadDesired(dir)
	if err != nil || string(d.Policy) != pol {
		t.Fatalf("%+v, %v", d, err)
	}
	if err := apply.StoreDesired(dir, []byte(pol)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, apply.DesiredFile)); !strings.Contains(string(data), "sriovctl-seal") {
		t.Fatalf("not sealed: %q", data)
	}
}
