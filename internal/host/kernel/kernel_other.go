//go:build !linux

package kernel

import (
	"fmt"

	"github.com/sriovctl/sriovctl/internal/host"
)

// New fails off Linux: SR-IOV is managed through Linux's sysfs and rtnetlink.
func New(Options) (*Host, error) {
	return nil, fmt.Errorf("%w: SR-IOV needs Linux; use --lab DIR for an emulated host", host.ErrUnavailable)
}
