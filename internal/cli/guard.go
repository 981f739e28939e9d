package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// hostWriter takes the state directory's one-writer lock (shared by apply, restore, recover, assign,
// release, mirror and the direct pf/vf commands) and finishes or undoes an interrupted apply first, so a
// direct change never lands in the middle of an apply or gets undone by a later recovery.
func (a *App) hostWriter(ctx contextT, what string, h host.Host) (*apply.Lock, error) {
	lock, err := apply.AcquireContext(ctx, a.StateDir(), false)
	if err != nil {
		return nil, &OpError{What: what, Err: err}
	}
	rec, err := apply.Recover(ctx, h, a.StateDir())
	if err != nil {
		lock.Release()
		return nil, &OpError{What: what + ": recover", Err: err}
	}
	if rec != nil && !a.JSON {
		a.printRecovery(rec)
	}
	return lock, nil
}

// lockedHostPF is HostPF for commands that write: the lock is taken and recovery done before the host
// is observed, so what they plan from is what they change. Call release when done.
func (a *App) lockedHostPF(ctx contextT, what, ref string) (host.Host, *sriov.PF, func(), error) {
	h, err := a.Host()
	if err != nil {
		return nil, nil, nil, err
	}
	lock, err := a.hostWriter(ctx, what, h)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := a.Observe(ctx, h)
	if err == nil {
		var p *sriov.PF
		if p, err = FindPF(st, "PF", ref); err == nil {
			return h, p, lock.Release, nil
		}
	}
	lock.Release()
	return nil, nil, nil, err
}

// assignedVFs returns the ledger's records of pf's VFs handed to owners (none when no ledger exists).
// The caller holds the apply lock, which is always taken before the ledger's.
func (a *App) assignedVFs(ctx contextT, what string, pf *sriov.PF) ([]ledger.Record, error) {
	if _, err := os.Stat(filepath.Join(a.StateDir(), ledger.DBFile)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	l, err := ledger.Open(ctx, a.StateDir())
	if err != nil {
		return nil, &OpError{What: what, Err: err}
	}
	defer l.Close()
	recs, err := l.All()
	if err != nil {
		return nil, &OpError{What: what, Err: err}
	}
	var out []ledger.Record
	for _, r := range recs {
		if r.PFAddress == pf.PCIAddress {
			out = append(out, r)
		}
	}
	return out, nil
}

// refuseAssigned refuses, unless force, a direct change to VFs of pf handed to owners (all of them
// when vfs is nil): it would change a running VM's VF behind the ledger's back.
func (a *App) refuseAssigned(ctx contextT, what, field, value string, pf *sriov.PF, vfs []int, force bool) error {
	if force {
		return nil
	}
	recs, err := a.assignedVFs(ctx, what, pf)
	if err != nil {
		return err
	}
	var hit []string
	for _, r := range recs {
		if vfs == nil || slices.Contains(vfs, r.VF) {
			hit = append(hit, fmt.Sprintf("vf %d to %s (pool %s)", r.VF, r.Owner, r.Pool))
		}
	}
	if len(hit) == 0 {
		return nil
	}
	return &sriov.FieldError{Field: field, Value: value, Allowed: fmt.Sprintf("%s has VFs handed to owners: %s; release them first (sriovctl release --owner OWNER) or use --force",
		pf.Name, strings.Join(hit, ", "))}
}
