package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/sriov"
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
	ctx := cmd.Context()
	h, p, release, err := a.lockedHostPF(ctx, "pf set", ref)
	if err != nil {
		return err
	}
	defer release()
	if err := sriov.ValidateNumVFs("--numvfs", n, p.TotalVFs); err != nil {
		return err
	}
	if n != p.NumVFs {
		// Any change of an enabled PF's count destroys its VFs (through 0, or to 0).
		if err := a.refuseAssigned(ctx, "pf set", "--numvfs", fmt.Sprint(n), p, nil, force); err != nil {
			return err
		}
	}
	var ops []change.Op
	switch {
	case n == p.NumVFs:
	case p.NumVFs > 0 && n > 0:
		if !force {
			return Usagef("--numvfs", "%s has %d VFs and the kernel resizes only through 0, destroying the configuration of VFs %s; rerun with --force to go through 0",
				p.Name, p.NumVFs, describeLoss(p))
		}
		ops = append(ops,
			change.Op{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: p.NumVFs}, To: change.Value{NumVFs: 0}, PriorVFs: p.VFs, Disruptive: true, Reason: "resize goes through 0"},
			change.Op{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: 0}, To: change.Value{NumVFs: n}, Reason: "resize"})
	default:
		ops = append(ops, change.Op{Kind: change.KindNumVFs, PF: p.Name, VF: -1, From: change.Value{NumVFs: p.NumVFs}, To: change.Value{NumVFs: n}, PriorVFs: p.VFs, Disruptive: n == 0})
	}
	res, err := change.Run(ctx, h, ops, change.Hooks{})
	if err != nil {
		return &OpError{What: "pf set", Err: err}
	}
	if a.JSON {
		return a.PrintJSON(map[string]any{"pf": p.Name, "numVfs": n, "previousNumVfs": p.NumVFs, "writes": res.Writes})
	}
	if len(ops) == 0 {
		a.Printf("%s: numvfs is already %d, no changes\n", p.Name, n)
		return nil
	}
	a.Printf("%s: numvfs %d -> %d\n", p.Name, p.NumVFs, n)
	return nil
}

// describeLoss lists a PF's VFs, marking those whose configuration differs from a fresh VF's.
func describeLoss(p *sriov.PF) string {
	def := sriov.DefaultVFConfig()
	var configured []string
	for _, v := range p.VFs {
		if v.VFConfig != def {
			configured = append(configured, fmt.Sprint(v.ID))
		}
	}
	s := fmt.Sprintf("0-%d", p.NumVFs-1)
	if len(configured) > 0 {
		s += " (configured: " + strings.Join(configured, ",") + ")"
	}
	return s
}
