//go:build !linux

package kernel

import (
	"net"
	"syscall"
)

// linkSetMTU: rtnetlink exists on Linux only.
func linkSetMTU(int, int) error { return syscall.EOPNOTSUPP }

// linkSetAddress: rtnetlink exists on Linux only.
func linkSetAddress(int, net.HardwareAddr) error { return syscall.EOPNOTSUPP }
