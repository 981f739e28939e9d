package host

import (
	"context"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// MirrorRules is implemented by backends that can offload mirror rules into a switchdev eswitch (tc
// flower + mirred on VF representors). Observe reports the rules in sriov.PF.MirrorRules. Backends
// without it cannot apply the switchdev-tc mirror strategy.
type MirrorRules interface {
	// AddMirrorRule installs r on pf; the PF must be in switchdev mode (EOPNOTSUPP otherwise) and r's name
	// must be new (EEXIST).
	AddMirrorRule(ctx context.Context, pf string, r sriov.MirrorRule) error
	// DeleteMirrorRule removes the rule named name (ENOENT if there is none).
	DeleteMirrorRule(ctx context.Context, pf string, name string) error
}
