package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sriovctl/sriovctl/internal/adopt/managers"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// configRoot is where the other network tools' configuration is looked for: "/" on a host, LAB/root on a
// lab (LAB/root/etc/netplan/...), so that a lab can stand for a host that has such files.
func (a *App) configRoot() string {
	if a.LabDir != "" {
		return filepath.Join(a.LabDir, "root")
	}
	return "/"
}

// noteOtherManagers adds a note to p for every NetworkManager, systemd-networkd or netplan file that also
// manages the SR-IOV settings of a PF pol touches (its pfs, pools and mirror groups): that tool sets them
// again at boot or when it reloads, and the two fight. plan and apply call it; it never fails the
// command (a host it cannot observe has no PFs to warn about). st is the host the plan was built from
// (the PFs' names, addresses and MACs are all it needs); nil observes it.
func (a *App) noteOtherManagers(ctx context.Context, pol *policy.Policy, p *plan.Plan, st *sriov.Host) {
	if pol == nil || p == nil {
		return
	}
	if st == nil {
		var err error
		if _, st, err = a.HostState(ctx); err != nil {
			return
		}
	}
	refs := make([]string, 0, len(pol.PFs)+len(pol.Pools)+len(pol.Mirrors))
	for _, pf := range pol.PFs {
		refs = append(refs, pf.Ref())
	}
	for _, pl := range pol.Pools {
		refs = append(refs, pl.PF)
	}
	for _, m := range pol.Mirrors {
		refs = append(refs, m.PF)
	}
	var pfs []managers.PF
	seen := map[string]bool{}
	for _, ref := range refs {
		if pf := st.FindPF(ref); pf != nil && !seen[pf.PCIAddress] {
			seen[pf.PCIAddress] = true
			pfs = append(pfs, managers.PF{Name: pf.Name, PCIAddress: pf.PCIAddress, MAC: pf.MAC, Driver: pf.Driver})
		}
	}
	found, unreadable := managers.Scan(a.configRoot(), pfs)
	for _, f := range found {
		p.Notes = append(p.Notes, f.String())
	}
	if len(unreadable) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("could not read %s (permission denied): run as root to check whether they also manage these PFs", strings.Join(unreadable, ", ")))
	}
}
