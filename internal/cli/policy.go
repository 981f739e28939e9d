package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() {
	register(newPlanCmd)
	register(newApplyCmd)
	register(newRestoreCmd)
	register(newRecoverCmd)
	register(newStatusCmd)
}

// readPolicy reads and parses a policy file; parse errors are input errors (exit 2).
func readPolicy(file string) ([]byte, *policy.Policy, error) {
	if file == "" {
		return nil, nil, Usagef("-f", "give the policy file: -f FILE")
	}
	data, err := policy.ReadFile(file)
	if err != nil {
		return nil, nil, usageErr("-f", err)
	}
	pol, err := policy.Parse(file, data)
	if err != nil {
		return nil, nil, usageErr("policy", err)
	}
	return data, pol, nil
}

// planOptions are the flags plan and apply share.
type planOptions struct {
	file  string
	force bool
}

func (o *planOptions) add(c *cobra.Command) {
	c.Flags().StringVarP(&o.file, "file", "f", "", "the policy file (YAML)")
	c.Flags().BoolVar(&o.force, "force", false, "let checks of other features accept what they refuse (e.g. removing VFs assigned from a pool)")
}

func (a *App) buildPlan(st *sriov.Host, pol *policy.Policy, force bool) *plan.Plan {
	return plan.Build(st, pol, plan.Options{Force: force, StateDir: a.StateDir()})
}

func newPlanCmd(a *App) *cobra.Command {
	var o planOptions
	c := &cobra.Command{
		Use:   "plan -f FILE",
		Short: "Show the operations that would bring the host to a policy file, without changing anything",
		Long: `Compare the host with a policy file and print the ordered operations apply would make, each with its
reason. Disruptive ones (a VF count change of an enabled PF, which goes through 0 and destroys every VF)
are marked, with the VFs they destroy. Settings the NIC's driver refuses are reported as problems before
anything is touched. The last line is "N changes (M disruptive)" or "no changes".`,
		Example: `  sriovctl plan -f /etc/sriovctl/policy.yaml
  sriovctl plan -f policy.yaml --json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, pol, err := readPolicy(o.file)
			if err != nil {
				return err
			}
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			p := a.buildPlan(st, pol, o.force)
			pending, _ := apply.LoadJournal(a.StateDir())
			if a.JSON {
				if err := a.PrintJSON(planJSON(p, pending)); err != nil {
					return err
				}
			} else {
				a.printPlan(p)
				if pending != nil {
					a.Printf("note: an interrupted %s (pid %d) is pending; apply first undoes it (or run `sriovctl recover`)\n", pending.What, pending.PID)
				}
			}
			return planErr("plan", p)
		},
	}
	o.add(c)
	return c
}

func planJSON(p *plan.Plan, pending *apply.Pending) map[string]any {
	m := map[string]any{"ops": jsonList(p.Ops), "problems": jsonList(p.Problems), "notes": jsonList(p.Notes), "resizes": jsonList(p.Resizes),
		"changes": len(p.Ops), "disruptive": p.Disruptive(), "summary": p.Summary()}
	if pending != nil {
		m["pendingRecovery"] = map[string]any{"what": pending.What, "pid": pending.PID, "started": pending.Started}
	}
	return m
}

// jsonList makes an empty list print as [] rather than null.
func jsonList[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}

// planErr turns a plan's problems into the command's error: exit 2 when the policy does not fit the host,
// 1 when the NIC or another feature refuses.
func planErr(what string, p *plan.Plan) error {
	if len(p.Problems) == 0 {
		return nil
	}
	err := fmt.Errorf("%d problem(s), first: %s; nothing was changed", len(p.Problems), p.Problems[0])
	if p.InvalidInput() {
		return &UsageError{What: what, Err: err}
	}
	return &OpError{What: what, Err: err}
}

// printPlan writes the plan for humans: numbered operations, problems, notes, the summary.
func (a *App) printPlan(p *plan.Plan) {
	for i, o := range p.Ops {
		mark := ""
		if o.Disruptive {
			mark = "  DISRUPTIVE"
		}
		a.Printf("%3d. %s%s\n", i+1, o.Describe(), mark)
		if o.Reason != "" {
			a.Printf("       %s\n", o.Reason)
		}
	}
	for _, n := range p.Notes {
		a.Printf("note: %s\n", n)
	}
	if len(p.Problems) > 0 {
		a.Printf("problems (nothing will be changed):\n")
		for _, pr := range p.Problems {
			a.Printf("  - %s: %s\n", pr.Kind, pr)
		}
	}
	a.Printf("%s\n", p.Summary())
}

// applyFlags are apply's and restore's flags.
type applyFlags struct {
	planOptions
	yes, dryRun, noWait bool
}

func (f *applyFlags) add(c *cobra.Command, withFile bool) {
	if withFile {
		f.planOptions.add(c)
	} else {
		c.Flags().BoolVar(&f.force, "force", false, "let checks of other features accept what they refuse")
	}
	c.Flags().BoolVar(&f.yes, "yes", false, "apply a disruptive plan (VF count changes that destroy VFs) without asking")
	c.Flags().BoolVar(&f.dryRun, "dry-run", false, "plan and check only; write nothing")
	c.Flags().BoolVar(&f.noWait, "no-wait", false, "fail at once if another apply, restore or recover holds the lock")
	addWaitTimeoutFlag(c.Flags())
}

func newApplyCmd(a *App) *cobra.Command {
	var f applyFlags
	c := &cobra.Command{
		Use:   "apply -f FILE [--yes] [--dry-run] [--no-wait]",
		Short: "Bring the host to a policy file, with rollback and crash safety, and store it as desired state",
		Long: `Plan (see ` + "`sriovctl plan`" + `) and apply a policy file. A disruptive plan needs --yes, or a
confirmation on a terminal. A resize keeps the settings of the VFs that survive it. If any write fails,
every attribute already changed is restored and the command exits 1. A journal in the state directory
makes a crash safe: the next apply (or ` + "`sriovctl recover`" + `) first undoes an interrupted apply. One
apply runs at a time; --no-wait fails at once instead of waiting. On success the policy is stored as the
host's desired state (` + "`sriovctl status`, `sriovctl restore`" + `). The output says how many writes were made.`,
		Example: `  sriovctl apply -f policy.yaml
  sriovctl apply -f policy.yaml --yes --no-wait`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, pol, err := readPolicy(f.file)
			if err != nil {
				return err
			}
			return a.applyPolicy(cmd.Context(), "apply", data, pol, f)
		},
	}
	f.add(c, true)
	return c
}

