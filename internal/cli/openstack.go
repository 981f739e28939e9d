package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/openstack"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

func init() { register("openstack", newOpenStackCmd) }

func newOpenStackCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "openstack",
		Short: "Render and check OpenStack SR-IOV configuration (Neutron ML2, SR-IOV agent, Nova) for a PF",
		Example: `  sriovctl openstack render --physnet physnet1 --pf ens3f0 --out /tmp/os
  sriovctl openstack check --ml2 /tmp/os/ml2_conf.ini --sriov-agent /tmp/os/sriov_agent.ini --nova /tmp/os/nova.conf`,
	}
	cmd.AddCommand(newOpenStackRenderCmd(a), newOpenStackCheckCmd(a))
	return cmd
}

type renderFlags struct {
	physnet, pf, netType, vlanRange, vfs, out string
	network, subnetRange, flavor, image       string
	segment, ports, mirrorPorts               int
	trusted                                   bool
}

func newOpenStackRenderCmd(a *App) *cobra.Command {
	var f renderFlags
	c := &cobra.Command{
		Use:   "render --physnet NAME --pf PF [--network-type flat|vlan] [--vlan-range MIN:MAX] [--vfs RANGE] [--trusted] [--out DIR]",
		Short: "Write ml2_conf.ini, sriov_agent.ini, nova.conf and the openstack CLI steps for a PF's VFs",
		Long: `Render, from the observed host, the OpenStack configuration that gives instances VFs of PF on the
provider network NAME:

  ml2_conf.ini     [ml2] mechanism_drivers with sriovnicswitch, type_drivers, and [ml2_type_flat]
                   flat_networks or [ml2_type_vlan] network_vlan_ranges (neutron-server)
  sriov_agent.ini  [sriov_nic] physical_device_mappings = NAME:PF, exclude_devices for the PF's VFs
                   outside --vfs, [securitygroup] firewall_driver = noop (neutron-sriov-nic-agent)
  nova.conf        [pci] device_spec (vendor_id/product_id of the VFs, devname or address,
                   physical_network, trusted) and alias; [filter_scheduler] enabled_filters with
                   PciPassthroughFilter (nova-compute, nova-scheduler)

then the openstack CLI steps, in order: network, subnet, direct ports (--mirror-ports more with port
security disabled, for mirror groups: the agent turns spoof check off only on those), servers.

Without --out the files go to stdout. With --out DIR they are written there; a file already in DIR is
updated, keeping its other sections and the other entries of the lists it extends. Renders into one
DIR accumulate: one physnet on several PFs (one render per PF), or one PF's VFs split across physnets
(one render per physnet, each with its own --vfs). VFs already offered on another physnet are refused
(exit 2), since Nova gives each VF to the first device_spec entry that matches it.`,
		Example: `  sriovctl --lab /tmp/lab openstack render --physnet physnet1 --pf ens5f0
  sriovctl --lab /tmp/lab openstack render --physnet physnet2 --pf ens1f0 --network-type vlan --vlan-range 100:199 --vfs 0-3 --out /tmp/os`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			var ex openstack.Existing
			if f.out != "" {
				if ex, err = readExisting(f.out); err != nil {
					return err
				}
			}
			r, err := openstack.Render(st, o, ex)
			if err != nil {
				return err
			}
			var written []string
			if f.out != "" {
				if written, err = writeRendered(f.out, r); err != nil {
					return err
				}
			}
			return a.printRendered(r, o, written)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.physnet, "physnet", "", "the provider (physical) network `NAME`, e.g. physnet1 (required)")
	fl.StringVar(&f.pf, "pf", "", "the `PF` whose VFs serve it: netdev name or PCI address (required)")
	fl.StringVar(&f.netType, "network-type", "flat", "provider network type, `flat|vlan` (flat: no VLAN)")
	fl.StringVar(&f.vlanRange, "vlan-range", "", "VLAN range `MIN:MAX` tenants may use on the physnet (vlan only)")
	fl.IntVar(&f.segment, "segment", 0, "`VLAN` id of the network the CLI steps create (vlan only; default: MIN of --vlan-range)")
	fl.StringVar(&f.vfs, "vfs", "", "the VFs OpenStack may use, a `RANGE` such as 0-3 or 0,2-5 (default: all); the others are excluded")
	fl.BoolVar(&f.trusted, "trusted", false, "offer trusted VFs (device_spec trusted=true; ports ask with --binding-profile trusted=true)")
	fl.StringVar(&f.out, "out", "", "write (or update) the three files in `DIR` instead of printing them")
	fl.IntVar(&f.ports, "ports", 1, "create `N` direct ports (and one server each) in the CLI steps")
	fl.IntVar(&f.mirrorPorts, "mirror-ports", 0, "`N` more direct ports, for a mirror group: --disable-port-security so spoof check is off")
	fl.StringVar(&f.network, "network", "", "`NAME` of the network the CLI steps create (default sriov-PHYSNET)")
	fl.StringVar(&f.subnetRange, "subnet-range", "192.0.2.0/24", "the subnet's `CIDR`")
	fl.StringVar(&f.flavor, "flavor", "m1.small", "flavor `NAME` of the servers")
	fl.StringVar(&f.image, "image", "cirros", "image `NAME` of the servers")
	return c
}

