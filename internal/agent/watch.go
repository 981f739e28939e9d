package agent

import (
	"context"
	"os"
	"time"
)

// FilePoller kicks when a file changes: its inode, size or modification time (the agent watches the
// stored desired state with it). Writers replace the file atomically, so a stat every Interval sees each
// change for the cost of one stat call, on any filesystem (inotify misses changes on some network and
// overlay mounts).
type FilePoller struct {
	Path     string
	Interval time.Duration
}

// Watch implements Watcher.
func (p FilePoller) Watch(ctx context.Context, kick func()) error {
	iv := p.Interval
	if iv <= 0 {
		iv = 200 * time.Millisecond
	}
	last := statSig(p.Path)
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if s := statSig(p.Path); s != last {
				last = s
				kick()
			}
		}
	}
}

type fileSig struct {
	ino   uint64
	size  int64
	mtime time.Time
	ok    bool
}

func statSig(path string) fileSig {
	fi, err := os.Stat(path)
	if err != nil {
		return fileSig{}
	}
	return fileSig{ino: inode(fi), size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// GenerationPoller kicks when a generation number changes: the lab's (lab.Lab.Generation), which every
// change of the emulated host bumps and traffic counters do not. One read of it costs the same for any
// lab size. A read that fails kicks too (look again), and is retried at the next interval.
type GenerationPoller struct {
	Generation func(ctx context.Context) (uint64, error)
	Interval   time.Duration
}

// Watch implements Watcher.
func (p GenerationPoller) Watch(ctx context.Context, kick func()) error {
	iv := p.Interval
	if iv <= 0 {
		iv = 200 * time.Millisecond
	}
	last, lastErr := p.Generation(ctx)
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g, err := p.Generation(ctx)
			if g != last || (err != nil) != (lastErr != nil) {
				kick()
			}
			last, lastErr = g, err
		}
	}
}
