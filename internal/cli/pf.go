package cli

import (
	"github.com/spf13/cobra"
)

func init() { register(newPFCmd) }

func newPFCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "pf", Short: "Configure Physical Functions"}
	var numVFs int
	var force bool
	set := &cobra.Command{
		Use:   "set PF --numvfs N [--force]",
		Short: "Set a PF's VF count",
		Long: `Set how many VFs a PF has. The kernel refuses to resize a PF that has VFs (EBUSY): resizing must go
through 0, which destroys every VF and its configuration. Without --force such a resize is refused and
the VFs that would lose their configuration are named; with --force it goes through 0.`,
		Args: exactArgs(1, "PF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("numvfs") {
				return Usagef("pf set", "nothing to set: give --numvfs N")
			}
			return a.setNumVFs(cmd, args[0], numVFs, force)
		},
	}
	set.Flags().IntVar(&numVFs, "numvfs", 0, "number of VFs (0 to the PF's sriov_totalvfs)")
	set.Flags().BoolVar(&force, "force", false, "resize an enabled PF by going through 0 (destroys every VF's configuration), even with VFs handed to owners")
	addWaitTimeoutFlag(set.Flags())
	cmd.AddCommand(set)
	return cmd
}

func (a *App) setNumVFs(cmd *cobra.Command, ref string, n int, force bool) error {
	svc, err := a.Service(false)
	if err != nil {
		return err
	}
	res, err := svc.SetNumVFs(cmd.Context(), ref, n, force)
	if err != nil {
		return err
	}
	p := res.Before
	if a.JSON {
		return a.PrintJSON(map[string]any{"pf": p.Name, "numVfs": n, "previousNumVfs": p.NumVFs, "writes": res.Writes})
	}
	if len(res.Ops) == 0 {
		a.Printf("%s: numvfs is already %d, no changes\n", p.Name, n)
		return nil
	}
	a.Printf("%s: numvfs %d -> %d\n", p.Name, p.NumVFs, n)
	return nil
}
