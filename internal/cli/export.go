package cli

import (
	"fmt"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/adopt/export"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

func init() { register("export", newExportCmd) }

func newExportCmd(a *App) *cobra.Command {
	var out string
	var byPCI bool
	c := &cobra.Command{
		Use:   "export [PF...] [-o FILE]",
		Short: "Write the policy that describes the host as it is (adopt a host someone already set up)",
		Long: `Describe the host's PFs (all, or those named by netdev or PCI address) as a policy: each PF's VF count
and eswitch mode, every VF setting that differs from what a freshly created VF of that NIC reports, and
each VF's driver when it is not the NIC's default VF driver. ` + "`sriovctl plan -f`" + ` of the result says
"no changes" on this host, and applying it to a host with the same NICs makes them the same. What a
policy cannot say (a VF bound to no driver, an igb admin MAC waiting for a VF driver reload) is left out
with a note, on stderr and as a comment. -o writes the file atomically; without it the policy goes to
stdout. With --json: {"policy", "notes", "file"}.`,
		Example: `  sriovctl export -o /etc/sriovctl/policy.d/10-host.yaml
  sriovctl export ens5f0 --pci-address
  sriovctl --lab /tmp/lab export -o host.yaml && sriovctl --lab /tmp/lab plan -f host.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			pfs := st.PFs
			if len(args) > 0 {
				pfs = nil
				seen := map[string]bool{}
				for _, ref := range args {
					p, err := FindPF(st, "PF", ref)
					if err != nil {
						return err
					}
					if !seen[p.PCIAddress] { // named twice (by name and address): once in the policy
						seen[p.PCIAddress] = true
						pfs = append(pfs, *p)
					}
				}
			}
			pol, notes, err := export.Export(pfs, export.Options{ByPCIAddress: byPCI})
			if err != nil {
				return &OpError{What: "export", Err: err}
			}
			return a.writePolicyDoc("export", out, a.exportHeader(pfs), notes, pol)
		},
	}
	c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return runCompleter(a, cmd, (*completion).pfs, args, toComplete)
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the policy to `FILE` (atomically) instead of stdout")
	c.Flags().BoolVar(&byPCI, "pci-address", false, "name PFs by PCI address instead of netdev name (survives interface renames)")
	return c
}

// exportHeader says when and from where a policy was exported.
func (a *App) exportHeader(pfs []sriov.PF) []string {
	from := "this host's kernel"
	if a.LabDir != "" {
		from = "the lab host " + a.LabDir
	}
	name, _ := os.Hostname()
	names := make([]string, 0, len(pfs))
	for _, p := range pfs {
		names = append(names, p.Name)
	}
	return []string{
		fmt.Sprintf("Written by `sriovctl export` at %s on %s, from %s.", time.Now().UTC().Format(time.RFC3339), name, from),
		"PFs: " + strings.Join(names, ", ") + ". `sriovctl plan -f` of this file on that host says \"no changes\".",
	}
}

// writePolicyDoc renders a generated policy with its header and notes, writes it to file (atomically) or
// stdout, and repeats the notes on stderr. With --json it prints {"policy", "notes", "file"} instead of
// the YAML on stdout.
func (a *App) writePolicyDoc(what, file string, header []string, notes adopt.Notes, pol *policy.Policy) error {
	doc, err := adopt.Document(header, notes, pol)
	if err != nil {
		return &OpError{What: what, Err: err}
	}
	if file != "" {
		if err := statefile.WriteFile(file, doc, 0o644); err != nil {
			return &OpError{What: what, Err: err}
		}
	}
	for _, n := range notes {
		fmt.Fprintf(a.Stderr, "note: %s\n", n)
	}
	switch {
	case a.JSON:
		return a.PrintJSON(jsonout.PolicyDoc{Policy: pol, Notes: jsonout.List(notes), File: file})
	case file == "":
		_, err := a.Stdout.Write(doc)
		return err
	}
	a.Printf("%s: wrote %s (%d PFs, %d notes)\n", what, file, len(pol.PFs), len(notes))
	return nil
}
