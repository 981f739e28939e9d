package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Result is what a direct change (pf set, vf set, vf bind) did.
type Result struct {
	PF string `json:"pf"`
	// VF is the VF changed, -1 for a PF-level change.
	VF int `json:"vf"`
	// Ops are the planned writes, in order.
	Ops []change.Op `json:"ops"`
	// Writes counts the forward writes made (all of Ops on success).
	Writes int `json:"writes"`
	// Before is the PF as observed before the change.
	Before *sriov.PF `json:"-"`
	// Recovered is what was recovered first (killed commands), if anything.
	Recovered *Recovered `json:"recovered,omitempty"`
	// Notes explain what the user may not expect (igb's MAC needing a VF driver reload).
	Notes []string `json:"notes,omitempty"`
}

// FindPF resolves a PF reference (netdev, PCI address, devlink handle or lspci's short form: package
// devref) or returns an input error naming the PFs that exist.
func FindPF(st *sriov.Host, field, ref string) (*sriov.PF, error) {
	return devref.PF(st, field, ref)
}

// direct runs one direct change: lock and recover, observe, plan with fn (which validates and returns
// the operations), then execute them journaled.
func (s *Service) direct(ctx context.Context, what, ref string, fn func(p *sriov.PF) ([]change.Op, []string, error)) (*Result, error) {
	ss, err := s.begin(ctx, what, false)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	st, err := host.ObserveOne(ctx, s.host, ref)
	if err != nil {
		return nil, fmt.Errorf("observe host: %w", err)
	}
	p, err := FindPF(st, "PF", ref)
	if err != nil {
		return nil, err
	}
	ops, notes, err := fn(p)
	res := &Result{PF: p.Name, VF: -1, Ops: ops, Before: p, Notes: notes}
	if !ss.recovered.Empty() {
		res.Recovered = ss.recovered
	}
	if err != nil {
		return res, err
	}
	if res.Ops == nil {
		res.Ops = []change.Op{}
	}
	r, err := s.runFrom(ctx, what, st, ops) // st is still the host: planned from it under the lock
	res.Writes = r.Writes
	if err != nil {
		return res, fmt.Errorf("%s: %w", what, err)
	}
	return res, nil
}

// SetNumVFs sets pf's VF count. An enabled PF resizes only through 0, which destroys every VF: without
// force that is refused (UsageError), as is destroying VFs handed to owners (AssignedError). Both numvfs
// writes of a forced resize are journaled: a kill between them is undone by recovery.
func (s *Service) SetNumVFs(ctx context.Context, ref string, n int, force bool) (*Result, error) {
	return s.direct(ctx, "pf set", ref, func(p *sriov.PF) ([]change.Op, []string, error) {
		if err := sriov.ValidateNumVFs("--numvfs", n, p.TotalVFs); err != nil {
			return nil, nil, err
		}
		if n == p.NumVFs {
			return nil, nil, nil
		}
		// Any change of an enabled PF's count destroys its VFs (through 0, or to 0).
		if p.NumVFs > 0 {
			if err := s.refuseAssigned(ctx, "pf set", fmt.Sprintf("--numvfs %d (destroys every VF)", n), p, nil, force); err != nil {
				return nil, nil, err
			}
		}
		numvfs := func(from, to int, prior []sriov.VF, reason string) change.Op {
			return change.Op{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: from}, To: change.Value{NumVFs: to},
				PriorVFs: prior, Disruptive: from > 0 && to == 0, Reason: reason}
		}
		switch {
		case p.NumVFs > 0 && n > 0:
			if !force {
				return nil, nil, &UsageError{What: "--numvfs", Msg: fmt.Sprintf("%s has %d VFs and the kernel resizes only through 0, destroying the configuration of VFs %s; rerun with --force to go through 0",
					p.Name, p.NumVFs, describeLoss(p))}
			}
			return []change.Op{numvfs(p.NumVFs, 0, p.VFs, "resize goes through 0"), numvfs(0, n, nil, "resize")}, nil, nil
		case n == 0:
			return []change.Op{numvfs(p.NumVFs, 0, p.VFs, "remove every VF")}, nil, nil
		}
		return []change.Op{numvfs(0, n, nil, fmt.Sprintf("create %d VFs", n))}, nil, nil
	})
}

// describeLoss lists a PF's VFs, marking those whose configuration differs from a fresh VF's.
func describeLoss(p *sriov.PF) string {
	def := sriov.DefaultVFConfig()
	var configured []string
	for _, v := range p.VFs {
		if v.VFConfig != def {
			configured = append(configured, fmt.Sprint(v.ID))
		}
	}
	s := fmt.Sprintf("0-%d", p.NumVFs-1)
	if len(configured) > 0 {
		s += " (configured: " + strings.Join(configured, ",") + ")"
	}
	return s
}

// VFRequest is a `vf set`.
type VFRequest struct {
	PF       string
	VF       int
	Settings sriov.VFSettings
	// ReloadDriver unbinds and rebinds the VF's netdev driver so that its netdev takes a new admin MAC.
	ReloadDriver bool
	// Force changes a VF handed to an owner.
	Force bool
}

