package cli

import (
	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
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
			id, err := a.resolveVF(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return a.bindVF(cmd, args[0], id, args[2], force)
		},
	}
	addWaitTimeoutFlag(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "rebind a VF that assign handed to an owner")
	return cmd
}

func (a *App) bindVF(cmd *cobra.Command, pfRef string, id int, driver string, force bool) error {
	svc, err := a.Service(false)
	if err != nil {
		return err
	}
	res, err := svc.BindVF(cmd.Context(), pfRef, id, driver, force)
	if err != nil {
		return err
	}
	to, from := "", ""
	if len(res.Ops) > 0 {
		to, from = res.Ops[0].To.Driver, res.Ops[0].From.Driver
	} else if v := res.Before.VF(id); v != nil {
		to, from = v.Driver, v.Driver
	}
	if a.JSON {
		return a.PrintJSON(jsonout.VFBind{Direct: jsonout.NewDirect(res, id), Driver: to, PreviousDriver: from})
	}
	if len(res.Ops) == 0 {
		a.Printf("%s vf %d: already bound to %s, no changes\n", res.PF, id, driverName(to))
		return nil
	}
	a.Printf("%s vf %d: driver %s -> %s\n", res.PF, id, driverName(res.Ops[0].From.Driver), driverName(to))
	return nil
}

func driverName(d string) string {
	if d == "" {
		return "(none)"
	}
	return d
}
