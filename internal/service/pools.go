package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
)

// withLedger runs fn in a writer session holding the ledger. The repair of records left by killed
// commands must succeed first: assign and release refuse to work on a ledger they cannot trust.
func (s *Service) withLedger(ctx context.Context, what string, fn func(m *pool.Manager) error) (*Recovered, error) {
	ss, err := s.begin(ctx, what, true)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	l := ss.ledger
	if l == nil { // no ledger yet: this command creates it
		if l, err = ledger.Open(ctx, s.dir); err != nil {
			return ss.recovered, fmt.Errorf("%s: %w", what, err)
		}
		defer l.Close()
	}
	return ss.recovered, fn(s.manager(l))
}

// AssignResult is what Assign did.
type AssignResult struct {
	pool.Assignment
	Recovered *Recovered `json:"recovered,omitempty"`
}

// Assign hands a free VF of the pool to an owner (see pool.Manager.Assign), journaled.
func (s *Service) Assign(ctx context.Context, req pool.Request) (*AssignResult, error) {
	out := &AssignResult{}
	rec, err := s.withLedger(ctx, "assign", func(m *pool.Manager) error {
		as, err := m.Assign(ctx, req)
		out.Assignment = as
		return err
	})
	if !rec.Empty() {
		out.Recovered = rec
	}
	return out, err
}

// ReleaseResult is what Release did.
type ReleaseResult struct {
	Released  []ledger.Record `json:"released"`
	Recovered *Recovered      `json:"recovered,omitempty"`
}

// Release gives the selected VFs their prior state back and frees them, journaled.
func (s *Service) Release(ctx context.Context, sel pool.Selector) (*ReleaseResult, error) {
	out := &ReleaseResult{Released: []ledger.Record{}}
	rec, err := s.withLedger(ctx, "release", func(m *pool.Manager) error {
		done, err := m.Release(ctx, sel)
		out.Released = append(out.Released, done...)
		return err
	})
	if !rec.Empty() {
		out.Recovered = rec
	}
	return out, err
}

// readRecords reads the ledger and what is pending, read-only.
func (s *Service) readRecords(ctx context.Context) ([]ledger.Record, *Pending, error) {
	pending, err := s.pending(ctx)
	if err != nil {
		return nil, nil, err
	}
	recs, err := s.ledgerRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !pending.Any() {
		pending = nil
	}
	return recs, pending, nil
}

// Assignments lists every record with the state of its VF on the host, read-only; records a killed
// command left are listed as they are (their state says so) and reported in Pending.
func (s *Service) Assignments(ctx context.Context) ([]pool.Held, *Pending, error) {
	recs, pending, err := s.readRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return []pool.Held{}, pending, nil
	}
	st, err := s.observe(ctx)
	if err != nil {
		return nil, nil, err
	}
	return pool.HeldOn(st, recs), pending, nil
}

// PoolStatuses reports the use of each pool, read-only.
func (s *Service) PoolStatuses(ctx context.Context, pools []policy.Pool) ([]pool.Status, *Pending, error) {
	recs, pending, err := s.readRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.observe(ctx)
	if err != nil {
		return nil, nil, err
	}
	return pool.StatusesOn(st, recs, pools), pending, nil
}

// MirrorCreate creates a mirror group (see mirror.Create), journaled, refusing members handed to owners.
func (s *Service) MirrorCreate(ctx context.Context, req mirror.Request) (*mirror.Plan, *Recovered, error) {
	ss, err := s.begin(ctx, "mirror create", false)
	if err != nil {
		return nil, nil, err
	}
	defer ss.end()
	rec := ss.recovered
	if rec.Empty() {
		rec = nil
	}
	st, err := s.observe(ctx)
	if err != nil {
		return nil, rec, err
	}
	if pf := st.FindPF(req.PF); pf != nil {
		if err := s.refuseAssignedHow(ctx, "mirror create", "over VFs "+joinInts(req.VFs), pf, req.VFs, false, true); err != nil {
			return nil, rec, err
		}
	}
	req.PolicyGroups, err = s.PolicyMirrors()
	if err != nil {
		return nil, rec, err
	}
	p, err := mirror.Create(ctx, s.host, s.mirrorStore(), req, s.Runner())
	return p, rec, err
}

// MirrorDelete deletes a group made with `mirror create`, restoring each member's recorded MAC, spoof
// check, trust and driver, journaled.
func (s *Service) MirrorDelete(ctx context.Context, name string) (*mirror.Plan, *Recovered, error) {
	fromPolicy, err := s.PolicyMirrors()
	if err != nil {
		return nil, nil, err
	}
	for _, g := range fromPolicy {
		if g.Name == name {
			if rec, err := s.mirrorStore().Get(name); err != nil || rec == nil {
				return nil, nil, &UsageError{What: "mirror delete", Msg: fmt.Sprintf("mirror %s comes from the policy file applied last (the desired state): remove it from the policy and apply again", name)}
			}
		}
	}
	ss, err := s.begin(ctx, "mirror delete", false)
	if err != nil {
		return nil, nil, err
	}
	defer ss.end()
	rec := ss.recovered
	if rec.Empty() {
		rec = nil
	}
	p, err := mirror.Delete(ctx, s.host, s.mirrorStore(), name, s.Runner())
	return p, rec, err
}

// Mirrors lists the groups (recorded ones and those of the desired state) with their health, read-only.
func (s *Service) Mirrors(ctx context.Context) ([]mirror.Group, error) {
	groups, err := s.mirrorGroups()
	if err != nil {
		return nil, err
	}
	fromPolicy, err := s.PolicyMirrors()
	if err != nil {
		return nil, err
	}
	groups = append(groups, fromPolicy...)
	if groups == nil {
		groups = []mirror.Group{}
	}
	if len(groups) > 0 {
		st, err := s.observe(ctx)
		if err != nil {
			return nil, err
		}
		for i := range groups {
			groups[i].Health = mirror.Health(st, groups[i])
		}
	}
	return groups, nil
}

func joinInts(ids []int) string {
	p := make([]string, len(ids))
	for i, id := range ids {
		p[i] = fmt.Sprint(id)
	}
	return strings.Join(p, ",")
}

// PolicyMirrors lists the mirror groups of the stored desired state (made by apply -f).
func (s *Service) PolicyMirrors() ([]mirror.Group, error) {
	d, err := apply.LoadDesired(s.dir)
	if err != nil || d == nil {
		return nil, err
	}
	pol, err := policy.Parse(d.Path, d.Policy)
	if err != nil {
		return nil, fmt.Errorf("stored desired state: %w", err)
	}
	return policyGroups(pol), nil
}

// policyGroups are the mirror groups a policy names.
func policyGroups(pol *policy.Policy) []mirror.Group {
	var out []mirror.Group
	for _, m := range pol.Mirrors {
		out = append(out, mirror.Group{Name: m.Name, PF: m.PF, VFs: m.VFIDs, MAC: m.MAC, Strategy: m.Strategy, State: mirror.StateActive, Source: mirror.SourcePolicy})
	}
	return out
}
