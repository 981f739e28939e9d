package cli

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() {
	register("trace", newTraceCmd)
	register("mirror", newMirrorCmd)
}

func newTraceCmd(a *App) *cobra.Command {
	var ff frameFlags
	c := &cobra.Command{
		Use:   "trace --pf PF --from wire|pf|vf:N --dst MAC [--src MAC] [--vlan VLAN]",
		Short: "Predict what the NIC's embedded switch does with a frame (model of the observed state)",
		Long: `Follow one Ethernet frame through a PF's embedded switch, step by step: spoof check, port VLAN
tagging and filtering, link state, MAC lookup (including MACs shared by several VFs, per NIC profile),
flooding of broadcast and multicast, unknown unicast to the wire, and switchdev mirror rules.

The answer is a prediction from a model of the host's observed state and the NIC's profile, not a
capture: it works the same on the lab and on a real host. --json prints
{"verdict","reason","receivers":[{"port","vlan"}],"steps"}.`,
		Example: `  sriovctl --lab /tmp/lab trace --pf ens5f0 --from wire --dst 02:00:00:00:00:10
  sriovctl --lab /tmp/lab trace --pf ens5f0 --from vf:2 --dst ff:ff:ff:ff:ff:ff --vlan 100`,
		Args: exactArgs(0, "none (use flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fr, inVF, err := ff.frame(cmd)
			if err != nil {
				return err
			}
			h, err := a.Host()
			if err != nil {
				return err
			}
			st, err := a.Observe(cmd.Context(), h)
			if err != nil {
				return err
			}
			p, err := FindPF(st, "--pf", ff.pf)
			if err != nil {
				return err
			}
			if err := ff.checkVF(p, inVF); err != nil {
				return err
			}
			r := eswitch.New(p, nicprofile.ForDriver(p.Driver)).Trace(fr)
			if a.JSON {
				return a.PrintJSON(jsonout.NewTrace(r))
			}
			a.printTrace(r)
			return nil
		},
	}
	ff.register(c, "the `PF` whose switch to model (netdev name or PCI address)")
	return c
}

// parseAnyMAC reads a 48-bit MAC of any kind (trace frames may be broadcast or multicast).
func parseAnyMAC(field, s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", &sriov.FieldError{Field: field, Value: s, Allowed: "want a 48-bit MAC like 02:00:00:00:00:01"}
	}
	return hw.String(), nil
}

func (a *App) printTrace(r eswitch.Result) {
	a.Printf("prediction from the switch model (observed state + NIC profile; not a capture):\n")
	for i, s := range r.Steps {
		a.Printf("  %d. %s\n", i+1, s)
	}
	a.Printf("verdict: %s: %s\n", r.Verdict, r.Reason)
	if len(r.Receivers) == 0 {
		a.Printf("receivers: none\n")
		return
	}
	parts := make([]string, len(r.Receivers))
	for i, rc := range r.Receivers {
		parts[i] = rc.Port + " (untagged)"
		if rc.VLAN != 0 {
			parts[i] = fmt.Sprintf("%s (tagged %d)", rc.Port, rc.VLAN)
		}
	}
	a.Printf("receivers: %s\n", strings.Join(parts, ", "))
}

func newMirrorCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Mirror groups: the same flows delivered to several VFs",
		Long: `A mirror group delivers the frames addressed to one MAC to several VFs of a PF at once (a probe and a
VNF, say). Strategies: same-mac (legacy eswitch, NICs that deliver a shared MAC to every VF: igb, ice),
switchdev-tc (NICs in switchdev mode: tc mirred rules on the VF representors). auto picks the one that
works and refuses, before touching anything, where none does. See docs/mirroring.md.`,
		Example: `  sriovctl --lab /tmp/lab mirror create tap --pf ens5f0 --vfs 1,2
  sriovctl --lab /tmp/lab mirror list
  sriovctl --lab /tmp/lab mirror delete tap`,
	}
	cmd.AddCommand(newMirrorCreateCmd(a), newMirrorListCmd(a), newMirrorDeleteCmd(a))
	return cmd
}

// mirrorErr sorts mirror errors into exit codes: input errors stay as they are (exit 2), the rest are
// operational (exit 1).
func mirrorErr(what string, err error) error {
	var fe *sriov.FieldError
	var ue *UsageError
	var se *service.UsageError
	var ae *service.AssignedError
	if errors.As(err, &fe) || errors.As(err, &ue) || errors.As(err, &se) || errors.As(err, &ae) {
		return err
	}
	return &OpError{What: what, Err: err}
}

