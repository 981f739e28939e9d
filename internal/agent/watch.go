package agent

import (
	"context"
	"os"
	"time"
)

// FilePoller kicks when a file changes: its inode, size or modification time. The lab replaces its
// state file atomically on every write, so a stat every Interval sees each change for the cost of one
// stat call, on any filesystem (inotify misses changes on some network and overlay mounts).
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