// options validates the flags; the host-dependent checks happen in openstack.Render.
func (f *renderFlags) options(cmd *cobra.Command) (openstack.Options, error) {
	ch := cmd.Flags().Changed
	o := openstack.Options{Physnet: f.physnet, PF: devref.Canonical(f.pf), NetworkType: openstack.NetworkType(f.netType), Segment: f.segment,
		Trusted: f.trusted, Network: f.network, SubnetRange: f.subnetRange, Ports: f.ports, MirrorPorts: f.mirrorPorts,
		Flavor: f.flavor, Image: f.image}
	if f.physnet == "" || f.pf == "" {
		return o, Usagef("openstack render", "give --physnet NAME and --pf PF")
	}
	if err := openstack.ValidatePhysnet("--physnet", f.physnet); err != nil {
		return o, err
	}
	switch o.NetworkType {
	case openstack.Flat, openstack.VLAN:
	default:
		return o, &sriov.FieldError{Field: "--network-type", Value: f.netType, Allowed: "allowed flat or vlan"}
	}
	if o.NetworkType == openstack.Flat && (ch("vlan-range") || ch("segment")) {
		flag := "--vlan-range"
		if !ch("vlan-range") {
			flag = "--segment"
		}
		return o, Usagef(flag, "a flat network carries no VLAN: drop %s, or use --network-type vlan", flag)
	}
	if ch("vlan-range") {
		lo, hi, err := openstack.ParseVLANRange("--vlan-range", f.vlanRange)
		if err != nil {
			return o, err
		}
		o.VLANMin, o.VLANMax = lo, hi
	}
	if ch("vfs") {
		ids, err := policy.ParseIDs(f.vfs)
		if err != nil {
			return o, &UsageError{What: "--vfs", Err: err}
		}
		o.VFs = ids
	}
	if f.ports < 0 || f.mirrorPorts < 0 {
		return o, Usagef("--ports", "port counts must be 0 or more")
	}
	// Every value that reaches the CLI steps, before the host is read.
	for _, name := range []string{"network", "subnet-range", "flavor", "image"} {
		if v, _ := cmd.Flags().GetString(name); ch(name) && v == "" {
			return o, &sriov.FieldError{Field: "--" + name, Value: v, Allowed: "must not be empty"}
		}
	}
	if err := o.ValidateSteps(); err != nil {
		return o, err
	}
	return o, nil
}

var renderedNames = []string{openstack.ML2File, openstack.SRIOVAgentFile, openstack.NovaFile}

// readExisting loads the files already in dir, to update them rather than start over.
func readExisting(dir string) (openstack.Existing, error) {
	var ex openstack.Existing
	docs := []**openstack.Doc{&ex.ML2, &ex.SRIOVAgent, &ex.Nova}
	for i, name := range renderedNames {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return ex, &UsageError{What: "--out", Err: fileError(err)}
		}
		d, err := openstack.ParseDoc(path, data)
		if err != nil {
			return ex, &UsageError{What: "--out", Err: err}
		}
		*docs[i] = d
	}
	return ex, nil
}

