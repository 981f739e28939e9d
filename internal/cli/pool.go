package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() {
	register("pool", newPoolCmd)
	register("assign", newAssignCmd)
	register("release", newReleaseCmd)
	register("assignments", newAssignmentsCmd)
}

// poolSource says where pools come from: -f FILE when given, else the host's stored desired policy
// (what `sriovctl apply` stored). The ledger, not the policy, says which VFs are taken.
type poolSource struct{ file string }

// addFlag adds -f/--file, as plan and apply name the policy file, and --policy, its old name, hidden
// and deprecated but still working.
func (s *poolSource) addFlag(fl *pflag.FlagSet) {
	fl.StringVarP(&s.file, "file", "f", "", "read pools from the policy `FILE` instead of the host's stored desired policy")
	deprecatedAlias(fl, "policy", "file")
}

// load returns the pools and the file they came from.
func (s *poolSource) load(a *App) ([]policy.Pool, string, error) {
	path := s.file
	var data []byte
	if path == "" {
		d, err := apply.LoadDesired(a.StateDir())
		if err != nil {
			return nil, "", &OpError{What: "desired state", Err: err}
		}
		if d == nil {
			return nil, "", Usagef("pools", "no desired policy stored in %s (`sriovctl apply -f FILE` stores one) and no -f FILE given", a.StateDir())
		}
		path, data = d.Path, d.Policy
	} else {
		var err error
		if data, err = policy.ReadFile(path); err != nil {
			return nil, "", usageErr("-f", err)
		}
	}
	p, err := policy.Parse(path, data)
	if err != nil {
		return nil, "", usageErr("-f", err)
	}
	return p.Pools, path, nil
}

func findPool(pools []policy.Pool, name, source string) (policy.Pool, error) {
	names := make([]string, 0, len(pools))
	for _, p := range pools {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return policy.Pool{}, Usagef("--pool", "no pool %q in %s; pools: %s", name, source, have)
}

func newPoolCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Short: "VF pools (defined in the policy file) handed out to VMs", Example: `  sriovctl pool list
  sriovctl pool list -f policy.yaml --json`}
	cmd.AddCommand(newPoolListCmd(a))
	cmd.AddCommand(newPoolLibvirtNetworkCmd(a)) // pool_libvirt.go
	return cmd
}

func newPoolListCmd(a *App) *cobra.Command {
	var src poolSource
	c := &cobra.Command{
		Use:   "list [-f FILE]",
		Short: "List pools with their used and free VFs",
		Example: `  sriovctl pool list                  # the pools of the stored desired state
  sriovctl pool list -f policy.yaml   # the pools of a policy file`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pools, _, err := src.load(a)
			if err != nil {
				return err
			}
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			sts, pending, err := svc.PoolStatuses(cmd.Context(), pools)
			if err != nil {
				return &OpError{What: "pool list", Err: err}
			}
			if a.JSON {
				return a.PrintJSON(jsonout.NewPoolList(sts, pending))
			}
			a.printPendingNote(pending)
			if len(sts) == 0 {
				a.Printf("no pools defined\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POOL\tPF\tVFS\tDRIVER\tUSED\tFREE\tMISSING")
			for _, s := range sts {
				missing := "-"
				if len(s.Missing) > 0 {
					missing = policy.FormatIDs(s.Missing)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Name, s.PF, s.IDs, dash(s.Driver), s.Used, s.Free, missing)
			}
			return tw.Flush()
		},
	}
	src.addFlag(c.Flags())
	return c
}

// Assign output formats.
const (
	formatText    = "text"
	formatJSON    = "json"
	formatLibvirt = "libvirt"
	formatQEMU    = "qemu"
)

