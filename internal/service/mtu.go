package service

import (
	"context"
	"fmt"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// SetMTU sets a PF netdev's MTU (pf set --mtu), checked against the most the NIC allows. It is one
// undoable write; the VFs are not touched (their MTU is each VF driver's, bounded by the PF's).
func (s *Service) SetMTU(ctx context.Context, ref string, mtu int) (*Result, error) {
	return s.direct(ctx, "pf set", ref, func(p *sriov.PF) ([]change.Op, []string, error) {
		if mtu == p.MTU {
			return nil, nil, nil
		}
		if err := sriov.ValidateMTU("--mtu", mtu, nicprofile.ForDriver(p.Driver).MTULimit()); err != nil {
			fe := err.(*sriov.FieldError)
			fe.Allowed += fmt.Sprintf(" (the most %s allows)", p.Driver)
			return nil, nil, fe
		}
		return []change.Op{{Kind: change.KindMTU, PF: p.Name, VF: -1, From: change.Value{MTU: p.MTU}, To: change.Value{MTU: mtu},
			Reason: fmt.Sprintf("PF MTU %d -> %d", p.MTU, mtu)}}, nil, nil
	})
}
