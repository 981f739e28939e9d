package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// The stored desired state is the merge of what was applied, keyed by PF (its PCI address), pool name and
// mirror group name: applying a policy replaces the entries it names and keeps the others, so that one
// file per NIC (or a policy directory) works; `apply --prune` replaces the whole state with the policy,
// and Forget removes one entry.

// pfKey is the key of a policy PF entry: its PCI address when the host has the PF (a match resolved
// too), else what it names.
func pfKey(st *sriov.Host, pp policy.PF) string {
	if st != nil {
		if p, err := pp.Find(st); err == nil && p.PCIAddress != "" {
			return p.PCIAddress
		}
	}
	return devref.Canonical(pp.Ref())
}

// MergeDesired returns stored with the entries applied names replaced by applied's (all of stored
// dropped when prune). PF entries whose PF is on st are stored by PCI address, so that a netdev rename
// does not orphan them.
func MergeDesired(st *sriov.Host, stored, applied *policy.Policy, prune bool) *policy.Policy {
	out := &policy.Policy{PFs: []policy.PF{}}
	named := map[string]bool{}
	for _, pp := range applied.PFs {
		named[pfKey(st, pp)] = true
	}
	if stored != nil && !prune {
		for _, pp := range stored.PFs {
			if !named[pfKey(st, pp)] {
				out.PFs = append(out.PFs, pp)
			}
		}
		for _, pl := range stored.Pools {
			if !slices.ContainsFunc(applied.Pools, func(a policy.Pool) bool { return a.Name == pl.Name }) {
				out.Pools = append(out.Pools, pl)
			}
		}
		for _, m := range stored.Mirrors {
			if !slices.ContainsFunc(applied.Mirrors, func(a policy.Mirror) bool { return a.Name == m.Name }) {
				out.Mirrors = append(out.Mirrors, m)
			}
		}
	}
	out.PFs = append(out.PFs, applied.PFs...)
	out.Pools = append(out.Pools, applied.Pools...)
	out.Mirrors = append(out.Mirrors, applied.Mirrors...)
	for i, pp := range out.PFs {
		if key := pfKey(st, pp); isPCIAddress(key) {
			out.PFs[i].Name, out.PFs[i].PCIAddress, out.PFs[i].Match = "", key, nil
		}
	}
	return out
}

func isPCIAddress(s string) bool {
	_, ok := devref.PCIAddress(s)
	return ok
}

// EncodePolicy renders a policy as a policy file (what policy.Parse reads back).
func EncodePolicy(p *policy.Policy) ([]byte, error) {
	return yaml.Marshal(p)
}

// storedPolicy reads the stored desired state; nil when there is none.
func (s *Service) storedPolicy() (*apply.Desired, *policy.Policy, error) {
	d, err := apply.LoadDesired(s.dir)
	if err != nil || d == nil {
		return nil, nil, err
	}
	pol, err := policy.Parse(d.Path, d.Policy)
	if err != nil {
		return nil, nil, fmt.Errorf("stored desired state: %w", err)
	}
	return d, pol, nil
}

// Forget kinds.
const (
	ForgetPF     = "pf"
	ForgetPool   = "pool"
	ForgetMirror = "mirror"
)

// Forget removes one entry (a PF by name or PCI address, a pool, a mirror group) from the stored desired
// state. The host is not touched: restore and status no longer consider it.
func (s *Service) Forget(ctx context.Context, kind, name string) (*policy.Policy, error) {
	if kind != ForgetPF && kind != ForgetPool && kind != ForgetMirror {
		return nil, &UsageError{What: "forget", Msg: fmt.Sprintf("unknown kind %q: allowed pf, pool or mirror", kind)}
	}
	ss, err := s.begin(ctx, "forget", false)
	if err != nil {
		return nil, err
	}
	defer ss.end()
	_, stored, err := s.storedPolicy()
	if err != nil {
		return nil, fmt.Errorf("forget: %w", err)
	}
	if stored == nil {
		return nil, &UsageError{What: "forget", Msg: fmt.Sprintf("no desired state stored in %s", s.dir)}
	}
	st, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	var have []string
	found := false
	switch kind {
	case ForgetPF:
		key := pfKey(st, policy.PF{Name: name})
		if strings.Count(name, ":") == 2 {
			key = pfKey(st, policy.PF{PCIAddress: name})
		}
		stored.PFs = slices.DeleteFunc(stored.PFs, func(pp policy.PF) bool {
			have = append(have, pp.Ref())
			hit := pfKey(st, pp) == key
			found = found || hit
			return hit
		})
	case ForgetPool:
		stored.Pools = slices.DeleteFunc(stored.Pools, func(p policy.Pool) bool {
			have = append(have, p.Name)
			found = found || p.Name == name
			return p.Name == name
		})
	case ForgetMirror:
		stored.Mirrors = slices.DeleteFunc(stored.Mirrors, func(m policy.Mirror) bool {
			have = append(have, m.Name)
			found = found || m.Name == name
			return m.Name == name
		})
	}
	if !found {
		list := "none"
		if len(have) > 0 {
			list = strings.Join(have, ", ")
		}
		return nil, &UsageError{What: "forget", Msg: fmt.Sprintf("the desired state has no %s %q; it has: %s", kind, name, list)}
	}
	data, err := EncodePolicy(stored)
	if err != nil {
		return nil, err
	}
	if err := apply.StoreDesired(s.dir, data); err != nil {
		return nil, fmt.Errorf("forget: store desired state: %w", err)
	}
	return stored, nil
}

// CombinePolicies merges policy files read from a directory, in the order given (name order): the same
// PF (as named), pool or mirror group in two files is an error naming both.
func CombinePolicies(files []string, pols []*policy.Policy) (*policy.Policy, error) {
	out := &policy.Policy{PFs: []policy.PF{}}
	seen := map[string]string{}
	claim := func(key, file string) error {
		if other, dup := seen[key]; dup {
			return &UsageError{What: "policy directory", Msg: fmt.Sprintf("%s is in both %s and %s; a PF, pool or mirror group may be in one file only", key, other, file)}
		}
		seen[key] = file
		return nil
	}
	for i, p := range pols {
		for _, pp := range p.PFs {
			if err := claim("PF "+pp.Ref(), files[i]); err != nil {
				return nil, err
			}
			out.PFs = append(out.PFs, pp)
		}
		for _, pl := range p.Pools {
			if err := claim("pool "+pl.Name, files[i]); err != nil {
				return nil, err
			}
			out.Pools = append(out.Pools, pl)
		}
		for _, m := range p.Mirrors {
			if err := claim("mirror "+m.Name, files[i]); err != nil {
				return nil, err
			}
			out.Mirrors = append(out.Mirrors, m)
		}
	}
	return out, nil
}
