//go:build !linux

package agent

import (
	"context"
	"errors"
	"io/fs"
)

func inode(fs.FileInfo) uint64 { return 0 }

// LinkWatcher needs rtnetlink: Linux only.
type LinkWatcher struct{}

// Watch implements Watcher.
func (LinkWatcher) Watch(ctx context.Context, kick func()) error {
	return errors.New("link notifications need Linux")
}