func newAssignCmd(a *App) *cobra.Command {
	var src poolSource
	var f vfSetFlags
	var poolName, owner, format string
	c := &cobra.Command{
		Use:   "assign --pool POOL --owner ID [flags]",
		Short: "Hand a free VF of a pool to an owner (a VM), with its settings, and print it",
		Long: `Pick a free VF of the pool, record it for the owner in the ledger (on disk before anything is reported),
save the VF's configuration and driver, apply the owner's settings, bind the pool's driver and print the VF.
The same owner asking again with the same settings gets the same VF. A pool with no free VF fails with
"pool P exhausted (N/N in use)". Formats: text, json ({"owner","pool","pf","vf","pciAddress","lease"}),
libvirt (an <interface type='hostdev' managed='yes'> element) or qemu (-device vfio-pci,host=...).`,
		Example: `  sriovctl assign --pool vms --owner web1 --mac 02:00:00:00:01:01 --vlan 100 --format libvirt
  sriovctl assign --pool vms --owner db1 --format qemu -f policy.yaml`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("pool") || !cmd.Flags().Changed("owner") {
				return Usagef("assign", "give --pool P and --owner ID")
			}
			if err := pool.ValidateOwner("--owner", owner); err != nil {
				return err
			}
			switch format {
			case "":
				format = formatText
				if a.JSON {
					format = formatJSON
				}
			case formatJSON, formatLibvirt, formatQEMU, formatText:
				if a.JSON && format != formatJSON {
					return Usagef("--format", "--json goes with --format json only")
				}
			default:
				return Usagef("--format", "invalid value %q: allowed json, libvirt or qemu", format)
			}
			s, err := f.settings(cmd)
			if err != nil {
				return err
			}
			pools, source, err := src.load(a)
			if err != nil {
				return err
			}
			pl, err := findPool(pools, poolName, source)
			if err != nil {
				return err
			}
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			res, err := svc.Assign(cmd.Context(), pool.Request{Pool: pl, Owner: owner, Settings: s})
			var ex *pool.ExhaustedError
			var fe *sriov.FieldError
			if errors.As(err, &ex) || errors.As(err, &fe) {
				return err // exactly "pool P exhausted (N/N in use)"; or bad input, exit 2
			}
			if err != nil {
				return &OpError{What: "assign", Err: err}
			}
			return a.printAssignment(res, format)
		},
	}
	fl := c.Flags()
	fl.StringVar(&poolName, "pool", "", "the `POOL` to take a VF from")
	fl.StringVar(&owner, "owner", "", "who gets the VF: `ID`, a VM name or UUID")
	fl.StringVar(&format, "format", "", "print the VF as `json|libvirt|qemu` (default text)")
	f.addFlags(fl, "mac", "vlan", "qos", "spoofchk", "trust", "max-tx-rate")
	src.addFlag(fl)
	return c
}

// assignNotes are what assign says besides the VF: settings set again, and what the output format
// cannot carry.
func assignNotes(as pool.Assignment, format string) []string {
	r := as.Record
	var notes []string
	if len(as.Reapplied) > 0 {
		notes = append(notes, fmt.Sprintf("%s vf %d had drifted from %s's settings; set again: %s", r.PF, r.VF, r.Owner, strings.Join(as.Reapplied, ", ")))
	}
	switch {
	case format == formatLibvirt && r.Config.QoS != 0:
		notes = append(notes, fmt.Sprintf("libvirt has no VLAN priority element; the VF keeps qos %d as long as libvirt does not rewrite its VLAN", r.Config.QoS))
	case format == formatQEMU && r.Driver != "vfio-pci":
		notes = append(notes, fmt.Sprintf("%s vf %d is bound to %s; QEMU needs it bound to vfio-pci (give the pool driver: vfio-pci)", r.PF, r.VF, driverName(r.Driver)))
	}
	return notes
}

func (a *App) printAssignment(res *service.AssignResult, format string) error {
	as := res.Assignment
	r, notes := as.Record, assignNotes(as, format)
	if format == formatJSON {
		return a.PrintJSON(jsonout.Assign{Assignment: jsonout.NewAssignment(r), Existing: as.Existing,
			Reapplied: jsonout.List(as.Reapplied), Notes: jsonout.List(notes), Recovered: jsonout.NewRecovered(res.Recovered)})
	}
	for _, n := range notes {
		a.note(n) // silenced by -q
	}
	switch format {
	case formatLibvirt:
		x, err := pool.LibvirtInterface(r)
		if err != nil {
			return &OpError{What: "assign", Err: err}
		}
		a.Printf("%s\n", x)
		return nil
	case formatQEMU:
		a.Printf("%s\n", quoteArgs(pool.QEMUArgs(r)))
		return nil
	}
	how := "assigned"
	if as.Existing {
		how = "already assigned"
	}
	a.Printf("%s: %s vf %d (%s) from pool %s, %s, driver %s, lease %s\n", r.Owner, r.PF, r.VF, r.PCIAddress, r.Pool, how, driverName(r.Driver), r.Lease)
	return nil
}

