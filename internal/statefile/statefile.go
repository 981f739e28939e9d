// Package statefile holds the file primitives durable state needs, in one place so that every writer gets
// them right:
//
//   - WriteFile/WriteAtomic: an atomic, power-loss-safe replace (temporary file in the same directory,
//     fsync, rename, fsync of the directory); an existing file keeps its mode, owner and group.
//   - SyncDir: make a directory entry change (create, rename, remove) durable.
//   - EnsureDir/CheckDir: the state directory, created with its parent synced, and refused when it is a
//     symbolic link or owned by someone other than the invoking user or root.
//   - Open/ReadFile: state files opened without following links (O_NOFOLLOW), refused unless they are
//     regular files owned by the invoking user or root.
//   - Lock/WithLock: an advisory flock shared by every sriovctl process, retried on EINTR, its wait bounded
//     by a context; the lock file is never truncated.
//
// Errors about damaged or hostile files name the file.
package statefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by Lock with noWait when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

// ErrUntrusted wraps every refusal of a state path that is a link, not a regular file or directory, or
// owned by someone else.
var ErrUntrusted = errors.New("refusing untrusted state path")

// trustedOwner reports whether uid may own state files: the invoking user or root (a root-owned state
// dir is the normal case for a non-root reader).
func trustedOwner(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

func untrusted(path, why string) error {
	return fmt.Errorf("%w: %s %s", ErrUntrusted, path, why)
}

// checkInfo refuses what a state path must not be: a link, the wrong kind of file, a foreign owner.
func checkInfo(path string, fi os.FileInfo, wantDir bool) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return untrusted(path, "is a symbolic link")
	case wantDir && !fi.IsDir():
		return untrusted(path, "is not a directory")
	case !wantDir && !fi.Mode().IsRegular():
		return untrusted(path, "is not a regular file")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && !trustedOwner(st.Uid) {
		return untrusted(path, fmt.Sprintf("is owned by uid %d, not by the invoking user (uid %d) or root", st.Uid, os.Geteuid()))
	}
	return nil
}

// CheckDir checks an existing state directory; a missing one reports false and no error.
func CheckDir(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, checkInfo(dir, fi, true)
}

// EnsureDir creates the state directory if missing (mode 0755, and its parent synced so that the new
// entry survives a power loss) and checks it.
func EnsureDir(dir string) error {
	ok, err := CheckDir(dir)
	if err != nil || ok {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := SyncDir(parent); err != nil {
		return err
	}
	_, err = CheckDir(dir)
	return err
}

// Open opens a state file without following a link at its last component and checks what it opened: a
// regular file owned by the invoking user or root; opened for writing, also with a single link (a hard
// link planted in the state dir could otherwise point anywhere).
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if errors.Is(err, unix.ELOOP) {
		return nil, untrusted(path, "is a symbolic link")
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkInfo(path, fi, false)
	}
	if err == nil && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			err = untrusted(path, "has more than one hard link")
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// maxStateFile caps what ReadFile reads: state files are small, a huge one is damage.
const maxStateFile = 256 << 20

// ReadFile reads a state file through Open. A missing file's error wraps os.ErrNotExist.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err == nil && len(data) > maxStateFile {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxStateFile)
	}
	return data, err
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in it survive a power loss.
// Filesystems that cannot sync a directory (EINVAL) have nothing to sync.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// WriteAtomic replaces the state file at path with data. A crash or power loss at any point leaves the
// old or the new content. A path that is a link or a foreign file is refused. New files are 0644: read
// commands (status, plan) work for users who can read the state dir, and these files hold no secrets.
func WriteAtomic(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil {
		if err := checkInfo(path, fi, false); err != nil {
			return err
		}
	}
	return WriteFile(path, data, 0o644)
}

// WriteFile replaces path with data atomically and durably: a temporary file in the same directory is
// written and fsynced, renamed over path, and the directory fsynced. An existing regular file keeps its
// mode, owner and group (a config file holding passwords stays 0640 root:nova); a new file gets perm.
// A symbolic link at path is replaced by the file, its target left alone.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	mode, uid, gid := perm, -1, -1
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	err = tmp.Chmod(mode)
	if err == nil && uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		err = tmp.Chown(uid, gid)
		if err == nil {
			err = tmp.Chmod(mode) // chown clears setuid/setgid bits
		}
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// Lock is a held flock.
type Lock struct{ f *os.File }

// LockOptions say how to take a lock.
type LockOptions struct {
	// Exclusive for writers; shared for readers.
	Exclusive bool
	// NoWait fails with ErrLocked instead of waiting.
	NoWait bool
	// ReadOnly opens the lock file read-only and never creates it; a missing file reports os.ErrNotExist
	// (nobody has written the state yet).
	ReadOnly bool
	// WritePID records the holder's pid in the file, overwriting in place, never truncating.
	WritePID bool
}

// pidWidth is the fixed width of the recorded pid, so that a shorter pid overwrites a longer one whole.
const pidWidth = 11

// AcquireLock takes the flock on the lock file at path, waiting until it is free or ctx ends (the kernel
// restarts a blocking flock after a signal, so the wait runs in a goroutine that ctx can abandon).
func AcquireLock(ctx context.Context, path string, o LockOptions) (*Lock, error) {
	flag, perm := os.O_RDWR|os.O_CREATE, os.FileMode(0o644)
	if o.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := Open(path, flag, perm)
	if err != nil && !o.Exclusive && !o.ReadOnly && (errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS)) {
		f, err = Open(path, os.O_RDONLY, 0) // a reader without write access to the state dir
	}
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if o.Exclusive {
		how = unix.LOCK_EX
	}
	if o.NoWait {
		how |= unix.LOCK_NB
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.Flock(int(f.Fd()), how)
			if !errors.Is(err, unix.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Closing the file releases the lock should the flock still succeed.
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if o.WritePID {
		pid := fmt.Sprintf("%-*d\n", pidWidth-1, os.Getpid())
		if _, err := f.WriteAt([]byte(pid), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: recording pid: %w", path, err)
		}
	}
	return &Lock{f: f}, nil
}

// HolderPID reads the pid recorded in the lock file at path ("" when none is readable).
func HolderPID(path string) string {
	f, err := Open(path, os.O_RDONLY, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, pidWidth)
	n, _ := f.ReadAt(buf, 0)
	var digits []byte
	for _, c := range buf[:n] {
		if c < '0' || c > '9' {
			break
		}
		digits = append(digits, c)
	}
	if _, err := strconv.Atoi(string(digits)); err != nil {
		return ""
	}
	return string(digits)
}

// Release drops the lock. The file stays, untouched: truncating it would race the next holder.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	err := l.f.Close()
	l.f = nil
	return err
}

// WithLock runs fn holding the lock file at path (created if missing): exclusive for writers, shared for
// readers.
func WithLock(path string, exclusive bool, fn func() error) error {
	l, err := AcquireLock(context.Background(), path, LockOptions{Exclusive: exclusive})
	if err != nil {
		return err
	}
	defer l.Release()
	return fn()
}
