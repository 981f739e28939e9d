//go:build !linux

package kernel

import "github.com/sriovctl/sriovctl/internal/sriov"

// observeMirrorRules: tc mirror rules exist on Linux only.
func (h *Host) observeMirrorRules(string, map[int]string) ([]sriov.MirrorRule, error) {
	return nil, nil
}
