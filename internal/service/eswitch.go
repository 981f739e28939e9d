package service

import (
	"context"
	"fmt"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// SetEswitchMode switches pf's eswitch between legacy and switchdev (devlink on a real host). Most
// drivers change mode only without VFs, so a PF with VFs goes through 0 like a resize: its VFs are
// removed (a disruptive write, refused without force, and for VFs handed to owners), the mode is set, the
// VFs are created again and get their settings and drivers back, all journaled and undone on failure.
func (s *Service) SetEswitchMode(ctx context.Context, ref, mode string, force bool) (*Result, error) {
	return s.direct(ctx, "pf set", ref, func(p *sriov.PF) ([]change.Op, []string, error) {
		if mode != "legacy" && mode != "switchdev" {
			return nil, nil, &sriov.FieldError{Field: "--eswitch-mode", Value: mode, Allowed: "allowed legacy or switchdev"}
		}
		if p.EswitchMode == mode {
			return nil, nil, nil
		}
		prof := nicprofile.ForDriver(p.Driver)
		if p.EswitchMode == "" || !prof.Switchdev {
			return nil, nil, host.Errorf("pf set --eswitch-mode "+mode, syscall.EOPNOTSUPP, "%s (%s) has no switchdev eswitch", p.Name, p.Driver)
		}
		setMode := change.Op{Kind: change.KindEswitchMode, PF: p.Name, VF: -1, From: change.Value{Mode: p.EswitchMode},
			To: change.Value{Mode: mode}, Reason: "eswitch mode " + p.EswitchMode + " -> " + mode}
		if p.NumVFs == 0 {
			return []change.Op{setMode}, nil, nil
		}
		if err := s.refuseAssigned(ctx, "pf set", fmt.Sprintf("--eswitch-mode %s (goes through 0 VFs)", mode), p, nil, force); err != nil {
			return nil, nil, err
		}
		if !force {
			return nil, nil, &UsageError{What: "--eswitch-mode", Msg: fmt.Sprintf("%s has %d VFs and its eswitch mode changes only without VFs: going through 0 removes VFs %s and creates them again with their settings; rerun with --force",
				p.Name, p.NumVFs, describeLoss(p))}
		}
		n := p.NumVFs
		ops := []change.Op{
			{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: n}, To: change.Value{NumVFs: 0},
				PriorVFs: p.VFs, Disruptive: true, Reason: "the eswitch mode changes only without VFs"},
			setMode,
			{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: 0}, To: change.Value{NumVFs: n},
				Reason: "create the VFs again in " + mode + " mode"},
		}
		why := "restore after the eswitch mode change"
		for _, vf := range p.VFs {
			fresh := sriov.VF{ID: vf.ID, VFConfig: prof.FreshVFConfig(), Driver: prof.VFDriver}
			ops = append(ops, change.Diff(p.Name, fresh, vf.VFConfig, why)...)
			if vf.Driver != prof.VFDriver {
				ops = append(ops, change.Op{Kind: change.KindDriver, PF: p.Name, VF: vf.ID, From: change.Value{Driver: prof.VFDriver},
					To: change.Value{Driver: vf.Driver}, Reason: why})
			}
		}
		return ops, nil, nil
	})
}
