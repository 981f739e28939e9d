package lab

import (
	"context"
	"fmt"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

var _ host.MirrorRules = (*Lab)(nil)

// AddMirrorRule offloads a mirror rule into a PF's switchdev eswitch, as tc flower + mirred filters on
// the representors would: it needs switchdev mode (EOPNOTSUPP in legacy mode, as tc offload to a legacy
// eswitch fails), existing VFs (ENODEV for a missing representor) and a new name (EEXIST).
func (l *Lab) AddMirrorRule(ctx context.Context, ref string, r sriov.MirrorRule) error {
	op := fmt.Sprintf("add mirror rule %s on %s", r.Name, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, err := t.pf(op, ref)
		if err != nil {
			return err
		}
		if p.EswitchMode != "switchdev" {
			return host.Errorf(op, syscall.EOPNOTSUPP, "%s: eswitch is in %s mode; tc mirred offload needs switchdev", profileOf(p).Driver, modeName(p.EswitchMode))
		}
		for _, id := range r.VFs {
			if id < 0 || id >= p.NumVFs {
				return host.Errorf(op, syscall.ENODEV, "no representor for VF %d", id)
			}
		}
		for _, o := range p.MirrorRules {
			if o.Name == r.Name {
				return host.Errorf(op, syscall.EEXIST, "a mirror rule %s already exists", r.Name)
			}
		}
		r.VFs = append([]int(nil), r.VFs...)
		p.MirrorRules = append(p.MirrorRules, r)
		return t.putPF(p)
	})
}

// DeleteMirrorRule removes a mirror rule by name (ENOENT when there is none).
func (l *Lab) DeleteMirrorRule(ctx context.Context, ref, name string) error {
	op := fmt.Sprintf("delete mirror rule %s on %s", name, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, err := t.pf(op, ref)
		if err != nil {
			return err
		}
		for i, o := range p.MirrorRules {
			if o.Name == name {
				p.MirrorRules = append(p.MirrorRules[:i], p.MirrorRules[i+1:]...)
				return t.putPF(p)
			}
		}
		return host.Errorf(op, syscall.ENOENT, "no mirror rule %s", name)
	})
}

func modeName(m string) string {
	if m == "" {
		return "legacy (no switchdev)"
	}
	return m
}
