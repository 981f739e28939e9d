package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

func newPoolLibvirtNetworkCmd(a *App) *cobra.Command {
	var src poolSource
	var name, out string
	c := &cobra.Command{
		Use:   "libvirt-network POOL [--name NAME] [-o FILE]",
		Short: "Print a libvirt hostdev network holding a pool's VFs, for letting libvirt hand them out",
		Long: `Render a libvirt network definition (<forward mode='hostdev' managed='yes'> with the vfio driver and
one PCI <address> per VF of the pool, read from the host) for ` + "`virsh net-define`" + `. VMs then use
<interface type='network'><source network='NAME'/></interface> and libvirt picks a free VF, binds it to
vfio-pci while the VM runs and writes the interface's MAC and VLAN to it. libvirt keeps its own record of
which VF is in use: do not also ` + "`sriovctl assign`" + ` from the same pool (a note says when VFs of it are
assigned now). The pool's VFs must exist: apply the policy first. --name defaults to the pool's name.`,
		Example: `  sriovctl pool libvirt-network vms -o /tmp/vms-net.xml
  virsh net-define /tmp/vms-net.xml && virsh net-autostart vms && virsh net-start vms`,
		Args: exactArgs(1, "the POOL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				name = args[0]
			}
			if !policy.IsName(name) { // the pool names' rule, which libvirt also accepts
				return Usagef("--name", "invalid value %q: want 1-63 letters, digits, '.', '_' or '-'", name)
			}
			pools, source, err := src.load(a)
			if err != nil {
				return err
			}
			pl, err := findPool(pools, args[0], source)
			if err != nil {
				var ue *UsageError
				if errors.As(err, &ue) {
					ue.What = "POOL"
				}
				return err
			}
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			pf, err := FindPF(st, "pools["+pl.Name+"].pf", pl.PF)
			if err != nil {
				return err
			}
			doc, err := pool.LibvirtNetwork(name, pl, pf)
			if err != nil {
				return &OpError{What: "pool libvirt-network", Err: err}
			}
			if sts, _, err := svc.PoolStatuses(cmd.Context(), []policy.Pool{pl}); err == nil && len(sts) == 1 && sts[0].Used > 0 {
				fmt.Fprintf(a.Stderr, "note: %d VFs of pool %s are assigned by sriovctl now (`sriovctl assignments`); libvirt does not know and may hand them out again: release them first\n", sts[0].Used, pl.Name)
			}
			if out != "" {
				if err := statefile.WriteFile(out, []byte(doc+"\n"), 0o644); err != nil {
					return &OpError{What: "pool libvirt-network", Err: err}
				}
				if a.JSON {
					return a.PrintJSON(jsonout.LibvirtNetwork{Network: name, Pool: pl.Name, File: out, VFs: jsonout.List(pl.VFIDs)})
				}
				a.Printf("pool libvirt-network: wrote %s (network %s, %d VFs of %s)\n", out, name, len(pl.VFIDs), pf.Name)
				return nil
			}
			if a.JSON {
				return a.PrintJSON(jsonout.LibvirtNetwork{Network: name, Pool: pl.Name, XML: doc, VFs: jsonout.List(pl.VFIDs)})
			}
			a.Printf("%s\n", doc)
			return nil
		},
	}
	c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return runCompleter(a, cmd, (*completion).pools, args, toComplete)
	}
	src.addFlag(c.Flags())
	c.Flags().StringVar(&name, "name", "", "the libvirt network's `NAME` (default: the pool's name)")
	c.Flags().StringVarP(&out, "output", "o", "", "write the network XML to `FILE` (atomically) instead of stdout")
	return c
}
