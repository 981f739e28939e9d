package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// frameFlags describe frames entering a PF's embedded switch, for trace and lab traffic.
type frameFlags struct {
	pf, from, dst, src string
	vlan               int
}

func (f *frameFlags) register(c *cobra.Command, pfHelp string) {
	fl := c.Flags()
	fl.StringVar(&f.pf, "pf", "", pfHelp)
	fl.StringVar(&f.from, "from", "", "where the frame enters: `wire|pf|vf:N`")
	fl.StringVar(&f.dst, "dst", "", "destination `MAC` (unicast, multicast or ff:ff:ff:ff:ff:ff)")
	fl.StringVar(&f.src, "src", "", "source `MAC` (default: the ingress port's own MAC)")
	fl.IntVar(&f.vlan, "vlan", 0, "802.1Q tag `VLAN` of the frame as sent, 1-4094 (default 0: untagged)")
}

// frame validates the flags (before the host is read) and returns the frame and its ingress VF (-1 if
// it does not enter at a VF).
func (f *frameFlags) frame(cmd *cobra.Command) (eswitch.Frame, int, error) {
	for _, name := range []string{"pf", "from", "dst"} {
		if !cmd.Flags().Changed(name) {
			return eswitch.Frame{}, -1, Usagef(cmd.Name(), "--%s is required", name)
		}
	}
	port, inVF, err := eswitch.ParsePort(f.from)
	if err != nil {
		return eswitch.Frame{}, -1, err
	}
	d, err := parseAnyMAC("--dst", f.dst)
	if err != nil {
		return eswitch.Frame{}, -1, err
	}
	s := ""
	if cmd.Flags().Changed("src") {
		if s, err = parseAnyMAC("--src", f.src); err != nil {
			return eswitch.Frame{}, -1, err
		}
	}
	if err := sriov.ValidateVLAN("--vlan", f.vlan); err != nil {
		return eswitch.Frame{}, -1, err
	}
	return eswitch.Frame{From: port, Src: s, Dst: d, VLAN: f.vlan}, inVF, nil
}

// checkVF refuses an ingress VF the PF does not have: a mistake in the question, not a prediction.
func (f *frameFlags) checkVF(p *sriov.PF, inVF int) error {
	if inVF < 0 {
		return nil
	}
	if err := sriov.ValidateVFID("--from", inVF, p.NumVFs); err != nil {
		fe := err.(*sriov.FieldError)
		return &sriov.FieldError{Field: fe.Field, Value: f.from, Allowed: fmt.Sprintf("%s: VF ids of %s", fe.Allowed, p.Name)}
	}
	return nil
}
