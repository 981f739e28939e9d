package lab

import (
	"context"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Batched is the lab seen through the kernel backend's batching (host.VFBatcher): SetVFAttrs applies the
// groups in the kernel's order, each through the lab's own setter (one mutating operation each, so that
// a fault can refuse any of them), stops at the first refusal keeping what it applied, as the kernel does
// with one RTM_SETLINK, and reads the VF back; binds may run concurrently, up to Concurrent. It lets tests
// run the batched executor of package change, rollback included, against the lab's drivers and faults.
// The lab itself does not batch: its fault injection counts operations one by one.
type Batched struct {
	*Lab
	Concurrent int
}

var _ host.VFBatcher = Batched{}

// ConcurrentBinds returns Concurrent (at least 1).
func (b Batched) ConcurrentBinds() int { return max(1, b.Concurrent) }

// SetVFAttrs writes a's groups one by one in the kernel's order.
func (b Batched) SetVFAttrs(ctx context.Context, pf string, vf int, a host.VFAttrs) (*sriov.VFConfig, error) {
	steps := []struct {
		set bool
		do  func() error
	}{
		{a.MAC != nil, func() error { return b.SetVFMAC(ctx, pf, vf, *a.MAC) }},
		{a.VLAN != nil, func() error { return b.SetVFVLAN(ctx, pf, vf, a.VLAN.VLAN, a.VLAN.QoS, a.VLAN.Proto) }},
		{a.Rate != nil, func() error { return b.SetVFRate(ctx, pf, vf, a.Rate.MinMbps, a.Rate.MaxMbps) }},
		{a.SpoofCheck != nil, func() error { return b.SetVFSpoofCheck(ctx, pf, vf, *a.SpoofCheck) }},
		{a.LinkState != nil, func() error { return b.SetVFLinkState(ctx, pf, vf, *a.LinkState) }},
		{a.QueryRSS != nil, func() error { return b.SetVFQueryRSS(ctx, pf, vf, *a.QueryRSS) }},
		{a.Trust != nil, func() error { return b.SetVFTrust(ctx, pf, vf, *a.Trust) }},
	}
	for _, s := range steps {
		if !s.set {
			continue
		}
		if err := s.do(); err != nil {
			st, oerr := b.Observe(context.WithoutCancel(ctx))
			if oerr != nil {
				return nil, err
			}
			if p := st.FindPF(pf); p != nil {
				if v := p.VF(vf); v != nil {
					c := v.VFConfig
					return &c, err
				}
			}
			return nil, err
		}
	}
	return nil, nil
}