func newMirrorCreateCmd(a *App) *cobra.Command {
	var pfRef, vfs, mac, strategy string
	c := &cobra.Command{
		Use:   "create NAME --pf PF --vfs 2,3 [--mac MAC] [--strategy auto|same-mac|switchdev-tc]",
		Short: "Create a mirror group: frames to one MAC reach every member VF",
		Long: `Create a mirror group and check it with the switch model. same-mac gives every member the shared MAC
(default: the first member's MAC), turns spoof check off, and reloads the VF driver where the NIC needs it
(igb); switchdev-tc offloads a tc mirred rule. Where the strategy cannot work on the NIC (mlx5 in legacy
mode refuses duplicate MACs with EEXIST; ixgbe's behaviour is unknown) nothing is touched and the error
says what would work. If, after applying, the model does not show the MAC reaching every member, every
write is undone. The members' prior MAC, spoof check and trust are recorded for mirror delete.`,
		Example: `  sriovctl --lab /tmp/lab mirror create tap --pf ens5f0 --vfs 1,2
  sriovctl --lab /tmp/lab mirror create tap --pf ens3f0 --vfs 0-1 --mac 02:00:00:00:aa:01 --strategy same-mac`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("pf") || !cmd.Flags().Changed("vfs") {
				return Usagef("mirror create", "--pf and --vfs are required")
			}
			req, err := mirrorRequest(args[0], pfRef, vfs, mac, strategy)
			if err != nil {
				return err
			}
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			plan, rec, err := svc.MirrorCreate(cmd.Context(), req)
			if err != nil {
				return mirrorErr("mirror create", err)
			}
			if a.JSON {
				return a.PrintJSON(jsonout.NewMirrorChange(plan, rec, true))
			}
			g := plan.Group
			a.Printf("mirror %s on %s: strategy %s, MAC %s, VFs %s\n", g.Name, g.PF, g.Strategy, g.MAC, policy.FormatIDs(g.VFs))
			for _, n := range plan.Notes {
				a.Printf("  note: %s\n", n)
			}
			if len(plan.Commands) > 0 {
				a.Printf("done (equivalent commands):\n")
				for _, c := range plan.Commands {
					a.Printf("  %s\n", c)
				}
			}
			a.Printf("check (switch model, frame from the wire to %s): %s to %s\n", g.MAC, plan.Prediction.Verdict, receiverList(plan.Prediction))
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&pfRef, "pf", "", "the `PF` (netdev name or PCI address)")
	fl.StringVar(&vfs, "vfs", "", "member VFs as a `RANGE`, at least 2: e.g. 2,3 or 0-3")
	fl.StringVar(&mac, "mac", "", "the `MAC` whose frames are mirrored (default: the first member's MAC)")
	fl.StringVar(&strategy, "strategy", mirror.StrategyAuto, "how to mirror: `auto|same-mac|switchdev-tc`")
	return c
}

// mirrorRequest validates create's input, as the policy file's mirrors: entries are validated.
func mirrorRequest(name, pfRef, vfs, mac, strategy string) (mirror.Request, error) {
	req := mirror.Request{Name: name, PF: devref.Canonical(pfRef)}
	if !mirrorName(name) {
		return req, &sriov.FieldError{Field: "NAME", Value: name, Allowed: "want 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"}
	}
	ids, err := policy.ParseIDs(vfs)
	if err != nil {
		return req, &sriov.FieldError{Field: "--vfs", Value: vfs, Allowed: strings.TrimPrefix(err.Error(), fmt.Sprintf("invalid value %q: ", vfs))}
	}
	if len(ids) < 2 {
		return req, &sriov.FieldError{Field: "--vfs", Value: vfs, Allowed: "a mirror group needs at least 2 VFs"}
	}
	req.VFs = ids
	if mac != "" {
		m, err := sriov.ParseMAC("--mac", mac)
		if err != nil {
			return req, err
		}
		if m == sriov.ZeroMAC {
			return req, &sriov.FieldError{Field: "--mac", Value: mac, Allowed: "want a unicast MAC other than 00:00:00:00:00:00"}
		}
		req.MAC = m
	}
	if req.Strategy, err = mirror.ParseStrategy("--strategy", strategy); err != nil {
		return req, err
	}
	return req, nil
}

func mirrorName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && strings.ContainsRune("._-", r))
		if !ok {
			return false
		}
	}
	return true
}

func receiverList(r eswitch.Result) string {
	if len(r.Receivers) == 0 {
		return "nobody"
	}
	p := make([]string, len(r.Receivers))
	for i, rc := range r.Receivers {
		p[i] = rc.Port
	}
	return strings.Join(p, ", ")
}

func newMirrorListCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the mirror groups, with whether the switch model says each still works",
		Example: `  sriovctl --lab /tmp/lab mirror list
  sriovctl --lab /tmp/lab mirror list --json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			groups, err := svc.Mirrors(cmd.Context())
			if err != nil {
				return &OpError{What: "mirror list", Err: err}
			}
			pending, err := svc.Pending()
			if err != nil {
				return &OpError{What: "mirror list", Err: err}
			}
			if !pending.Any() {
				pending = nil
			}
			if !a.JSON {
				a.printPendingNote(pending)
			}
			if a.JSON {
				return a.PrintJSON(jsonout.NewMirrorList(groups, pending))
			}
			if len(groups) == 0 {
				a.Printf("no mirror groups\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPF\tVFS\tMAC\tSTRATEGY\tSTATE\tSOURCE\tHEALTH")
			for _, g := range groups {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, g.PF, policy.FormatIDs(g.VFs), dash(g.MAC), g.Strategy, g.State, g.Source, dash(g.Health))
			}
			return tw.Flush()
		},
	}
}

func newMirrorDeleteCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a mirror group, restoring each member's prior MAC, spoof check and trust",
		Example: `  sriovctl --lab /tmp/lab mirror delete tap`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			plan, rec, err := svc.MirrorDelete(cmd.Context(), args[0])
			if err != nil {
				return mirrorErr("mirror delete", err)
			}
			if a.JSON {
				return a.PrintJSON(jsonout.NewMirrorChange(plan, rec, false))
			}
			a.Printf("mirror %s deleted from %s\n", plan.Group.Name, plan.Group.PF)
			for _, n := range plan.Notes {
				a.Printf("  note: %s\n", n)
			}
			for _, o := range plan.Ops {
				a.Printf("  %s\n", o.Describe())
			}
			return nil
		},
	}
}
