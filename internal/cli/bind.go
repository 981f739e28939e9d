package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { vfSubcommands = append(vfSubcommands, newVFBindCmd) }

func newVFBindCmd(a *App) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "bind PF VF DRIVER",
		Short: "Bind a VF to a driver (vfio-pci for a VM, its default driver such as igbvf, or none)",
		Long: `Bind one VF to a PCI driver through driver_override, unbind and drivers_probe. DRIVER is a driver name
(vfio-pci, igbvf, iavf...), "default" for the VF driver of the PF's NIC profile, or "none" to leave the VF
unbound. Binding to the driver the VF already has changes nothing. vfio-pci needs the vfio-pci module
and an IOMMU.`,
		Example: `  sriovctl vf bind ens5f0 0 vfio-pci
  sriovctl vf bind ens5f0 0 default`,
		Args: exactArgs(3, "PF VF DRIVER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseVFID(args[1])
			if err != nil {
				return err
			}
			return a.bindVF(cmd, args[0], id, args[2], force)
		},
	}
	addWaitTimeoutFlag(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "rebind a VF that `sriovctl assign` handed to an owner")
	return cmd
}

func (a *App) bindVF(cmd *cobra.Command, pfRef string, id int, driver string, force bool) error {
	ctx := cmd.Context()
	h, p, release, err := a.lockedHostPF(ctx, "vf bind", pfRef)
	if err != nil {
		return err
	}
	defer release()
	if err := sriov.ValidateVFID("VF", id, p.NumVFs); err != nil {
		return err
	}
	if err := a.refuseAssigned(ctx, "vf bind", "VF", fmt.Sprint(id), p, []int{id}, force); err != nil {
		return err
	}
	switch driver {
	case "none":
		driver = ""
	case "default":
		driver = nicprofile.ForDriver(p.Driver).VFDriver
		if driver == "" {
			return Usagef("DRIVER", "no default VF driver is known for PF driver %s; name the driver", p.Driver)
		}
	}
	vf := p.VF(id)
	var ops []change.Op
	if vf == nil || vf.Driver != driver {
		from := ""
		if vf != nil {
			from = vf.Driver
		}
		ops = append(ops, change.Op{Kind: change.KindDriver, PF: p.Name, VF: id, From: change.Value{Driver: from}, To: change.Value{Driver: driver}, Reason: "vf bind"})
	}
	res, err := change.Run(ctx, h, ops, change.Hooks{})
	if err != nil {
		return &OpError{What: "vf bind", Err: err}
	}
	if a.JSON {
		return a.PrintJSON(map[string]any{"pf": p.Name, "vf": id, "driver": driver, "writes": res.Writes})
	}
	if len(ops) == 0 {
		a.Printf("%s vf %d: already bound to %s, no changes\n", p.Name, id, driverName(driver))
		return nil
	}
	a.Printf("%s vf %d: driver %s -> %s\n", p.Name, id, driverName(ops[0].From.Driver), driverName(driver))
	return nil
}

func driverName(d string) string {
	if d == "" {
		return "(none)"
	}
	return d
}
