package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { register("pf", newPFCmd) }

func newPFCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "pf", Short: "Configure Physical Functions", Example: `  sriovctl pf set ens5f0 --numvfs 4
  sriovctl pf set ens3f0 --eswitch-mode switchdev --force`}
	var numVFs int
	var force bool
	var mode string
	var mtu int
	set := &cobra.Command{
		Use:   "set PF --numvfs N | --eswitch-mode legacy|switchdev | --mtu N [--force]",
		Short: "Set a PF's VF count, eswitch mode or MTU",
		Long: `Set how many VFs a PF has. The kernel refuses to resize a PF that has VFs (EBUSY): resizing must go
through 0, which destroys every VF and its configuration. Without --force such a resize is refused and
the VFs that would lose their configuration are named; with --force it goes through 0.

--eswitch-mode switches the PF's embedded switch between legacy and switchdev (VF representors, tc
offload) through devlink. Drivers change it only without VFs: a PF with VFs goes through 0 (with
--force), and its VFs are created again with their settings and drivers.

--mtu sets the PF netdev's MTU (68 to the most the NIC allows), which bounds its VFs' MTU; it destroys
nothing. In a policy, mtu: is set before the PF's VFs are created.`,
		Example: `  sriovctl pf set ens5f0 --numvfs 4
  sriovctl pf set 0000:01:00.0 --numvfs 2 --force     # resize through 0: every VF is destroyed first
  sriovctl pf set ens3f0 --eswitch-mode switchdev
  sriovctl pf set ens5f0 --mtu 9000`,
		Args: exactArgs(1, "PF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			setNum, setMode, setMTU := cmd.Flags().Changed("numvfs"), cmd.Flags().Changed("eswitch-mode"), cmd.Flags().Changed("mtu")
			switch {
			case countTrue(setNum, setMode, setMTU) > 1:
				return Usagef("pf set", "give one of --numvfs, --eswitch-mode and --mtu")
			case setMode:
				return a.setEswitchMode(cmd, args[0], mode, force)
			case setMTU:
				return a.setMTU(cmd, args[0], mtu)
			case !setNum:
				return Usagef("pf set", "nothing to set: give --numvfs N, --eswitch-mode legacy|switchdev or --mtu N")
			}
			return a.setNumVFs(cmd, args[0], numVFs, force)
		},
	}
	set.Flags().IntVar(&numVFs, "numvfs", 0, "create `N` VFs (0 to the PF's sriov_totalvfs)")
	set.Flags().StringVar(&mode, "eswitch-mode", "", "eswitch mode, `legacy|switchdev` (devlink)")
	set.Flags().IntVar(&mtu, "mtu", 0, "set the PF's MTU to `N` (68 to the most the NIC allows)")
	set.Flags().BoolVar(&force, "force", false, "resize an enabled PF by going through 0 (destroys every VF's configuration), even with VFs handed to owners")
	addWaitTimeoutFlag(set.Flags())
	cmd.AddCommand(set)
	return cmd
}

func (a *App) setNumVFs(cmd *cobra.Command, ref string, n int, force bool) error {
	return a.setPF(cmd, func(ctx context.Context, svc *service.Service) (*service.Result, error) {
		return svc.SetNumVFs(ctx, ref, n, force)
	}, func(p *sriov.PF) pfChange {
		return pfChange{what: "numvfs", from: fmt.Sprint(p.NumVFs), to: fmt.Sprint(n),
			json: jsonout.PFSet{NumVFs: &n, PreviousNumVFs: &p.NumVFs}}
	})
}

func (a *App) setEswitchMode(cmd *cobra.Command, ref, mode string, force bool) error {
	return a.setPF(cmd, func(ctx context.Context, svc *service.Service) (*service.Result, error) {
		return svc.SetEswitchMode(ctx, ref, mode, force)
	}, func(p *sriov.PF) pfChange {
		// A mode change may go through 0 VFs and back: the line counts the writes.
		return pfChange{what: "eswitch mode", changed: "eswitch", from: p.EswitchMode, to: mode, countWrites: true,
			json: jsonout.PFSet{EswitchMode: mode, PreviousEswitchMode: p.EswitchMode}}
	})
}

func (a *App) setMTU(cmd *cobra.Command, ref string, mtu int) error {
	return a.setPF(cmd, func(ctx context.Context, svc *service.Service) (*service.Result, error) {
		return svc.SetMTU(ctx, ref, mtu)
	}, func(p *sriov.PF) pfChange {
		return pfChange{what: "mtu", from: fmt.Sprint(p.MTU), to: fmt.Sprint(mtu),
			json: jsonout.PFSet{MTU: &mtu, PreviousMTU: &p.MTU}}
	})
}

// pfChange is how one pf set setting reads: its name, the PF's value before and the one asked for, and
// its JSON fields.
type pfChange struct {
	what        string // "mtu": "ens5f0: mtu is already 9000"
	changed     string // the name in the line of a change, when it differs from what
	from, to    string
	countWrites bool
	json        jsonout.PFSet
}

// setPF runs one pf set change through the service and prints what it did.
func (a *App) setPF(cmd *cobra.Command, set func(context.Context, *service.Service) (*service.Result, error), describe func(*sriov.PF) pfChange) error {
	svc, err := a.Service(false)
	if err != nil {
		return err
	}
	res, err := set(cmd.Context(), svc)
	if err != nil {
		return err
	}
	p := res.Before
	c := describe(p)
	if a.JSON {
		c.json.Direct = jsonout.NewDirect(res, -1)
		return a.PrintJSON(c.json)
	}
	if len(res.Ops) == 0 {
		a.Printf("%s: %s is already %s, no changes\n", p.Name, c.what, c.to)
		return nil
	}
	name, writes := c.what, ""
	if c.changed != "" {
		name = c.changed
	}
	if c.countWrites {
		writes = " (" + plural(res.Writes, "write") + ")"
	}
	a.Printf("%s: %s %s -> %s%s\n", p.Name, name, c.from, c.to, writes)
	return nil
}

// countTrue counts the flags given.
func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
