package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() {
	register("plan", newPlanCmd)
	register("apply", newApplyCmd)
	register("restore", newRestoreCmd)
	register("recover", newRecoverCmd)
	register("status", newStatusCmd)
}

// readPolicy reads and parses a policy file; parse errors are input errors (exit 2).
func readPolicy(file string) ([]byte, *policy.Policy, error) {
	if file == "" {
		return nil, nil, Usagef("-f", "give the policy file: -f FILE")
	}
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return readPolicyDir(file)
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
	c.Flags().StringVarP(&o.file, "file", "f", "", "the policy `FILE` (YAML), or a directory whose *.yaml files are merged in name order")
	c.Flags().BoolVar(&o.force, "force", false, "let checks of other features accept what they refuse (e.g. removing VFs assigned from a pool)")
}

func newPlanCmd(a *App) *cobra.Command {
	var o planOptions
	var exitCode bool
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
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			pr, err := svc.Plan(cmd.Context(), pol, o.force)
			if pr == nil {
				return opErr("plan", err)
			}
			a.noteOtherManagers(cmd.Context(), pol, pr.Plan, pr.Host) // other tools that also manage these PFs (managers.go)
			if a.JSON {
				if jerr := a.PrintJSON(jsonout.NewPlan(pr.Plan, pr.Pending)); jerr != nil {
					return jerr
				}
			} else {
				a.printPlan(pr.Plan)
				a.printPendingNote(pr.Pending)
			}
			if err == nil && exitCode && len(pr.Plan.Ops) > 0 {
				a.exitOnSuccess = ExitChanges
			}
			return err
		},
	}
	o.add(c)
	c.Flags().BoolVar(&exitCode, "exit-code", false, "exit 3 when the plan has changes (0: none; 1 and 2 keep their meanings)")
	return c
}

// printPendingNote says what a writer (or `sriovctl recover`) would recover first; reads do not.
func (a *App) printPendingNote(p *service.Pending) {
	if p == nil {
		return
	}
	if j := p.Journal; j != nil {
		a.Printf("note: an interrupted %s (pid %d) is pending; the next command that writes undoes it first (or run `sriovctl recover`)\n", j.What, j.PID)
	}
	for _, r := range p.Assignments {
		a.Printf("note: %s vf %d (pool %s, owner %s) is stuck %s by an interrupted command; run `sriovctl recover`\n", r.PF, r.VF, r.Pool, r.Owner, r.State)
	}
	for _, g := range p.Mirrors {
		a.Printf("note: mirror group %s is stuck %s by an interrupted command; run `sriovctl recover`\n", g.Name, g.State)
	}
}

// opErr marks an error from the service as operational (exit 1) unless it is an input error or a plan
// whose problems say which.
func opErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var fe *sriov.FieldError
	var ue *UsageError
	var se *service.UsageError
	var pe *service.ProblemsError
	var ae *service.AssignedError
	if errors.As(err, &fe) || errors.As(err, &ue) || errors.As(err, &se) || errors.As(err, &pe) || errors.As(err, &ae) {
		return err
	}
	if strings.HasPrefix(err.Error(), what+": ") {
		return err // the service named the command already; any other error is exit 1
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
	yes, dryRun, noWait, prune bool
	waitPFs                    time.Duration
}

