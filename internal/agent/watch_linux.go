package agent

import (
	"context"
	"io/fs"
	"syscall"

	"github.com/vishvananda/netlink"
)

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// LinkWatcher kicks on every rtnetlink link notification: a PF or VF netdev appearing, disappearing or
// changing (VF attributes are reported as changes of the PF's link). The kernel reports each, so a
// numvfs write of 64 VFs is a burst of notifications that the agent merges into one observation.
type LinkWatcher struct{}

// Watch implements Watcher.
func (LinkWatcher) Watch(ctx context.Context, kick func()) error {
	ch := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	errs := make(chan error, 1)
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			kick() // whatever was lost, look again
			return err
		case _, ok := <-ch:
			if !ok {
				return nil
			}
			kick()
		}
	}
}
