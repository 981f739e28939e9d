package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { register("vf", newVFCmd) }

func newVFCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "vf", Short: "Configure Virtual Functions", Example: `  sriovctl vf set ens5f0 0 --vlan 100 --spoofchk on
  sriovctl vf bind ens5f0 0 vfio-pci`}
	cmd.AddCommand(newVFSetCmd(a))
	for _, sub := range vfSubcommands {
		cmd.AddCommand(sub(a))
	}
	return cmd
}

// vfSubcommands lets other files add `vf` subcommands (bind...).
var vfSubcommands []func(a *App) *cobra.Command

// vfSetFlags holds the raw `vf set` flag values; Settings validates them.
type vfSetFlags struct {
	mac, vlanProto, spoofchk, trust, state, queryRSS string
	vlan, qos, minRate, maxRate                      int
	reloadVFDriver, force                            bool
}

func newVFSetCmd(a *App) *cobra.Command {
	var f vfSetFlags
	cmd := &cobra.Command{
		Use:   "set PF VF [flags]",
		Short: "Set a VF's MAC, VLAN, QoS, spoof check, trust, link state and rates",
		Long: `Set attributes of one VF. Only the named attributes change. Every value is checked before the host is
touched; if the host refuses one write, the ones already made are undone.`,
		Example: `  sriovctl --lab /tmp/lab vf set ens5f0 0 --mac 02:00:00:00:00:10 --vlan 100 --spoofchk off
  sriovctl --lab /tmp/lab vf set ens5f0 0 --vlan 0          # flat: no VLAN`,
		Args: exactArgs(2, "PF VF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.settings(cmd)
			if err != nil {
				return err
			}
			id, err := a.resolveVF(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if s.IsEmpty() && !f.reloadVFDriver {
				return Usagef("vf set", "nothing to set: give at least one of --mac, --vlan, --qos, --vlan-proto, --spoofchk, --trust, --state, --min-tx-rate, --max-tx-rate, --query-rss")
			}
			return a.setVF(cmd, args[0], id, s, f.reloadVFDriver, f.force)
		},
	}
	fl := cmd.Flags()
	f.addFlags(fl, "mac", "vlan", "qos", "vlan-proto", "spoofchk", "trust", "state", "min-tx-rate", "max-tx-rate", "query-rss")
	fl.BoolVar(&f.reloadVFDriver, "reload-vf-driver", false, "rebind the VF driver so its netdev takes a new admin MAC (needed on igb)")
	fl.BoolVar(&f.force, "force", false, "change a VF that assign handed to an owner")
	return cmd
}

// addFlags registers the named VF attribute flags (vf set has them all; assign a subset).
func (f *vfSetFlags) addFlags(fl *pflag.FlagSet, names ...string) {
	for _, n := range names {
		switch n {
		case "mac":
			fl.StringVar(&f.mac, n, "", "admin `MAC` (unicast; 00:00:00:00:00:00 clears it)")
		case "vlan":
			fl.IntVar(&f.vlan, n, 0, "port `VLAN` 0-4094 (0 = none, flat)")
		case "qos":
			fl.IntVar(&f.qos, n, 0, "802.1p priority `PRIO`, 0-7 (needs a VLAN)")
		case "vlan-proto":
			fl.StringVar(&f.vlanProto, n, "", "VLAN protocol, `802.1Q|802.1ad`")
		case "spoofchk":
			fl.StringVar(&f.spoofchk, n, "", "turn spoof check `on|off`")
		case "trust":
			fl.StringVar(&f.trust, n, "", "turn trust `on|off`")
		case "state":
			fl.StringVar(&f.state, n, "", "link state, `auto|enable|disable`")
		case "min-tx-rate":
			fl.IntVar(&f.minRate, n, 0, "guarantee a TX rate of `MBPS` Mbit/s (0 = none)")
		case "max-tx-rate":
			fl.IntVar(&f.maxRate, n, 0, "cap the TX rate at `MBPS` Mbit/s (0 = unlimited)")
		case "query-rss":
			fl.StringVar(&f.queryRSS, n, "", "let the VF query RSS config, `on|off`")
		default:
			panic("vfSetFlags: unknown flag " + n)
		}
	}
}

// ParseOnOff reads on/off (and true/false) for a flag.
func ParseOnOff(field, s string) (bool, error) {
	switch s {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, &sriov.FieldError{Field: field, Value: s, Allowed: "allowed on or off"}
}

// settings turns the changed flags into validated VFSettings.
func (f *vfSetFlags) settings(cmd *cobra.Command) (sriov.VFSettings, error) {
	var s sriov.VFSettings
	ch := cmd.Flags().Changed
	var err error
	if ch("mac") {
		m, err := sriov.ParseMAC("--mac", f.mac)
		if err != nil {
			return s, err
		}
		s.MAC = &m
	}
	if ch("vlan") {
		if err := sriov.ValidateVLAN("--vlan", f.vlan); err != nil {
			return s, err
		}
		s.VLAN = &f.vlan
	}
	if ch("qos") {
		if err := sriov.ValidateQoS("--qos", f.qos); err != nil {
			return s, err
		}
		s.QoS = &f.qos
	}
	if ch("vlan-proto") {
		p, err := sriov.ParseVLANProto("--vlan-proto", f.vlanProto)
		if err != nil {
			return s, err
		}
		s.VLANProto = &p
	}
	for _, b := range []struct {
		flag string
		raw  string
		dst  **bool
	}{{"spoofchk", f.spoofchk, &s.SpoofCheck}, {"trust", f.trust, &s.Trust}, {"query-rss", f.queryRSS, &s.QueryRSS}} {
		if ch(b.flag) {
			v, err := ParseOnOff("--"+b.flag, b.raw)
			if err != nil {
				return s, err
			}
			*b.dst = &v
		}
	}
	if ch("state") {
		st, err := sriov.ParseLinkState("--state", f.state)
		if err != nil {
			return s, err
		}
		s.LinkState = &st
	}
	if ch("min-tx-rate") {
		if err = sriov.ValidateRate("--min-tx-rate", f.minRate); err != nil {
			return s, err
		}
		s.MinTxRateMbps = &f.minRate
	}
	if ch("max-tx-rate") {
		if err = sriov.ValidateRate("--max-tx-rate", f.maxRate); err != nil {
			return s, err
		}
		s.MaxTxRateMbps = &f.maxRate
	}
	return s, nil
}

func (a *App) setVF(cmd *cobra.Command, pfRef string, id int, s sriov.VFSettings, reload, force bool) error {
	svc, err := a.Service(false)
	if err != nil {
		return err
	}
	res, err := svc.SetVF(cmd.Context(), service.VFRequest{PF: pfRef, VF: id, Settings: s, ReloadDriver: reload, Force: force})
	if err != nil {
		return err
	}
	if a.JSON {
		return a.PrintJSON(jsonout.NewDirect(res, id))
	}
	if len(res.Ops) == 0 {
		a.Printf("%s vf %d: no changes\n", res.PF, id)
		return nil
	}
	for _, o := range res.Ops {
		a.Printf("%s\n", o.Describe())
	}
	for _, n := range res.Notes {
		a.note(n) // silenced by -q
	}
	return nil
}