func newRestoreCmd(a *App) *cobra.Command {
	var f applyFlags
	c := &cobra.Command{
		Use:   "restore [--yes] [--no-wait]",
		Short: "Re-apply the stored desired state (after a reboot or a PF reset)",
		Long: `Apply the policy stored by the last successful apply, as apply does. Run at boot by
dist/systemd/sriovctl-restore.service, before the network comes up.`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := apply.LoadDesired(a.StateDir())
			if err != nil {
				return &OpError{What: "restore", Err: err}
			}
			if d == nil {
				return Usagef("restore", "no desired state in %s: apply a policy first (sriovctl apply -f FILE)", a.StateDir())
			}
			pol, err := policy.Parse(d.Path, d.Policy)
			if err != nil {
				return &OpError{What: "restore: stored desired state", Err: err}
			}
			return a.applyPolicy(cmd.Context(), "restore", d.Policy, pol, f)
		},
	}
	f.add(c, false)
	return c
}

// applyPolicy is apply and restore: lock, recover, plan, confirm, run, report.
func (a *App) applyPolicy(ctx context.Context, what string, data []byte, pol *policy.Policy, f applyFlags) error {
	h, err := a.Host()
	if err != nil {
		return err
	}
	dir := a.StateDir()
	var rec *apply.Recovery
	if !f.dryRun {
		lock, err := apply.AcquireContext(ctx, dir, f.noWait)
		if err != nil {
			return &OpError{What: what, Err: err}
		}
		defer lock.Release()
		rec, err = apply.Recover(ctx, h, dir)
		if err != nil {
			return &OpError{What: what + ": recover", Err: err}
		}
		if rec != nil && !a.JSON {
			a.printRecovery(rec)
		}
	}
	st, err := a.Observe(ctx, h)
	if err != nil {
		return err
	}
	p := a.buildPlan(st, pol, f.force)
	out := planJSON(p, nil)
	out["dryRun"] = f.dryRun
	out["writes"] = 0
	if rec != nil {
		out["recovered"] = rec
	}
	if !a.JSON {
		a.printPlan(p)
	}
	if err := planErr(what, p); err != nil {
		if a.JSON {
			a.PrintJSON(out)
		}
		return err
	}
	if f.dryRun {
		if a.JSON {
			return a.PrintJSON(out)
		}
		if pending, _ := apply.LoadJournal(dir); pending != nil {
			a.Printf("note: an interrupted %s (pid %d) is pending; apply first undoes it (or run `sriovctl recover`)\n", pending.What, pending.PID)
		}
		a.Printf("dry run: 0 writes\n")
		return nil
	}
	if n := p.Disruptive(); n > 0 && !f.yes {
		if err := a.confirm(what, p); err != nil {
			return err
		}
	}
	res, err := apply.Run(ctx, h, st, p, data, dir, what)
	out["writes"] = res.Writes
	if err != nil {
		out["error"] = err.Error()
		out["rolledBack"] = res.RolledBack
		out["unrestored"] = res.Unrestored
		if a.JSON {
			a.PrintJSON(out)
		} else if res.RolledBack {
			undone := "all undone"
			if len(res.Unrestored) > 0 {
				undone = fmt.Sprintf("%d undo writes failed", len(res.Unrestored))
			}
			a.Printf("%s: failed after %d writes (%s)\n", what, res.Writes, undone)
		}
		return &OpError{What: what, Err: err}
	}
	if a.JSON {
		return a.PrintJSON(out)
	}
	switch {
	case len(p.Ops) == 0:
		a.Printf("%s: the host already matches: 0 writes\n", what)
	default:
		a.Printf("%s: done: %d writes\n", what, res.Writes)
	}
	return nil
}

