package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func newLabTrafficCmd(a *App) *cobra.Command {
	var ff frameFlags
	var count, size int
	c := &cobra.Command{
		Use:   "traffic --pf PF --from wire|pf|vf:N --dst MAC [--src MAC] [--vlan VLAN] [--count N] [--size BYTES]",
		Short: "Send frames through a lab PF's switch model and count them per port (rx, tx, broadcast, multicast, drops)",
		Long: `Send --count frames of --size bytes into a lab PF's embedded switch. The switch model of trace decides
who receives them; the lab counts them at the sender (tx), at every receiver (rx, plus broadcast or
multicast by destination) and where they are dropped (tx dropped at a sending VF or the PF, rx dropped at
the PF for frames from the wire, rx dropped at a VF whose netdev drops them). Counters are stored with the
lab, survive across processes and start at zero when a VF is created; the agent's metrics read the VFs'.
--json prints {"trace","added","counters"}, counters by port.`,
		Example: `  sriovctl --lab /tmp/lab lab traffic --pf ens5f0 --from wire --dst 02:00:00:00:00:10 --count 100
  sriovctl --lab /tmp/lab lab traffic --pf ens5f0 --from vf:1 --dst ff:ff:ff:ff:ff:ff --size 1500`,
		Args: exactArgs(0, "none (use flags)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fr, inVF, err := ff.frame(cmd)
			if err != nil {
				return err
			}
			if count < 1 || count > lab.MaxCount {
				return &sriov.FieldError{Field: "--count", Value: strconv.Itoa(count), Allowed: fmt.Sprintf("allowed 1-%d", lab.MaxCount)}
			}
			if size < lab.MinFrameSize || size > lab.MaxFrameSize {
				return &sriov.FieldError{Field: "--size", Value: strconv.Itoa(size), Allowed: fmt.Sprintf("allowed %d-%d bytes", lab.MinFrameSize, lab.MaxFrameSize)}
			}
			l, p, err := a.labPF(cmd.Context(), "--pf", ff.pf)
			if err != nil {
				return err
			}
			if err := ff.checkVF(p, inVF); err != nil {
				return err
			}
			res, err := l.SendTraffic(cmd.Context(), p.PCIAddress, lab.Traffic{
				Frame: fr, Count: count, Size: size,
			})
			if err != nil {
				return &OpError{What: "lab traffic", Err: err}
			}
			if a.JSON {
				return a.PrintJSON(jsonout.LabTraffic{PF: p.Name, Count: count, Size: size, Trace: jsonout.NewTrace(res.Trace), Added: res.Added, Counters: res.Counter})
			}
			a.Printf("%s of %d bytes from %s to %s on %s: %s: %s\n", plural(count, "frame"), size, fr.From, fr.Dst, p.Name, res.Trace.Verdict, res.Trace.Reason)
			for _, port := range sortedPorts(res.Counter) {
				a.Printf("  %-7s %s\n", port, counterText(res.Counter[port], res.Added[port]))
			}
			return nil
		},
	}
	ff.register(c, "the `PF` whose switch the frames enter (netdev name or PCI address)")
	fl := c.Flags()
	fl.IntVar(&count, "count", 1, "send `N` frames")
	fl.IntVar(&size, "size", 64, fmt.Sprintf("`BYTES` per frame, %d-%d", lab.MinFrameSize, lab.MaxFrameSize))
	return c
}

// sortedPorts orders ports as wire, pf, vf:0, vf:1...
func sortedPorts(m map[string]host.VFStats) []string {
	rank := func(p string) int {
		switch p {
		case eswitch.PortWire:
			return -2
		case eswitch.PortPF:
			return -1
		}
		_, id, _ := eswitch.ParsePort(p)
		return id
	}
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// counterText lists a port's nonzero counters with what this burst added.
func counterText(total, added host.VFStats) string {
	fields := []struct {
		name     string
		tot, add uint64
	}{
		{"rx_packets", total.RxPackets, added.RxPackets}, {"rx_bytes", total.RxBytes, added.RxBytes},
		{"tx_packets", total.TxPackets, added.TxPackets}, {"tx_bytes", total.TxBytes, added.TxBytes},
		{"broadcast", total.Broadcast, added.Broadcast}, {"multicast", total.Multicast, added.Multicast},
		{"rx_dropped", total.RxDropped, added.RxDropped}, {"tx_dropped", total.TxDropped, added.TxDropped},
	}
	var parts []string
	for _, f := range fields {
		if f.tot == 0 && f.add == 0 {
			continue
		}
		p := fmt.Sprintf("%s %d", f.name, f.tot)
		if f.add != 0 {
			p += fmt.Sprintf(" (+%d)", f.add)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// labPF opens the lab and finds one of its PFs by name or PCI address (an unknown one is invalid input).
func (a *App) labPF(ctx context.Context, field, ref string) (*lab.Lab, *sriov.PF, error) {
	l, err := a.Lab()
	if err != nil {
		return nil, nil, err
	}
	st, err := a.Observe(ctx, l)
	if err != nil {
		return nil, nil, err
	}
	p, err := FindPF(st, field, ref)
	if err != nil {
		return nil, nil, err
	}
	return l, p, nil
}
