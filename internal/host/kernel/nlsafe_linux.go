package kernel

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// Since v1.2.1 vishvananda/netlink returns netlink.ErrDumpInterrupted, together with possibly
// inconsistent data, when the kernel flags a dump that changed while it was read (NLM_F_DUMP_INTR).
// Every netlink read of this package goes through retryInterrupted, the one place that handles it:
// retry a few times, then give up with the error.

const dumpRetries = 5

func retryInterrupted[T any](f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpRetries {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