func newReleaseCmd(a *App) *cobra.Command {
	var sel pool.Selector
	c := &cobra.Command{
		Use:   "release --owner ID [--pool POOL] | --lease TOKEN",
		Short: "Give VFs back: restore their saved prior state and free them",
		Long: `Restore each released VF exactly as it was before its assignment (MAC, VLAN, QoS, spoof check, trust,
rates, link state, driver) and free it. --owner releases every VF the owner holds (in --pool only, if
given); --lease releases the one VF holding that lease. A lease that was released already, or whose VF
was assigned again since, matches nothing: release then changes nothing and says so (exit 0).`,
		Example: `  sriovctl release --owner web1
  sriovctl release --lease 4f1c2a...`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := cmd.Flags().Changed
			switch {
			case ch("owner") == ch("lease"):
				return Usagef("release", "give either --owner ID or --lease TOKEN")
			case ch("lease") && ch("pool"):
				return Usagef("release", "--pool goes with --owner, not --lease")
			case ch("owner"):
				if err := pool.ValidateOwner("--owner", sel.Owner); err != nil {
					return err
				}
			default:
				lease, err := parseLease(sel.Lease)
				if err != nil {
					return err
				}
				sel.Lease = lease
			}
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			res, err := svc.Release(cmd.Context(), sel)
			if err != nil {
				return &OpError{What: "release", Err: err}
			}
			done := res.Released
			var notes []string
			switch {
			case len(done) > 0:
			case sel.Lease != "":
				notes = append(notes, fmt.Sprintf("nothing to release: lease %s holds no VF (released already, or its VF was assigned again since); nothing changed", sel.Lease))
			default:
				notes = append(notes, fmt.Sprintf("nothing to release: owner %s holds no VF; nothing changed", sel.Owner))
			}
			if a.JSON {
				return a.PrintJSON(jsonout.NewRelease(done, notes, res.Recovered))
			}
			for _, n := range notes {
				a.Printf("%s\n", n)
			}
			for _, r := range done {
				p := r.Prior
				a.Printf("released %s vf %d (pool %s) from %s: restored mac %s, vlan %d qos %d, spoofchk %s, trust %s, max-tx-rate %d, driver %s\n",
					r.PF, r.VF, r.Pool, r.Owner, p.MAC, p.VLAN, p.QoS, onOff(p.SpoofCheck), onOff(p.Trust), p.MaxTxRateMbps, driverName(r.PriorDriver))
			}
			return nil
		},
	}
	c.Flags().StringVar(&sel.Owner, "owner", "", "release every VF the owner `ID` holds")
	c.Flags().StringVar(&sel.Lease, "lease", "", "release the VF holding the lease `TOKEN`")
	c.Flags().StringVar(&sel.Pool, "pool", "", "with --owner: only the owner's VF of `POOL`")
	return c
}

// leaseToken is what assign prints as a lease: 128 bits in hex.
func isLeaseToken(s string) bool { return len(s) == 32 && sriov.IsHex(s) }

// parseLease refuses what cannot be a lease (a typo, a truncated copy) as invalid input, rather than
// reporting that it holds no VF.
func parseLease(s string) (string, error) {
	if !isLeaseToken(s) {
		return "", &sriov.FieldError{Field: "--lease", Value: s, Allowed: "want the 32 hex digits assign printed as the lease"}
	}
	return strings.ToLower(s), nil
}

func newAssignmentsCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "assignments",
		Short: "List the VFs handed out: owner, pool, VF, lease, since when, and whether the host still matches",
		Example: `  sriovctl assignments
  sriovctl assignments --json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := a.Service(false)
			if err != nil {
				return err
			}
			all, pending, err := svc.Assignments(cmd.Context())
			if err != nil {
				return &OpError{What: "assignments", Err: err}
			}
			if a.JSON {
				return a.PrintJSON(jsonout.Assignments{Assignments: jsonout.NewHeld(all), PendingRecovery: jsonout.NewPending(pending)})
			}
			a.printPendingNote(pending)
			if len(all) == 0 {
				a.Printf("no VFs assigned\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OWNER\tPOOL\tPF\tVF\tPCI\tDRIVER\tLEASE\tSTATE\tSINCE\tHOST")
			for _, r := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Owner, r.Pool, r.PF, r.VF, r.PCIAddress,
					driverName(r.Driver), r.Lease, r.State, r.Since.Format("2006-01-02T15:04:05Z"), r.Host)
			}
			return tw.Flush()
		},
	}
}