// CheckVFChange validates a whole resulting configuration (cross-field rules) and predicts the driver's
// refusals from its profile, so that nothing is written when any part would fail. Input errors are
// *sriov.FieldError; a predicted driver refusal is an operational error.
func CheckVFChange(p *sriov.PF, id int, cur, want sriov.VFConfig) error {
	if want.QoS != 0 && want.VLAN == 0 {
		return &sriov.FieldError{Field: "--qos", Value: fmt.Sprint(want.QoS), Allowed: "a QoS priority needs a VLAN (--vlan 1-4094)"}
	}
	if err := sriov.ValidateRates("--min-tx-rate", want.MinTxRateMbps, "--max-tx-rate", want.MaxTxRateMbps); err != nil {
		return err
	}
	if err := nicprofile.ForDriver(p.Driver).CheckChangeIn(p.EswitchMode, p.Name, id, cur, want); err != nil {
		return fmt.Errorf("vf set: %w", err)
	}
	return nil
}

// SetVF changes a VF's attributes (only those named). With ReloadDriver, the VF is unbound before the
// writes and bound again after them (igb applies an admin MAC to a bound netdev only then), ordered as
// the planner orders them, so that an undo also writes the old MAC while the VF is unbound. Without it, a
// new MAC on a VF that ends trusted reaches its netdev by the netdev's own address write where the NIC
// allows it (igb), as in a plan; otherwise a note says a reload is needed.
func (s *Service) SetVF(ctx context.Context, req VFRequest) (*Result, error) {
	res, err := s.direct(ctx, "vf set", req.PF, func(p *sriov.PF) ([]change.Op, []string, error) {
		id := req.VF
		if err := sriov.ValidateVFID("VF", id, p.NumVFs); err != nil {
			return nil, nil, err
		}
		if err := s.refuseAssigned(ctx, "vf set", fmt.Sprintf("vf %d", id), p, []int{id}, req.Force); err != nil {
			return nil, nil, err
		}
		vf := p.VF(id)
		if vf == nil {
			return nil, nil, fmt.Errorf("vf set: VF %d of %s is not reported by the host", id, p.Name)
		}
		want := req.Settings.ApplyTo(vf.VFConfig)
		if err := CheckVFChange(p, id, vf.VFConfig, want); err != nil {
			return nil, nil, err
		}
		ops := change.Diff(p.Name, *vf, want, "vf set")
		prof := nicprofile.ForDriver(p.Driver)
		if req.ReloadDriver {
			ops = change.ReloadAround(p.Name, prof, *vf, want, ops, "reload VF driver")
		}
		var notes []string
		macChanged := req.Settings.MAC != nil && *req.Settings.MAC != vf.MAC
		switch {
		case !macChanged || !prof.MACNeedsVFReload || vf.Driver != prof.VFDriver || req.ReloadDriver:
		case change.OwnMACWrite(prof, *vf, want, false):
			// A VF that ends trusted takes the MAC by its netdev's address write, as the planner does it.
			ops = append(ops, change.NetdevMACOp(p.Name, *vf, want.MAC, "vf set: the trusted VF's netdev takes MAC "+want.MAC+" (no "+prof.VFDriver+" reload)")...)
		default:
			notes = append(notes, fmt.Sprintf("%s: %q; the VF netdev %s keeps its old MAC until the VF driver is reloaded: rerun with --reload-vf-driver",
				p.Driver, prof.MACNotice, vf.Netdev))
		}
		if macChanged && want.MAC != sriov.ZeroMAC && prof.DuplicateMAC == nicprofile.DuplicateMACRefused {
			// The NIC would refuse it (mlx5: EEXIST); say so without a write to undo.
			for _, o := range p.VFs {
				if o.ID != id && strings.EqualFold(o.MAC, want.MAC) {
					why := "duplicate MAC refused"
					if prof.DuplicateMACRefusal != nil {
						why = prof.DuplicateMACRefusal.Message
					}
					return nil, nil, fmt.Errorf("vf set: %s vf %d: MAC %s is vf %d's already and %s refuses a MAC two VFs share (%s); nothing was changed", p.Name, id, want.MAC, o.ID, p.Driver, why)
				}
			}
		}
		if macChanged {
			groups, err := s.mirrorGroups()
			if err != nil {
				return nil, nil, err
			}
			if ids := mirror.SharedMACVFs(p, prof, id, want.MAC, groups); ids != nil {
				notes = append(notes, mirror.SharedMACNote(p, prof, want.MAC, ids))
			}
		}
		return ops, notes, nil
	})
	if res != nil {
		res.VF = req.VF
	}
	return res, err
}

// BindVF binds a VF to driver: a driver name, "default" (the VF driver of the PF's NIC profile) or
// "none" (unbound). Binding to the driver it has changes nothing.
func (s *Service) BindVF(ctx context.Context, ref string, id int, driver string, force bool) (*Result, error) {
	res, err := s.direct(ctx, "vf bind", ref, func(p *sriov.PF) ([]change.Op, []string, error) {
		if err := sriov.ValidateVFID("VF", id, p.NumVFs); err != nil {
			return nil, nil, err
		}
		if err := s.refuseAssigned(ctx, "vf bind", fmt.Sprintf("vf %d", id), p, []int{id}, force); err != nil {
			return nil, nil, err
		}
		switch driver {
		case "none":
			driver = ""
		case "default":
			driver = nicprofile.ForDriver(p.Driver).VFDriver
			if driver == "" {
				return nil, nil, &UsageError{What: "DRIVER", Msg: fmt.Sprintf("no default VF driver is known for PF driver %s; name the driver", p.Driver)}
			}
		}
		from := ""
		if vf := p.VF(id); vf != nil {
			from = vf.Driver
		}
		if from == driver {
			return nil, nil, nil
		}
		return []change.Op{{Kind: change.KindDriver, PF: p.Name, VF: id, From: change.Value{Driver: from}, To: change.Value{Driver: driver}, Reason: "vf bind"}}, nil, nil
	})
	if res != nil {
		res.VF = id
	}
	return res, err
}
