//go:build !linux

package kernel

import "syscall"

// linkSetMTU: rtnetlink exists on Linux only.
func linkSetMTU(int, int) error { return syscall.EOPNOTSUPP }
