package mirror

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// CheckError says the applied group did not pass the model's check; the host was rolled back.
type CheckError struct {
	Group      string
	MAC        string
	Missing    []int
	Prediction eswitch.Result
	Unrestored []string
}

func (e *CheckError) Error() string {
	why := e.Prediction.Reason
	var about []string
	for _, st := range e.Prediction.Steps {
		for _, id := range e.Missing {
			if strings.Contains(st, fmt.Sprintf("VF %d ", id)) || strings.Contains(st, fmt.Sprintf("VF %d:", id)) {
				about = append(about, st)
				break
			}
		}
	}
	if len(about) > 0 {
		why = strings.Join(about, "; ")
	}
	msg := fmt.Sprintf("mirror %s: after applying, the switch model predicts that frames to %s do not reach VF %s (%s)",
		e.Group, e.MAC, joinIDs(e.Missing), why)
	if len(e.Unrestored) > 0 {
		return msg + "; could NOT restore: " + strings.Join(e.Unrestored, "; ")
	}
	return msg + "; host restored to its prior state"
}

// Observed is the observed PF a group lives on, with its profile.
func observePF(ctx context.Context, h host.Host, ref string) (*sriov.PF, *nicprofile.Profile, error) {
	st, err := h.Observe(ctx)
	if err != nil {
		return nil, nil, err
	}
	pf := st.FindPF(ref)
	if pf == nil {
		return nil, nil, &sriov.FieldError{Field: "--pf", Value: ref, Allowed: "no such PF; PFs on this host: " + st.PFNames()}
	}
	return pf, nicprofile.ForDriver(pf.Driver), nil
}

// Create plans req on the observed host, records the group (state applying) before touching anything,
// applies the plan with rollback, observes the host again and checks with the switch model that frames
// to the group's MAC reach every member. If the check fails it undoes every write, drops the record and
// returns a *CheckError. The record becomes active on success.
func Create(ctx context.Context, h host.Host, st *Store, req Request) (*Plan, error) {
	existing, err := st.List()
	if err != nil {
		return nil, err
	}
	pf, prof, err := observePF(ctx, h, req.PF)
	if err != nil {
		return nil, err
	}
	plan, err := PlanCreate(pf, prof, req, append(slices.Clone(existing), req.PolicyGroups...))
	if err != nil {
		return nil, err
	}
	if miss := Missing(plan.Prediction, plan.Group); len(miss) > 0 {
		return plan, &RefusedError{PF: pf.Name, Driver: pf.Driver, Strategy: plan.Group.Strategy,
			Why: fmt.Sprintf("the switch model predicts the result would not reach VF %s: %s", joinIDs(miss), plan.Prediction.Reason)}
	}
	g := plan.Group
	g.Created = time.Now().UTC().Format(time.RFC3339)
	err = st.Update(func(groups []Group) ([]Group, error) {
		for _, o := range groups {
			if o.Name == g.Name {
				return nil, &sriov.FieldError{Field: "NAME", Value: g.Name, Allowed: "a mirror group with this name already exists"}
			}
		}
		return append(groups, g), nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := change.Run(ctx, h, plan.Ops, change.Hooks{}); err != nil {
		if !change.IsRollbackFailure(err) {
			_ = st.Remove(g.Name)
		}
		return plan, err
	}
	miss, err := verify(ctx, h, plan, prof)
	if err != nil || len(miss) > 0 {
		unrestored := change.Undo(context.WithoutCancel(ctx), h, plan.Ops)
		if len(unrestored) == 0 {
			_ = st.Remove(g.Name)
		}
		if err != nil {
			return plan, fmt.Errorf("observe after applying mirror %s: %w (rolled back)", g.Name, err)
		}
		return plan, &CheckError{Group: g.Name, MAC: g.MAC, Missing: miss, Prediction: plan.Prediction, Unrestored: unrestored}
	}
	g.State = StateActive
	plan.Group = g
	return plan, st.Put(g)
}

// ReloadRetries is how often Create reloads the VF driver again for a member whose netdev did not take
// the MAC (igbvf sometimes probes while the PF is "still resetting" and picks a random MAC).
var ReloadRetries = 2

// verify observes the host after a create and checks the group with the model. Members that miss the
// MAC only because their netdev does not carry it yet get their VF driver reloaded again, up to
// ReloadRetries times; those reloads are appended to plan.Ops so that an undo reverts them too.
func verify(ctx context.Context, h host.Host, plan *Plan, prof *nicprofile.Profile) ([]int, error) {
	g := plan.Group
	for attempt := 0; ; attempt++ {
		after, _, err := observePF(ctx, h, g.PF)
		if err != nil {
			return nil, err
		}
		plan.Prediction = Check(after, prof, g)
		miss := Missing(plan.Prediction, g)
		if len(miss) == 0 || attempt >= ReloadRetries || !prof.MACNeedsVFReload {
			return miss, nil
		}
		var again []change.Op
		for _, id := range miss {
			if v := after.VF(id); v != nil && eswitch.VFMAC(*v, prof).NetdevDrops {
				again = append(again, change.ReloadOps(after.Name, *v, prof.VFDriver, fmt.Sprintf("mirror %s: VF %d's netdev carries %s, not %s: reload the VF driver again", g.Name, id, v.NetdevMAC, g.MAC))...)
			}
		}
		if len(again) == 0 {
			return miss, nil
		}
		plan.Notes = append(plan.Notes, fmt.Sprintf("after the first reload VFs %s did not carry %s: reloaded the VF driver again", joinIDs(miss), g.MAC))
		if _, err := change.Run(ctx, h, again, change.Hooks{}); err != nil {
			return nil, err
		}
		plan.Ops = append(plan.Ops, again...)
		for _, o := range again {
			plan.Commands = append(plan.Commands, ipCommand(o, after))
		}
	}
}

// Delete restores the members of the group named name and drops its record. A group whose PF is gone
// is just forgotten.
func Delete(ctx context.Context, h host.Host, st *Store, name string) (*Plan, error) {
	g, err := st.Get(name)
	if err != nil {
		return nil, err
	}
	if g == nil {
		groups, _ := st.List()
		names := make([]string, 0, len(groups))
		for _, o := range groups {
			names = append(names, o.Name)
		}
		have := "none"
		if len(names) > 0 {
			have = strings.Join(names, ", ")
		}
		return nil, &sriov.FieldError{Field: "NAME", Value: name, Allowed: "no such mirror group; groups: " + have}
	}
	stHost, err := h.Observe(ctx)
	if err != nil {
		return nil, err
	}
	pf := stHost.FindPF(g.PF)
	if pf == nil {
		return &Plan{Group: *g, Notes: []string{fmt.Sprintf("the PF %s is gone: nothing to restore", g.PF)}}, st.Remove(name)
	}
	plan := PlanDelete(pf, nicprofile.ForDriver(pf.Driver), *g)
	if _, err := change.Run(ctx, h, plan.Ops, change.Hooks{}); err != nil {
		return plan, err
	}
	return plan, st.Remove(name)
}
