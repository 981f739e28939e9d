package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { register("show", newShowCmd) }

func newShowCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "show [PF...]",
		Short: "Show PFs and their VFs (all PFs, or those named by netdev or PCI address)",
		Example: `  sriovctl --lab /tmp/lab show
  sriovctl --lab /tmp/lab show ens5f0 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) > 0 {
				sel := &sriov.Host{PFs: []sriov.PF{}}
				for _, ref := range args {
					p, err := FindPF(st, "PF", ref)
					if err != nil {
						return err
					}
					sel.PFs = append(sel.PFs, *p)
				}
				st = sel
			}
			if a.JSON {
				return a.PrintJSON(jsonout.NewShow(st.PFs))
			}
			if len(st.PFs) == 0 {
				a.Printf("no SR-IOV capable PFs found on this host\n")
				return nil
			}
			WriteTable(a, st)
			return nil
		},
	}
}

// WriteTable prints a human table: a header line per PF, then one row per VF.
func WriteTable(a *App, st *sriov.Host) {
	for i, p := range st.PFs {
		if i > 0 {
			a.Printf("\n")
		}
		eswitch := ""
		if p.EswitchMode != "" {
			eswitch = "  eswitch " + p.EswitchMode
		}
		a.Printf("%s  %s  %s %s:%s  VFs %d/%d  mac %s  mtu %d  %s%s\n", p.Name, p.PCIAddress, p.Driver,
			p.VendorID, p.DeviceID, p.NumVFs, p.TotalVFs, p.MAC, p.MTU, p.OperState, eswitch)
		if p.VFInfoTruncated {
			a.Printf("  WARNING: the kernel reported %d of %d VFs (IFLA_VFINFO_LIST cut short); rows are missing\n", len(p.VFs), p.NumVFs)
		}
		if len(p.VFs) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  VF\tPCI\tNETDEV\tDRIVER\tMAC\tVLAN\tQOS\tPROTO\tSPOOFCHK\tTRUST\tSTATE\tMIN\tMAX\tRSS")
		for _, v := range p.VFs {
			vlan := fmt.Sprint(v.VLAN)
			if v.VLAN == 0 {
				vlan = "-"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.PCIAddress,
				dash(v.Netdev), dash(v.Driver), v.MAC, vlan, v.QoS, v.VLANProto, onOff(v.SpoofCheck), onOff(v.Trust),
				v.LinkState, rate(v.MinTxRateMbps), rate(v.MaxTxRateMbps), onOff(v.QueryRSS))
		}
		tw.Flush()
		for _, r := range p.MirrorRules {
			a.Printf("  mirror rule %s\n", r)
		}
	}
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func rate(r int) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprint(r)
}