// confirm asks on a terminal before a disruptive plan; elsewhere it refuses (input error, exit 2).
func (a *App) confirm(what string, p *plan.Plan) error {
	in, ok := a.Stdin.(*os.File)
	if !ok || !isTTY(in) {
		return Usagef(what, "the plan is disruptive (%s): it destroys VFs; rerun with --yes to apply it", p.Summary())
	}
	fmt.Fprintf(a.Stderr, "%s: the plan is disruptive (%s). Apply it? [y/N] ", what, p.Summary())
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return Usagef(what, "not confirmed; nothing was changed")
}

func (a *App) printRecovery(rec *apply.Recovery) {
	switch rec.Action {
	case "finished":
		a.Printf("recovered: the interrupted %s (pid %d, started %s) had made every write; stored its desired state\n", rec.What, rec.PID, rec.Started)
	default:
		a.Printf("recovered: undid the interrupted %s (pid %d, started %s, stopped at operation %d of %d): %d writes\n",
			rec.What, rec.PID, rec.Started, rec.Next+1, rec.Ops, rec.Writes)
	}
}

func newRecoverCmd(a *App) *cobra.Command {
	var noWait bool
	c := &cobra.Command{
		Use:   "recover [--no-wait]",
		Short: "Undo (or finish) an apply interrupted by a crash, from its journal",
		Long: `If an apply or restore was killed, its journal in the state directory says what it was doing. recover
brings every PF it touched back to the state before it started (or, if it had made every write, finishes
it by storing its desired state). apply and restore do this themselves first.`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := a.Host()
			if err != nil {
				return err
			}
			lock, err := apply.AcquireContext(cmd.Context(), a.StateDir(), noWait)
			if err != nil {
				return &OpError{What: "recover", Err: err}
			}
			defer lock.Release()
			rec, err := apply.Recover(cmd.Context(), h, a.StateDir())
			if a.JSON {
				a.PrintJSON(map[string]any{"recovered": rec})
			}
			if err != nil {
				return &OpError{What: "recover", Err: err}
			}
			if !a.JSON {
				if rec == nil {
					a.Printf("no interrupted apply: nothing to recover\n")
				} else {
					a.printRecovery(rec)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noWait, "no-wait", false, "fail at once if another apply, restore or recover holds the lock")
	return c
}

func newStatusCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the stored desired state and any drift of the host from it",
		Args:  exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.StateDir()
			d, err := apply.LoadDesired(dir)
			if err != nil {
				return &OpError{What: "status", Err: err}
			}
			pending, err := apply.LoadJournal(dir)
			if err != nil {
				return &OpError{What: "status", Err: err}
			}
			out := map[string]any{"stateDir": dir, "desired": nil}
			if pending != nil {
				out["pendingRecovery"] = map[string]any{"what": pending.What, "pid": pending.PID, "started": pending.Started, "ops": len(pending.Ops), "next": pending.Next}
			}
			if d == nil {
				if a.JSON {
					return a.PrintJSON(out)
				}
				a.Printf("no desired state stored in %s (a successful apply stores one)\n", dir)
				a.printPending(pending)
				return nil
			}
			pol, err := policy.Parse(d.Path, d.Policy)
			if err != nil {
				return &OpError{What: "status: stored desired state", Err: err}
			}
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			drift := a.buildPlan(st, pol, false)
			out["desired"] = map[string]any{"path": d.Path, "stored": d.Stored, "policy": pol}
			out["inSync"] = len(drift.Ops) == 0 && len(drift.Problems) == 0
			out["drift"] = planJSON(drift, nil)
			if a.JSON {
				return a.PrintJSON(out)
			}
			a.Printf("desired state: %s (stored %s)\n", d.Path, d.Stored.Format("2006-01-02 15:04:05 MST"))
			for _, pp := range pol.PFs {
				n := "VF count as it is"
				if pp.NumVFs != nil {
					n = fmt.Sprintf("%d VFs", *pp.NumVFs)
				}
				a.Printf("  %s: %s, %d VF entries\n", pp.Ref(), n, len(pp.VFs))
			}
			a.printPending(pending)
			if len(drift.Ops) == 0 && len(drift.Problems) == 0 {
				a.Printf("in sync: the host matches the desired state\n")
				return nil
			}
			a.Printf("DRIFT: the host differs from the desired state; `sriovctl restore` would make:\n")
			a.printPlan(drift)
			return nil
		},
	}
}