func (f *applyFlags) add(c *cobra.Command, withFile bool) {
	if withFile {
		f.planOptions.add(c)
		c.Flags().BoolVar(&f.prune, "prune", false, "store the policy as the whole desired state, dropping PFs, pools and mirror groups it does not name")
	} else {
		c.Flags().BoolVar(&f.force, "force", false, "let checks of other features accept what they refuse")
		c.Flags().DurationVar(&f.waitPFs, "wait-pfs", 0, "wait up to `DURATION` (e.g. 30s) for the desired state's PFs to appear (boot: drivers, udev)")
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
apply runs at a time; --no-wait fails at once instead of waiting. On success the policy is merged into the
host's stored desired state (` + "`sriovctl status`, `sriovctl restore`" + `): the PFs (by PCI address), pools and
mirror groups it names replace the stored ones, the others stay; --prune stores it as the whole state.
-f DIR reads DIR/*.yaml in name order as one policy. The output says how many writes were made.`,
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
		Long: `Apply the stored desired state (the merge of the policies applied), as apply does, to every PF of it
that is present, then give every VF handed to an owner its owner's settings and driver again. PFs of the
desired state that are missing are reported and make the exit code 1; --wait-pfs waits for them first.
Run at boot by dist/systemd/sriovctl-restore.service, before the network comes up.`,
		Example: `  sriovctl restore
  sriovctl restore --yes --wait-pfs 30s     # as the boot unit runs it`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.applyPolicy(cmd.Context(), "restore", nil, nil, f)
		},
	}
	f.add(c, false)
	return c
}

// applyPolicy is apply and restore: the service locks, recovers, plans, confirms, runs; this reports.
func (a *App) applyPolicy(ctx context.Context, what string, data []byte, pol *policy.Policy, f applyFlags) error {
	svc, err := a.Service(f.noWait)
	if err != nil {
		return err
	}
	req := service.ApplyRequest{What: what, Data: data, Policy: pol, Force: f.force, DryRun: f.dryRun, Yes: f.yes, Prune: f.prune, WaitPFs: f.waitPFs,
		Confirm: func(p *plan.Plan) error { return a.confirm(what, p) }}
	var res *service.ApplyResult
	if what == "restore" {
		res, err = svc.Restore(ctx, req)
	} else {
		res, err = svc.Apply(ctx, req)
	}
	if res == nil || res.Plan == nil {
		return opErr(what, err)
	}
	p := res.Plan
	a.noteOtherManagers(ctx, pol, p, res.Host) // other tools that also manage these PFs (managers.go)
	out := jsonout.Apply{Plan: jsonout.NewPlan(p, nil), DryRun: f.dryRun, Writes: res.Writes, HostWrites: res.HostWrites, Recovered: jsonout.NewRecovered(res.Recovered),
		Missing: res.Missing, Reasserted: jsonout.NewReasserted(res.Reasserted)}
	if !a.JSON {
		a.printPlan(p)
	}
	var pe *service.ProblemsError
	var me *service.MissingPFsError
	switch {
	case errors.As(err, &pe):
		if a.JSON {
			a.PrintJSON(out)
		}
		return err
	case errors.As(err, &me):
		// Every PF present was restored; the missing ones make the exit 1.
		if a.JSON {
			out.Error = err.Error()
			a.PrintJSON(out)
		} else {
			a.printReasserted(res)
			a.Printf("%s: done for the PFs present: %s; missing: %s\n", what, plural(res.Writes, "write"), strings.Join(me.PFs, ", "))
		}
		return err
	}
	if err != nil {
		out.Error, out.RolledBack, out.Unrestored = err.Error(), &res.RolledBack, jsonout.List(res.Unrestored)
		if a.JSON {
			a.PrintJSON(out)
		} else if res.RolledBack {
			undone := "all undone"
			if len(res.Unrestored) > 0 {
				undone = plural(len(res.Unrestored), "undo write") + " failed"
			}
			a.Printf("%s: failed after %s (%s)\n", what, plural(res.Writes, "write"), undone)
		}
		return opErr(what, err)
	}
	if f.dryRun {
		if a.JSON {
			return a.PrintJSON(out)
		}
		a.printPendingNote(res.Pending)
		a.Printf("dry run: 0 writes\n")
		return nil
	}
	if a.JSON {
		return a.PrintJSON(out)
	}
	a.printReasserted(res)
	switch {
	case len(p.Ops) == 0:
		a.Printf("%s: the host already matches: 0 writes\n", what)
	default:
		a.Printf("%s: done: %s%s\n", what, plural(res.Writes, "write"), carriedBy(res.Writes, res.HostWrites))
	}
	return nil
}

func (a *App) printReasserted(res *service.ApplyResult) {
	for _, as := range res.Reasserted {
		a.Printf("%s vf %d: gave %s's settings back (pool %s): %s\n", as.PF, as.VF, as.Owner, as.Pool, strings.Join(as.Reapplied, ", "))
	}
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

func (a *App) printRecovered(rec *service.Recovered) {
	if rec.Apply != nil {
		a.Printf("recovered: %s\n", service.DescribeRecovery(rec.Apply))
	}
	for _, r := range rec.Assignments {
		a.Printf("recovered: %s vf %d (pool %s, owner %s, was %s) restored and free\n", r.PF, r.VF, r.Pool, r.Owner, r.State)
	}
	for _, g := range rec.Mirrors {
		a.Printf("recovered: mirror group %s (was %s) removed, its members restored\n", g.Name, g.State)
	}
}

func newRecoverCmd(a *App) *cobra.Command {
	var noWait bool
	c := &cobra.Command{
		Use:   "recover [--no-wait]",
		Short: "Undo (or finish) what a killed command left: its host writes, from the journal, and its records",
		Long: `If a command that writes the host was killed (apply, restore, pf set, vf set, vf bind, mirror create or
delete, assign, release), its journal in the state directory says what it was doing. recover brings every
PF it touched back to the state before it started (or, if it had made every write, finishes it), then
repairs the ledger's and the mirror records' entries the command left. Every command that writes does
this itself first; read commands only report it. With nothing pending, recover writes nothing.`,
		Example: `  sriovctl recover
  sriovctl recover --no-wait --json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := a.quietService(noWait)
			if err != nil {
				return err
			}
			rec, err := svc.Recover(cmd.Context())
			if a.JSON {
				a.PrintJSON(jsonout.NewRecover(rec))
			}
			if err != nil {
				return &OpError{What: "recover", Err: err}
			}
			if !a.JSON {
				if rec.Empty() {
					a.Printf("no interrupted command: nothing to recover\n")
				} else {
					a.printRecovered(rec)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noWait, "no-wait", false, "fail at once if another apply, restore or recover holds the lock")
	return c
}

func newStatusCmd(a *App) *cobra.Command {
	var socket string
	var exitCode bool
	c := &cobra.Command{
		Use:   "status [--agent-socket PATH]",
		Short: "Show the stored desired state, any drift of the host from it, and the agent's view",
		Example: `  sriovctl status
  sriovctl status --exit-code || echo "drift (exit 3) or an error"
  sriovctl status --agent-socket /run/sriovctl/agent.sock --json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			stat, err := svc.Status(cmd.Context())
			if err != nil {
				return opErr("status", err)
			}
			if socket == "" {
				socket = a.AgentSocket()
			}
			av := queryAgent(cmd.Context(), socket)
			if !a.JSON {
				defer a.printAgentView(av)
			}
			dir := svc.StateDir()
			out := jsonout.Status{StateDir: dir, Agent: av.json(), AssignmentDrift: []jsonout.Held{}, PendingRecovery: jsonout.NewPending(stat.Pending)}
			d := stat.Desired
			if d == nil {
				if a.JSON {
					return a.PrintJSON(out)
				}
				a.Printf("no desired state stored in %s (a successful apply stores one)\n", dir)
				a.printPending(stat.Pending)
				return nil
			}
			pol, drift := stat.Policy, stat.Drift
			out.Desired = &jsonout.Desired{Path: d.Path, Stored: d.Stored, Policy: pol}
			out.InSync = stat.InSync
			dj := jsonout.NewPlan(drift, nil)
			out.Drift = &dj
			var assignDrift []pool.Held
			for _, h := range stat.Assignments {
				if h.Host != "ok" {
					assignDrift = append(assignDrift, h)
				}
			}
			out.AssignmentDrift = jsonout.NewHeld(assignDrift)
			if exitCode && !stat.InSync {
				a.exitOnSuccess = ExitChanges
			}
			if a.JSON {
				return a.PrintJSON(out)
			}
			a.Printf("desired state: %s (stored %s)\n", d.Path, d.Stored.Format("2006-01-02 15:04:05 MST"))
			for _, pp := range pol.PFs {
				n := "VF count as it is"
				if pp.NumVFs != nil {
					n = fmt.Sprintf("%d VFs", *pp.NumVFs)
				}
				name := pp.Ref()
				if p := stat.Host.FindPF(pp.Ref()); p != nil && p.Name != name {
					name += " (" + p.Name + ")"
				} else if p == nil {
					name += " (not on this host)"
				}
				a.Printf("  pf %s: %s, %d VF entries\n", name, n, len(pp.VFs))
			}
			for _, pl := range pol.Pools {
				a.Printf("  pool %s: %s VFs %s\n", pl.Name, pl.PF, pl.IDs)
			}
			for _, m := range pol.Mirrors {
				a.Printf("  mirror %s: %s VFs %s\n", m.Name, m.PF, m.VFs)
			}
			a.printPending(stat.Pending)
			if stat.InSync {
				a.Printf("in sync: the host matches the desired state\n")
				return nil
			}
			for _, h := range assignDrift {
				a.Printf("DRIFT: %s vf %d assigned to %s (pool %s): %s\n", h.PF, h.VF, h.Owner, h.Pool, h.Host)
			}
			if len(drift.Ops) > 0 || len(drift.Problems) > 0 {
				a.Printf("DRIFT: the host differs from the desired state; `sriovctl restore` would make:\n")
				a.printPlan(drift)
			} else {
				a.Printf("`sriovctl restore` gives assigned VFs their owners' settings back\n")
			}
			return nil
		},
	}
	c.Flags().StringVar(&socket, "agent-socket", "", "show the view of the agent on the unix socket `PATH` (default: the agent's default socket)")
	c.Flags().BoolVar(&exitCode, "exit-code", false, "exit 3 when the host has drifted from the desired state (0: in sync; 1 and 2 keep their meanings)")
	return c
}

func (a *App) printPending(p *service.Pending) {
	if p == nil {
		return
	}
	if j := p.Journal; j != nil {
		a.Printf("PENDING: an interrupted %s (pid %d, started %s) left a journal; run `sriovctl recover`\n", j.What, j.PID, j.Started)
	}
	for _, r := range p.Assignments {
		a.Printf("PENDING: %s vf %d (pool %s, owner %s) is stuck %s; run `sriovctl recover`\n", r.PF, r.VF, r.Pool, r.Owner, r.State)
	}
	for _, g := range p.Mirrors {
		a.Printf("PENDING: mirror group %s is stuck %s; run `sriovctl recover`\n", g.Name, g.State)
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

// carriedBy says, when the backend batched them, how many kernel requests carried the writes: the plan's
// operations stay the unit users see, and the count stays truthful.
func carriedBy(writes, hostWrites int) string {
	if hostWrites <= 0 || hostWrites >= writes {
		return ""
	}
	return " in " + plural(hostWrites, "kernel request") + " (one netlink message carries all of a VF's settings)"
}
