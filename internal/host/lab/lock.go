package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockLab takes the lab's cross-process lock (flock on DIR/.lock): exclusive for writers, shared for
// readers. A wait for another process's lock ends when ctx does (Ctrl-C), which a plain blocking flock
// would not allow; the returned func releases the lock.
func lockLab(ctx context.Context, dir string, exclusive bool) (func(), error) {
	path := filepath.Join(dir, lockFile)
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if !exclusive && errors.Is(err, os.ErrPermission) {
		// A reader who may not write the lab (show, status, plan as a non-root user) still takes the
		// shared lock: flock works on a descriptor opened read-only.
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: lock: %w", dir, err)
	}
	release := func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}
	// The common case: nobody holds it.
	err = flockRetry(f, how|unix.LOCK_NB)
	if err == nil {
		return release, nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("lab %s: lock: %w", dir, err)
	}
	if err := ctx.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab %s: waiting for the lab's lock: %w", dir, err)
	}
	// Wait in a goroutine so that ctx can end the wait. A wait given up on still ends in the goroutine;
	// closing the file then drops the lock it got.
	done := make(chan error, 1)
	go func() { done <- flockRetry(f, how) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lab %s: lock: %w", dir, err)
		}
		return release, nil
	case <-ctx.Done():
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("lab %s: waiting for the lab's lock: %w", dir, ctx.Err())
	}
}

func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