func (a *App) printPending(p *apply.Pending) {
	if p != nil {
		a.Printf("PENDING: an interrupted %s (pid %d, started %s) left a journal; run `sriovctl recover`\n", p.What, p.PID, p.Started)
	}
}

func init() {
	addDemoSection(demoSection{Order: 30, Title: "Declarative policy: plan and apply", Run: func(d *Demo) error {
		d.Say("Describe the desired state in a policy file: VF counts and settings per PF.")
		path, err := d.WriteFile("policy.yaml", `pfs:
  - name: ens3f0          # ice
    numVfs: 4
    vfs:
      - ids: "0-1"
        vlan: 200
        spoofchk: true
        trust: false
      - ids: "2"
        mac: "02:00:00:00:03:02"
        maxTxRateMbps: 5000
      - ids: "3"
        driver: vfio-pci
`)
		if err != nil {
			return err
		}
		d.Say("plan shows every write with its reason, and changes nothing.")
		if _, err := d.OK("plan", "-f", path); err != nil {
			return err
		}
		d.Say("apply makes the writes (undoing them all if one fails) and stores the policy as desired state.")
		if _, err := d.OK("apply", "-f", path); err != nil {
			return err
		}
		d.Say("Applying again finds nothing to do: 0 writes.")
		if _, err := d.OK("apply", "-f", path); err != nil {
			return err
		}
		d.Say("After a reboot the VFs are gone; status shows the drift and restore re-applies the desired state.")
		if _, err := d.OK("lab", "reboot"); err != nil {
			return err
		}
		if _, err := d.OK("status"); err != nil {
			return err
		}
		_, err = d.OK("restore")
		return err
	}})
}
