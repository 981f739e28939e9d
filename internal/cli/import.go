package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/adopt/netplan"
	"github.com/sriovctl/sriovctl/internal/adopt/networkd"
	"github.com/sriovctl/sriovctl/internal/policy"
)

func init() { register("import", newImportCmd) }

func newImportCmd(a *App) *cobra.Command {
	c := &cobra.Command{
		Use:   "import",
		Short: "Convert another tool's SR-IOV configuration (netplan, systemd-networkd) into a policy",
		Long: `Read the SR-IOV settings another tool applies at boot and write them as a sriovctl policy, on stdout or
to -o FILE. Every setting with no equivalent in a policy is named in a note, on stderr and as a comment
in the policy. Nothing on the host is read or changed: check the result with ` + "`sriovctl plan -f`" + `,
then remove the settings from the other tool, or both will set the PF at every boot (plan and apply warn
while they do).`,
		Example: `  sriovctl import netplan /etc/netplan/50-sriov.yaml -o /tmp/netplan-policy.yaml
  sriovctl import networkd /etc/systemd/network
  sriovctl plan -f /tmp/netplan-policy.yaml`,
	}
	c.AddCommand(newImportNetplanCmd(a), newImportNetworkdCmd(a))
	return c
}

func newImportNetplanCmd(a *App) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "netplan FILE... [-o FILE]",
		Short: "Convert netplan's SR-IOV settings (virtual-function-count, embedded-switch-mode, VFs) into a policy",
		Long: `Convert the SR-IOV settings of netplan files, read as one configuration in the order given (netplan reads
/etc/netplan/*.yaml in file name order; a definition in several files takes each key from the last): a
PF's virtual-function-count (else as many VFs as there are definitions with link: to it) and
embedded-switch-mode; each VF's macaddress (as its admin MAC) and hardware VLAN filter (a vlans: entry
with renderer: sriov). netplan does not fix which VF a definition gets, so VF ids follow the order of the
definitions (a note says so). delay-virtual-functions-rebind, MTUs and PFs selected by match: get notes.`,
		Example: `  sriovctl import netplan /etc/netplan/*.yaml -o /etc/sriovctl/policy.d/50-netplan.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return Usagef(commandName(cmd), "want at least one netplan FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var files []netplan.File
			for _, name := range args {
				data, err := policy.ReadFile(name)
				if err != nil {
					return usageErr("FILE", err)
				}
				files = append(files, netplan.File{Name: name, Data: data})
			}
			pol, notes, err := netplan.ConvertFiles(files)
			var ne *netplan.Error
			switch {
			case errors.As(err, &ne):
				return usageErr("import netplan", err)
			case err != nil:
				return usageErr("import netplan", fmt.Errorf("%s: %w", strings.Join(args, ", "), err))
			}
			return a.writePolicyDoc("import netplan", out, importHeader("netplan files "+strings.Join(args, ", ")), notes, pol)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the policy to `FILE` (atomically) instead of stdout")
	return c
}

func newImportNetworkdCmd(a *App) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "networkd DIR [-o FILE]",
		Short: "Convert systemd-networkd/udev .link and .network SR-IOV settings in DIR into a policy",
		Long: `Convert the SR-IOV settings of the .link and .network files in DIR (e.g. /etc/systemd/network): a .link
file's [Link] SR-IOVVirtualFunctions= and the [SR-IOV] sections of both kinds (VirtualFunction=, VLANId=,
QualityOfService=, VLANProtocol=, MACSpoofCheck=, QueryReceiveSideScaling=, Trust=, LinkState=,
MACAddress=). The PF is what the file's [Match] names: Path=pci-… (its PCI address), OriginalName= or
Name= with one name; files matching otherwise get a note. As udev and networkd do, only the first matching
.link and .network file per PF count, and .network settings win over .link ones.`,
		Example: `  sriovctl import networkd /etc/systemd/network -o /etc/sriovctl/policy.d/20-networkd.yaml`,
		Args:    exactArgs(1, "the DIR holding .link and .network files"),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := readNetworkdDir(args[0])
			if err != nil {
				return err
			}
			pol, notes, err := networkd.Convert(files)
			if err != nil {
				return usageErr("import networkd", fmt.Errorf("%s: %w", args[0], err))
			}
			return a.writePolicyDoc("import networkd", out, importHeader("systemd-networkd files in "+args[0]), notes, pol)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the policy to `FILE` (atomically) instead of stdout")
	return c
}

func importHeader(from string) []string {
	return []string{
		fmt.Sprintf("Written by `sriovctl import` at %s from the %s.", time.Now().UTC().Format(time.RFC3339), from),
		"Check it with `sriovctl plan -f`, then remove these settings from the other tool.",
	}
}

// readNetworkdDir reads DIR's .link and .network files (regular files of at most the policy size limit).
func readNetworkdDir(dir string) ([]networkd.File, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, usageErr("DIR", err)
	}
	if !fi.IsDir() {
		return nil, Usagef("DIR", "%s is not a directory; give the directory holding .link and .network files", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, &OpError{What: "import networkd", Err: err}
	}
	var files []networkd.File
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".link") && !strings.HasSuffix(e.Name(), ".network") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := policy.ReadFile(path)
		if err != nil {
			var pe *policy.Error
			if errors.As(err, &pe) && strings.Contains(pe.Msg, "not a regular file") {
				continue // a symlink to /dev/null masks a file of the same name elsewhere: nothing to read
			}
			return nil, usageErr("DIR", err)
		}
		files = append(files, networkd.File{Name: path, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	if len(files) == 0 {
		return nil, Usagef("DIR", "%s has no .link or .network files", dir)
	}
	return files, nil
}
