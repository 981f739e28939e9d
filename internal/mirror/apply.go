package mirror

import (
	"context"
	"errors"
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
//
// run executes the writes (nil: change.Run without a journal); the service passes its journaled runner,
// so a crash between a member's unbind and rebind is undone by recovery, and Repair then drops the group.
func Create(ctx context.Context, h host.Host, st *Store, req Request, run change.Runner) (*Plan, error) {
	if run == nil {
		run = change.Plain(h)
	}
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
	if _, err := run(ctx, "mirror create", plan.Ops); err != nil {
		if !change.IsRollbackFailure(err) {
			if rerr := st.Remove(g.Name); rerr != nil {
				return plan, errors.Join(err, rerr)
			}
		}
		return plan, err
	}
	miss, err := verify(ctx, h, plan, prof, run)
	if err != nil || len(miss) > 0 {
		var unrestored []string
		if _, uerr := run(context.WithoutCancel(ctx), "mirror create: undo", undoOps(plan.Ops)); uerr != nil {
			unrestored = []string{uerr.Error()}
		}
		if len(unrestored) == 0 {
			if rerr := st.Remove(g.Name); rerr != nil {
				unrestored = append(unrestored, "the group's record: "+rerr.Error())
			}
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
func verify(ctx context.Context, h host.Host, plan *Plan, prof *nicprofile.Profile, run change.Runner) ([]int, error) {
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
		if _, err := run(ctx, "mirror create", again); err != nil {
			return nil, err
		}
		plan.Ops = append(plan.Ops, again...)
		for _, o := range again {
			plan.Commands = append(plan.Commands, ipCommand(o, after))
		}
	}
}

// undoOps is the writes that revert ops, newest first (what change.Undo executes).
func undoOps(ops []change.Op) []change.Op {
	var out []change.Op
	for i := len(ops) - 1; i >= 0; i-- {
		out = append(out, change.UndoOps(ops[i])...)
	}
	return out
}

// StateDeleting marks a group whose delete has begun: a crash leaves it for Repair to finish.
const StateDeleting = "deleting"

// Delete restores the members of the group named name (their recorded MAC, spoof check, trust and
// driver) and drops its record. A group whose PF is gone is just forgotten. The record is marked
// "deleting" first, so that a crash is finished by Repair. run as for Create.
func Delete(ctx context.Context, h host.Host, st *Store, name string, run change.Runner) (*Plan, error) {
	if run == nil {
		run = change.Plain(h)
	}
	g, err := st.Get(name)
	if err != nil {
		return nil, err
	}
	if g == nil {
		groups, err := st.List()
		if err != nil {
			return nil, err
		}
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
	return finishDelete(ctx, h, st, *g, run)
}

func finishDelete(ctx context.Context, h host.Host, st *Store, g Group, run change.Runner) (*Plan, error) {
	stHost, err := h.Observe(ctx)
	if err != nil {
		return nil, err
	}
	pf := stHost.FindPF(g.PF)
	if pf == nil {
		return &Plan{Group: g, Notes: []string{fmt.Sprintf("the PF %s is gone: nothing to restore", g.PF)}}, st.Remove(g.Name)
	}
	was := g.State
	if g.State != StateDeleting && g.State != StateApplying {
		g.State = StateDeleting
		if err := st.Put(g); err != nil {
			return nil, err
		}
	}
	plan := PlanDelete(pf, nicprofile.ForDriver(pf.Driver), g)
	if _, err := run(ctx, "mirror delete", plan.Ops); err != nil {
		if !change.IsRollbackFailure(err) && was != g.State {
			g.State = was
			if perr := st.Put(g); perr != nil {
				return plan, errors.Join(err, perr)
			}
		}
		return plan, err
	}
	return plan, st.Remove(g.Name)
}

// Repair finishes what a killed `mirror create` or `mirror delete` left (run after the journal's
// recovery, which has undone or finished their host writes): a group still "applying" was never reported
// created and is undone, one "deleting" is deleted; either way each member gets its recorded MAC, spoof
// check, trust and driver back and the record goes. It returns the groups it repaired.
func Repair(ctx context.Context, h host.Host, st *Store, run change.Runner) ([]Group, error) {
	groups, err := st.List()
	if err != nil {
		return nil, err
	}
	var done []Group
	var errs []error
	for _, g := range groups {
		if g.State != StateApplying && g.State != StateDeleting {
			continue
		}
		if _, err := finishDelete(ctx, h, st, g, run); err != nil {
			errs = append(errs, fmt.Errorf("mirror %s (%s): %w", g.Name, g.State, err))
			continue
		}
		done = append(done, g)
	}
	return done, errors.Join(errs...)
}
