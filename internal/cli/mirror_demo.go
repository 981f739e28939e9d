package cli

import (
	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() {
	addDemoSection(demoSection{Order: 50, Title: "Mirror one flow to two VMs", Run: demoMirror})
}

// demoMirror: the field's mirroring hack as a checked command, on the igb NIC, with the model's trace.
func demoMirror(d *Demo) error {
	d.Say("A VNF on VF 0 and a probe on VF 1 of the igb NIC should both receive the VNF's traffic.")
	for _, s := range [][]string{
		{"pf", "set", "ens5f0", "--numvfs", "4"},
		{"vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:05:00", "--reload-vf-driver"},
	} {
		if _, err := d.OK(s...); err != nil {
			return err
		}
	}
	d.Say("trace predicts, from a model of the NIC's switch, who gets a frame: today only the VNF.")
	if _, err := d.OK("trace", "--pf", "ens5f0", "--from", "wire", "--dst", "02:00:00:00:05:00"); err != nil {
		return err
	}
	d.Say("mirror create gives both VFs the MAC, turns spoof check off, reloads igbvf so the netdevs take the MAC\n# (igb needs it), then checks with the model that the MAC reaches both, else it undoes everything.")
	if _, err := d.OK("mirror", "create", "probe", "--pf", "ens5f0", "--vfs", "0,1"); err != nil {
		return err
	}
	d.Say("Frames to the VNF's MAC, from the wire or from another VF, now reach both VMs.")
	for _, from := range []string{"wire", "vf:2"} {
		if _, err := d.OK("trace", "--pf", "ens5f0", "--from", from, "--dst", "02:00:00:00:05:00"); err != nil {
			return err
		}
	}
	d.Say("mlx5 refuses a MAC two VFs share (EEXIST): the mirror is refused before anything is touched,\n# and the error names the strategy that works there (switchdev-tc).")
	if _, err := d.OK("pf", "set", "ens4f0", "--numvfs", "2"); err != nil {
		return err
	}
	if _, err := d.Run(1, "mirror", "create", "tap", "--pf", "ens4f0", "--vfs", "0,1"); err != nil {
		return err
	}
	d.Say("mirror list shows the group; mirror delete would restore both VFs' MAC, spoof check and trust.")
	_, err := d.OK("mirror", "list")
	return err
}

// newLabEswitchCmd switches a lab PF's eswitch mode, as `devlink dev eswitch set ... mode` does on a host.
func newLabEswitchCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "eswitch PF legacy|switchdev",
		Short: "Set a lab PF's eswitch mode (like devlink; needs 0 VFs and a switchdev-capable NIC: ice, mlx5)",
		Example: `  sriovctl --lab /tmp/lab lab eswitch ens4f0 switchdev
  sriovctl --lab /tmp/lab mirror create tap --pf ens4f0 --vfs 0,1   # then: switchdev-tc`,
		Args: exactArgs(2, "PF MODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "legacy" && args[1] != "switchdev" {
				return &sriov.FieldError{Field: "MODE", Value: args[1], Allowed: "allowed legacy or switchdev"}
			}
			// An unknown PF is invalid input, as in every command (exit 2).
			l, p, err := a.labPF(cmd.Context(), "PF", args[0])
			if err != nil {
				return err
			}
			if err := l.SetEswitchMode(cmd.Context(), p.Name, args[1]); err != nil {
				return &OpError{What: "lab eswitch", Err: err}
			}
			if a.JSON {
				return a.printLabChange(cmd.Context(), l, &sriov.Host{PFs: []sriov.PF{*p}}, []string{p.PCIAddress})
			}
			a.Printf("%s: eswitch %s\n", p.Name, args[1])
			return nil
		},
	}
}
