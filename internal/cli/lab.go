package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { register(newLabCmd) }

func newLabCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Create and control an emulated lab host (NICs that behave like real ones)",
	}
	cmd.AddCommand(newLabInitCmd(a), newLabFaultCmd(a), newLabRebootCmd(a), newLabEswitchCmd(a))
	return cmd
}

func newLabInitCmd(a *App) *cobra.Command {
	var nics []string
	c := &cobra.Command{
		Use:   "init DIR [--nic NAME=PROFILE[:TOTALVFS]]...",
		Short: "Create a lab host in DIR",
		Long: fmt.Sprintf(`Create an emulated lab host whose state lives in DIR. With no --nic it has five PFs, one per
NIC profile: ens1f0 ixgbe, ens2f0 i40e, ens3f0 ice, ens4f0 mlx5, ens5f0 igb. Profiles: %v.`, lab.ProfileNames()),
		Example: `  sriovctl lab init /tmp/lab
  sriovctl lab init /tmp/lab2 --nic eth0=igb --nic eth1=ice:32`,
		Args: exactArgs(1, "DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var specs []lab.NIC
			for _, s := range nics {
				n, err := lab.ParseNIC(s)
				if err != nil {
					return err
				}
				specs = append(specs, n)
			}
			l, err := lab.Init(args[0], specs)
			if err != nil {
				var fe *sriov.FieldError
				if asField(err, &fe) {
					return err
				}
				return &OpError{What: "lab init", Err: err}
			}
			st, err := l.Observe(cmd.Context())
			if err != nil {
				return &OpError{What: "lab init", Err: err}
			}
			if a.JSON {
				return a.PrintJSON(st)
			}
			a.Printf("lab created in %s with %d PFs: %s\n", args[0], len(st.PFs), st.PFNames())
			a.Printf("try: sriovctl --lab %s show\n", args[0])
			return nil
		},
	}
	c.Flags().StringArrayVar(&nics, "nic", nil, "a PF as NAME=PROFILE[:TOTALVFS] (repeatable)")
	return c
}

func newLabFaultCmd(a *App) *cobra.Command {
	var failAt int
	var errno string
	var delay time.Duration
	var clear bool
	c := &cobra.Command{
		Use:   "fault [--fail-at N [--errno E]] [--delay D] | --clear",
		Short: "Inject faults: fail the Nth mutating host operation from now, or slow every one",
		Example: `  sriovctl --lab /tmp/lab lab fault --fail-at 3 --errno EIO
  sriovctl --lab /tmp/lab lab fault --delay 200ms
  sriovctl --lab /tmp/lab lab fault --clear`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := cmd.Flags().Changed
			if !clear && !ch("fail-at") && !ch("delay") {
				fc, err := a.labFault()
				if err != nil {
					return err
				}
				if a.JSON {
					return a.PrintJSON(map[string]any{"failAt": fc.FailAt, "errno": fc.Errno, "delay": fc.Delay.String()})
				}
				a.Printf("fail-at %d errno %s delay %s\n", fc.FailAt, dash(fc.Errno), fc.Delay)
				return nil
			}
			if clear && (ch("fail-at") || ch("delay") || ch("errno")) {
				return Usagef("lab fault", "--clear cannot be combined with --fail-at, --errno or --delay")
			}
			if ch("fail-at") && failAt < 1 {
				return &sriov.FieldError{Field: "--fail-at", Value: fmt.Sprint(failAt), Allowed: "allowed 1 or more (1 = the next mutating operation)"}
			}
			if ch("errno") && !ch("fail-at") {
				return Usagef("--errno", "goes with --fail-at")
			}
			if delay < 0 || delay > time.Minute {
				return &sriov.FieldError{Field: "--delay", Value: delay.String(), Allowed: "allowed 0 to 1m"}
			}
			l, err := a.Lab()
			if err != nil {
				return err
			}
			fc := lab.FaultConfig{}
			if !clear {
				// Keep what is not being changed.
				cur, err := l.Fault()
				if err != nil {
					return &OpError{What: "lab fault", Err: err}
				}
				fc = cur
				if ch("fail-at") {
					fc.FailAt, fc.Errno = failAt, errno
				}
				if ch("delay") {
					fc.Delay = delay
				}
			}
			if err := l.SetFault(fc); err != nil {
				var fe *sriov.FieldError
				if asField(err, &fe) {
					return err
				}
				return &OpError{What: "lab fault", Err: err}
			}
			if !a.JSON {
				a.Printf("fault: fail-at %d errno %s delay %s\n", fc.FailAt, dash(fc.Errno), fc.Delay)
			}
			return nil
		},
	}
	c.Flags().IntVar(&failAt, "fail-at", 0, "make the Nth mutating host operation from now fail (1 = the next)")
	c.Flags().StringVar(&errno, "errno", "", "errno of the injected failure (default EIO)")
	c.Flags().DurationVar(&delay, "delay", 0, "slow every mutating operation by this long (e.g. 200ms)")
	c.Flags().BoolVar(&clear, "clear", false, "remove every injected fault")
	return c
}

func (a *App) labFault() (lab.FaultConfig, error) {
	l, err := a.Lab()
	if err != nil {
		return lab.FaultConfig{}, err
	}
	fc, err := l.Fault()
	if err != nil {
		return fc, &OpError{What: "lab fault", Err: err}
	}
	return fc, nil
}

func newLabRebootCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "reboot",
		Short: "Emulate a reboot: every PF back to 0 VFs (nothing persisted survives unless restored)",
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.Lab()
			if err != nil {
				return err
			}
			if err := l.Reboot(); err != nil {
				return &OpError{What: "lab reboot", Err: err}
			}
			if !a.JSON {
				a.Printf("lab %s rebooted: every PF has 0 VFs\n", l.Dir())
			}
			return nil
		},
	}
}