// writeRendered writes the files atomically and durably; a file that exists keeps its mode, owner and
// group (nova.conf holds passwords, typically root:nova 0640), a new one gets 0644.
func writeRendered(dir string, r *openstack.Rendered) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &OpError{What: "openstack render", Err: err}
	}
	var written []string
	for i, d := range r.Docs() {
		path := filepath.Join(dir, renderedNames[i])
		if err := statefile.WriteFile(path, d.Bytes(), 0o644); err != nil {
			return written, &OpError{What: "openstack render", Err: err}
		}
		written = append(written, path)
	}
	return written, nil
}

// fileRoles says where each file goes on an OpenStack deployment.
var fileRoles = map[string]string{
	openstack.ML2File:        "neutron-server, controllers: /etc/neutron/plugins/ml2/ml2_conf.ini",
	openstack.SRIOVAgentFile: "neutron-sriov-nic-agent, this compute host: /etc/neutron/plugins/ml2/sriov_agent.ini",
	openstack.NovaFile:       "nova-compute on this host ([pci]) and nova-scheduler ([filter_scheduler]): /etc/nova/nova.conf",
}

func (a *App) printRendered(r *openstack.Rendered, o openstack.Options, written []string) error {
	if a.JSON {
		files := map[string]string{}
		for i, d := range r.Docs() {
			files[renderedNames[i]] = string(d.Bytes())
		}
		steps := make([]jsonout.OpenStackStep, len(r.Steps))
		for i, s := range r.Steps {
			steps[i] = jsonout.OpenStackStep{Command: s.String(), Args: jsonout.List(s.Args), Why: s.Why}
		}
		return a.PrintJSON(jsonout.OpenStackRender{PF: r.PF, Physnet: r.Physnet, NetworkType: string(o.NetworkType), VFs: jsonout.List(r.VFs),
			ExcludedVFs: jsonout.List(r.Excluded), Files: files, Written: jsonout.List(written), Steps: steps})
	}
	a.Printf("%s network %s on %s: VFs %s offered", o.NetworkType, r.Physnet, r.PF, policy.FormatIDs(r.VFs))
	if len(r.Excluded) > 0 {
		a.Printf(", %d excluded", len(r.Excluded))
	}
	a.Printf("\n")
	if written != nil {
		for i, path := range written {
			a.Printf("wrote %s  (%s)\n", path, fileRoles[renderedNames[i]])
		}
	} else {
		for i, d := range r.Docs() {
			a.Printf("\n### %s  (%s)\n%s", renderedNames[i], fileRoles[renderedNames[i]], d.Bytes())
		}
	}
	a.Printf("\n### openstack CLI steps, in order (restart neutron-server, neutron-sriov-nic-agent, nova-compute and nova-scheduler first)\n")
	for _, s := range r.Steps {
		a.Printf("# %s\n%s\n", s.Why, s)
	}
	return nil
}

func newOpenStackCheckCmd(a *App) *cobra.Command {
	var ml2, agent, nova string
	c := &cobra.Command{
		Use:   "check --ml2 FILE --sriov-agent FILE --nova FILE",
		Short: "Check ml2_conf.ini, sriov_agent.ini and nova.conf against each other and this host",
		Long: `Check the three files against each other and against the observed host, reading them as
oslo.config, Nova and Neutron do, and report each problem as FILE:SECTION:KEY with the fix: a
device_spec physnet missing from physical_device_mappings or from flat_networks/network_vlan_ranges;
VFs an earlier device_spec entry already gives another physnet; a mapped PF that does not exist or has
no VFs; sriovnicswitch or PciPassthroughFilter absent; a driver or filter name the services do not
ship (names are case-sensitive); tenant network types without a type driver; VLAN ranges, mappings,
exclude lists, device_spec entries and aliases the services refuse at start.

Exit codes: 0 no problem, 1 problems found (listed on stdout), 2 a file is missing or not INI.`,
		Example: `  sriovctl --lab /tmp/lab openstack check --ml2 /tmp/os/ml2_conf.ini --sriov-agent /tmp/os/sriov_agent.ini --nova /tmp/os/nova.conf`,
		Args:    exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ml2 == "" || agent == "" || nova == "" {
				return Usagef("openstack check", "give all three files: --ml2 FILE --sriov-agent FILE --nova FILE")
			}
			var files openstack.Files
			for _, in := range []struct {
				flag, path string
				doc        **openstack.Doc
			}{{"--ml2", ml2, &files.ML2}, {"--sriov-agent", agent, &files.SRIOVAgent}, {"--nova", nova, &files.Nova}} {
				data, err := os.ReadFile(in.path)
				if err != nil {
					return &UsageError{What: in.flag, Err: fileError(err)}
				}
				d, err := openstack.ParseDoc(in.path, data)
				if err != nil {
					return &UsageError{What: in.flag, Err: err}
				}
				*in.doc = d
			}
			_, st, err := a.HostState(cmd.Context())
			if err != nil {
				return err
			}
			problems := openstack.Check(st, files)
			if a.JSON {
				if err := a.PrintJSON(jsonout.OpenStackCheck{Clean: len(problems) == 0, Problems: jsonout.List(problems)}); err != nil {
					return err
				}
			} else if len(problems) == 0 {
				a.Printf("ok: %s, %s and %s agree with each other and with this host\n", ml2, agent, nova)
			} else {
				for _, p := range problems {
					a.Printf("%s\n", p)
				}
			}
			if len(problems) > 0 {
				return &OpError{What: "openstack check", Err: fmt.Errorf("%s found", plural(len(problems), "problem"))}
			}
			return nil
		},
	}
	c.Flags().StringVar(&ml2, "ml2", "", "neutron-server's ml2_conf.ini `FILE`")
	c.Flags().StringVar(&agent, "sriov-agent", "", "neutron-sriov-nic-agent's sriov_agent.ini `FILE`")
	c.Flags().StringVar(&nova, "nova", "", "the nova.conf `FILE` (its [pci] and [filter_scheduler] sections)")
	return c
}

