package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { register("lab", newLabCmd) }

func newLabCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Create and control an emulated lab host (NICs that behave like real ones)",
		Example: `  sriovctl lab init /tmp/lab
  export SRIOVCTL_LAB=/tmp/lab      # or --lab /tmp/lab on every command
  sriovctl lab fault --delay 500ms
  sriovctl lab reboot`,
	}
	cmd.AddCommand(newLabInitCmd(a), newLabFaultCmd(a), newLabRebootCmd(a), newLabResetCmd(a), newLabEswitchCmd(a), newLabTrafficCmd(a))
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
				out := jsonout.NewShow(st.PFs)
				out.Dir = args[0]
				return a.PrintJSON(out)
			}
			a.Printf("lab created in %s with %d PFs: %s\n", args[0], len(st.PFs), st.PFNames())
			a.Printf("try: sriovctl --lab %s show\n", args[0])
			return nil
		},
	}
	c.Flags().StringArrayVar(&nics, "nic", nil, "a PF as `NAME=PROFILE[:TOTALVFS]` (repeatable)")
	return c
}

func newLabFaultCmd(a *App) *cobra.Command {
	var failAt int
	var errno string
	var delay time.Duration
	var clear, afterWrite bool
	c := &cobra.Command{
		Use:   "fault [--fail-at N [--errno ERRNO] [--after-write]] [--delay DURATION] | --clear",
		Short: "Inject faults: fail the Nth mutating host operation from now, or slow every one",
		Long: `Inject faults into the lab's mutating host operations (what sriovctl writes; not lab commands).

--fail-at N makes the Nth operation from now fail with --errno (default EIO) and change nothing. With
--after-write it takes effect first and then reports that confirming it failed (default ETIMEDOUT), as the
kernel does when sriov_numvfs was written but the VFs did not appear in time: the host is changed and the
error says "written, unconfirmed". --delay slows every operation, as a slow driver does: the operation
waits, then is made; other processes can read the lab meanwhile.`,
		Example: `  sriovctl --lab /tmp/lab lab fault --fail-at 3 --errno EIO
  sriovctl --lab /tmp/lab lab fault --fail-at 1 --after-write
  sriovctl --lab /tmp/lab lab fault --delay 200ms
  sriovctl --lab /tmp/lab lab fault --clear`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := cmd.Flags().Changed
			if !clear && !ch("fail-at") && !ch("delay") && !ch("errno") && !ch("after-write") {
				fc, err := a.labFault(cmd.Context())
				if err != nil {
					return err
				}
				if a.JSON {
					return a.PrintJSON(labFaultJSON(fc))
				}
				a.Printf("%s\n", faultText(fc))
				return nil
			}
			if clear && (ch("fail-at") || ch("delay") || ch("errno") || ch("after-write")) {
				return Usagef("lab fault", "--clear cannot be combined with --fail-at, --errno, --after-write or --delay")
			}
			if ch("after-write") && !ch("fail-at") {
				return Usagef("--after-write", "goes with --fail-at")
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
				cur, err := l.FaultContext(cmd.Context())
				if err != nil {
					return &OpError{What: "lab fault", Err: err}
				}
				fc = cur
				if ch("fail-at") {
					fc.FailAt, fc.Errno, fc.AfterWrite = failAt, errno, afterWrite
				}
				if ch("delay") {
					fc.Delay = delay
				}
			}
			if err := l.SetFaultContext(cmd.Context(), fc); err != nil {
				var fe *sriov.FieldError
				if asField(err, &fe) {
					return err
				}
				return &OpError{What: "lab fault", Err: err}
			}
			if a.JSON {
				return a.PrintJSON(labFaultJSON(fc))
			}
			a.Printf("fault: %s\n", faultText(fc))
			return nil
		},
	}
	c.Flags().IntVar(&failAt, "fail-at", 0, "make the `N`th mutating host operation from now fail (1 = the next)")
	c.Flags().StringVar(&errno, "errno", "", "`ERRNO` of the injected failure (default EIO, or ETIMEDOUT with --after-write)")
	c.Flags().BoolVar(&afterWrite, "after-write", false, "with --fail-at: the operation takes effect, then confirming it fails (written, unconfirmed)")
	c.Flags().DurationVar(&delay, "delay", 0, "slow every mutating operation by `DURATION` (e.g. 200ms)")
	c.Flags().BoolVar(&clear, "clear", false, "remove every injected fault")
	return c
}

func labFaultJSON(fc lab.FaultConfig) jsonout.LabFault {
	return jsonout.NewLabFault(fc.FailAt, faultErrno(fc), fc.AfterWrite, fc.Delay)
}

// faultErrno is the errno an armed fault fails with: the one given, else the lab's default (EIO;
// ETIMEDOUT after the write); "" when no failure is armed.
func faultErrno(fc lab.FaultConfig) string {
	switch {
	case fc.FailAt == 0 || fc.Errno != "":
		return fc.Errno
	case fc.AfterWrite:
		return "ETIMEDOUT"
	}
	return "EIO"
}

// faultText is a fault configuration as `lab fault` prints it.
func faultText(fc lab.FaultConfig) string {
	when := ""
	if fc.AfterWrite {
		when = " (after the write)"
	}
	return fmt.Sprintf("fail-at %d%s errno %s delay %s", fc.FailAt, when, dash(faultErrno(fc)), fc.Delay)
}

func (a *App) labFault(ctx context.Context) (lab.FaultConfig, error) {
	l, err := a.Lab()
	if err != nil {
		return lab.FaultConfig{}, err
	}
	fc, err := l.FaultContext(ctx)
	if err != nil {
		return fc, &OpError{What: "lab fault", Err: err}
	}
	return fc, nil
}

func newLabRebootCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "reboot",
		Short: "Emulate a reboot: every PF back to 0 VFs (nothing persisted survives unless restored)",
		Example: `  sriovctl --lab /tmp/lab lab reboot
  sriovctl --lab /tmp/lab restore       # what sriovctl-restore.service does at boot`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.Lab()
			if err != nil {
				return err
			}
			before, err := a.Observe(cmd.Context(), l)
			if err != nil {
				return err
			}
			if err := l.RebootContext(cmd.Context()); err != nil {
				return &OpError{What: "lab reboot", Err: err}
			}
			if a.JSON {
				return a.printLabChange(cmd.Context(), l, before, nil)
			}
			a.Printf("lab %s rebooted: every PF has 0 VFs\n", l.Dir())
			return nil
		},
	}
}

func newLabResetCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "reset PF",
		Short: "Emulate a PF reset or driver reload behind sriovctl's back: that PF back to 0 VFs",
		Long: `Do to one lab PF what a PF reset or a reload of its driver does on a host: its VFs are destroyed with
their settings and counters, and its eswitch is back in legacy mode. The stored desired state is not
touched, so status shows the drift and restore (or the agent) repairs it. To change one VF behind
sriovctl's back, use vf set: it writes the host and leaves the desired state alone, like a hand-typed
ip link set.`,
		Example: `  sriovctl --lab /tmp/lab lab reset ens3f0
  sriovctl --lab /tmp/lab status      # drift: ens3f0 has 0 VFs`,
		Args: exactArgs(1, "PF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, p, err := a.labPF(cmd.Context(), "PF", args[0])
			if err != nil {
				return err
			}
			if err := l.ResetPF(cmd.Context(), p.PCIAddress); err != nil {
				return &OpError{What: "lab reset", Err: err}
			}
			if a.JSON {
				return a.printLabChange(cmd.Context(), l, &sriov.Host{PFs: []sriov.PF{*p}}, []string{p.PCIAddress})
			}
			a.Printf("%s reset: 0 VFs (it had %d; their settings and counters are gone)\n", p.Name, p.NumVFs)
			return nil
		},
	}
}

// printLabChange prints, for --json, the lab PFs a lab command changed (those in pcis; all when nil),
// before and after.
func (a *App) printLabChange(ctx context.Context, l *lab.Lab, before *sriov.Host, pcis []string) error {
	after, err := a.Observe(ctx, l)
	if err != nil {
		return err
	}
	return a.PrintJSON(jsonout.NewLabChange(l.Dir(), before, after, pcis))
}