// openstackCheckArgs is `openstack check` on the three files rendered into dir.
func openstackCheckArgs(dir string) []string {
	return []string{"openstack", "check",
		"--ml2", filepath.Join(dir, openstack.ML2File),
		"--sriov-agent", filepath.Join(dir, openstack.SRIOVAgentFile),
		"--nova", filepath.Join(dir, openstack.NovaFile)}
}

func init() {
	addDemoSection(demoSection{Order: 90, Title: "OpenStack flat networking", Run: demoOpenStack})
}

// demoOpenStack renders flat-network SR-IOV configuration for a lab PF, checks it, and shows check
// catching the usual mistake: Nova and Neutron disagreeing on the physnet name.
func demoOpenStack(d *Demo) error {
	const pf = "ens2f0"
	l, err := lab.Open(d.LabDir)
	if err != nil {
		return err
	}
	st, err := l.Observe(d.a.ctx())
	if err != nil {
		return err
	}
	if p := st.FindPF(pf); p == nil || p.NumVFs == 0 {
		d.Say("OpenStack hands out VFs, so the PF needs some: 4 VFs on the i40e NIC.")
		if _, err := d.OK("pf", "set", pf, "--numvfs", "4"); err != nil {
			return err
		}
	}
	d.Say("Flat SR-IOV: VFs of %s on provider network physnet1, untagged (no VLAN). OpenStack may use VFs 0-2;\n"+
		"# VF 3 stays with the host (exclude_devices for the agent, left out of nova's device_spec). One more port\n"+
		"# is for a mirror group: port security off, so the agent turns that VF's spoof check off.", pf)
	args := []string{"openstack", "render", "--physnet", "physnet1", "--pf", pf, "--network-type", "flat", "--vfs", "0-2", "--mirror-ports", "1"}
	if _, err := d.OK(args...); err != nil {
		return err
	}
	dir := filepath.Join(d.LabDir, "openstack")
	d.Say("Write the files (an existing file in --out is updated, not replaced), then check them against each other and the host.")
	if _, err := d.OK(append(args, "--out", dir)...); err != nil {
		return err
	}
	if _, err := d.OK(openstackCheckArgs(dir)...); err != nil {
		return err
	}
	d.Say("The usual failure: nova.conf names another physnet than Neutron. Check names the file, section and key, and the fix (exit 1).")
	data, err := os.ReadFile(filepath.Join(dir, openstack.NovaFile))
	if err != nil {
		return err
	}
	typo := strings.ReplaceAll(string(data), `"physical_network": "physnet1"`, `"physical_network": "physnet-1"`)
	bad, err := d.WriteFile("openstack/nova-typo.conf", typo)
	if err != nil {
		return err
	}
	check := openstackCheckArgs(dir)
	check[len(check)-1] = bad
	_, err = d.Run(1, check...)
	return err
}
