// Package openstack renders and checks the OpenStack configuration that gives instances SR-IOV VFs of a
// host's PF on a flat or VLAN provider network: Neutron's ml2_conf.ini (sriovnicswitch, the physnet's
// network type), the SR-IOV NIC agent's sriov_agent.ini (physnet to PF, excluded VFs), Nova's nova.conf
// (device_spec, alias, PciPassthroughFilter) and the openstack CLI steps that create the network, ports
// and servers. It works from an observed sriov.Host and does no I/O.
package openstack

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// NetworkType is a Neutron provider network type SR-IOV ports can use here.
type NetworkType string

// The provider network types.
const (
	Flat NetworkType = "flat"
	VLAN NetworkType = "vlan"
)

// File names as OpenStack installs them (ml2_conf.ini and sriov_agent.ini under
// /etc/neutron/plugins/ml2/, nova.conf under /etc/nova/).
const (
	ML2File        = "ml2_conf.ini"
	SRIOVAgentFile = "sriov_agent.ini"
	NovaFile       = "nova.conf"
)

// Option names used in several places.
const (
	mechDriver       = "sriovnicswitch"
	pciFilter        = "PciPassthroughFilter"
	allFilters       = "nova.scheduler.filters.all_filters"
	noopFirewall     = "noop"
	secML2           = "ml2"
	secFlat          = "ml2_type_flat"
	secVLAN          = "ml2_type_vlan"
	secSRIOV         = "sriov_nic"
	secSecGroup      = "securitygroup"
	secPCI           = "pci"
	secFilterSched   = "filter_scheduler"
	keyMech          = "mechanism_drivers"
	keyTypes         = "type_drivers"
	keyFlatNets      = "flat_networks"
	keyVLANRanges    = "network_vlan_ranges"
	keyMappings      = "physical_device_mappings"
	keyExclude       = "exclude_devices"
	keyFirewall      = "firewall_driver"
	keyDeviceSpec    = "device_spec"
	keyOldWhitelist  = "passthrough_whitelist"
	keyAlias         = "alias"
	keyEnabledFilter = "enabled_filters"
	keyAvailFilters  = "available_filters"
)

// defaultFilters is nova's default [filter_scheduler] enabled_filters; PciPassthroughFilter is added.
var defaultFilters = []string{"ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
	"ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter"}

// Options says what to render.
type Options struct {
	Physnet     string
	PF          string // netdev name or PCI address
	NetworkType NetworkType
	// VLANMin/VLANMax is the physnet's tenant VLAN range (0/0: none, the physnet is listed bare and only
	// admins create VLAN networks on it with an explicit segment).
	VLANMin, VLANMax int
	// Segment is the VLAN id of the network the CLI steps create (vlan only; default VLANMin).
	Segment int
	// VFs limits the VFs OpenStack may use (nil: all of the PF's VFs); the others are excluded from the
	// agent and left out of device_spec.
	VFs     []int
	Trusted bool
	// Network, Subnet and SubnetRange name the network the CLI steps create.
	Network, Subnet, SubnetRange string
	// Ports is how many ordinary direct ports the steps create; MirrorPorts how many more with port
	// security disabled (members of a mirror group: the agent turns spoof check off only then).
	Ports, MirrorPorts int
	Flavor, Image      string
}

// Existing holds configuration files to update instead of starting empty; nil fields start empty.
type Existing struct {
	ML2, SRIOVAgent, Nova *Doc
}

// Rendered is the result: the three files and the CLI steps, in order.
type Rendered struct {
	PF      string // the PF's netdev name
	Physnet string
	// VFs are the VF ids offered to OpenStack; Excluded the PCI addresses of the PF's other VFs.
	VFs                   []int
	Excluded              []string
	ML2, SRIOVAgent, Nova *Doc
	Steps                 []Step
}

// Step is one openstack CLI command and why it is there.
type Step struct {
	Args []string
	Why  string
}

// String renders the command for a shell.
func (s Step) String() string { return shellJoin(s.Args) }

// Docs lists the rendered files in order.
func (r *Rendered) Docs() []*Doc { return []*Doc{r.ML2, r.SRIOVAgent, r.Nova} }

var physnetRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ValidatePhysnet checks a physical network name: it goes into "physnet:device" and
// "physnet:min:max" lists, so ':' ',' and blanks are not allowed.
func ValidatePhysnet(field, name string) error {
	if !physnetRE.MatchString(name) || len(name) > 64 {
		return &sriov.FieldError{Field: field, Value: name, Allowed: "want a physical network name of letters, digits, '-', '_' or '.' (at most 64)"}
	}
	return nil
}

// ParseVLANRange reads "MIN:MAX" (1-4094, MIN <= MAX).
func ParseVLANRange(field, s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, ":")
	a, errA := strconv.Atoi(strings.TrimSpace(lo))
	b, errB := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || errA != nil || errB != nil || a < 1 || b > sriov.MaxVLAN || a > b {
		return 0, 0, &sriov.FieldError{Field: field, Value: s, Allowed: fmt.Sprintf("want MIN:MAX with 1 <= MIN <= MAX <= %d", sriov.MaxVLAN)}
	}
	return a, b, nil
}

// Render builds the configuration for o on host h, updating the files in ex where given. Invalid
// options, or a host that cannot serve them (no such PF, no VFs), give a *sriov.FieldError.
func Render(h *sriov.Host, o Options, ex Existing) (*Rendered, error) {
	if err := ValidatePhysnet("--physnet", o.Physnet); err != nil {
		return nil, err
	}
	pf := h.FindPF(o.PF)
	if pf == nil {
		return nil, &sriov.FieldError{Field: "--pf", Value: o.PF, Allowed: "no such PF; PFs on this host: " + h.PFNames()}
	}
	if len(pf.VFs) == 0 {
		return nil, &sriov.FieldError{Field: "--pf", Value: o.PF, Allowed: fmt.Sprintf("%s has no VFs: create them first (sriovctl pf set %s --numvfs N)", pf.Name, pf.Name)}
	}
	switch o.NetworkType {
	case Flat:
		if o.VLANMin != 0 || o.VLANMax != 0 || o.Segment != 0 {
			return nil, &sriov.FieldError{Field: "--vlan-range", Value: fmt.Sprintf("%d:%d", o.VLANMin, o.VLANMax), Allowed: "a flat network carries no VLAN: drop --vlan-range/--segment or use --network-type vlan"}
		}
	case VLAN:
		if o.Segment == 0 {
			o.Segment = o.VLANMin
		}
		if o.Segment == 0 {
			return nil, &sriov.FieldError{Field: "--segment", Value: "", Allowed: "a VLAN network needs a VLAN id: give --vlan-range MIN:MAX or --segment ID"}
		}
		if err := sriov.ValidateVLAN("--segment", o.Segment); err != nil {
			return nil, err
		}
		if o.VLANMin != 0 && (o.Segment < o.VLANMin || o.Segment > o.VLANMax) {
			return nil, &sriov.FieldError{Field: "--segment", Value: strconv.Itoa(o.Segment), Allowed: fmt.Sprintf("must lie in --vlan-range %d:%d", o.VLANMin, o.VLANMax)}
		}
	default:
		return nil, &sriov.FieldError{Field: "--network-type", Value: string(o.NetworkType), Allowed: "allowed flat or vlan"}
	}

	// Which VFs OpenStack gets.
	use := map[int]bool{}
	var ids []int
	if o.VFs == nil {
		for _, v := range pf.VFs {
			use[v.ID] = true
			ids = append(ids, v.ID)
		}
	} else {
		for _, id := range o.VFs {
			if pf.VF(id) == nil {
				return nil, &sriov.FieldError{Field: "--vfs", Value: policy.FormatIDs(o.VFs), Allowed: fmt.Sprintf("%s has VFs 0-%d", pf.Name, len(pf.VFs)-1)}
			}
			use[id] = true
			ids = append(ids, id)
		}
		sort.Ints(ids)
	}
	var excluded []string
	for _, v := range pf.VFs {
		if !use[v.ID] {
			excluded = append(excluded, v.PCIAddress)
		}
	}
	if o.Ports < 0 || o.MirrorPorts < 0 || o.Ports+o.MirrorPorts > len(ids) {
		return nil, &sriov.FieldError{Field: "--ports", Value: fmt.Sprintf("%d (+%d mirror)", o.Ports, o.MirrorPorts), Allowed: fmt.Sprintf("each direct port takes one VF: at most %d ports in all", len(ids))}
	}
	o.defaults()

	r := &Rendered{PF: pf.Name, Physnet: o.Physnet, VFs: ids, Excluded: excluded}
	if r.Excluded == nil {
		r.Excluded = []string{}
	}
	r.ML2 = renderML2(orNew(ex.ML2, ML2File), o)
	r.SRIOVAgent = renderAgent(orNew(ex.SRIOVAgent, SRIOVAgentFile), o, pf, excluded)
	r.Nova = renderNova(orNew(ex.Nova, NovaFile), o, pf, ids, len(excluded) > 0)
	r.Steps = steps(o)
	return r, nil
}

func (o *Options) defaults() {
	if o.Network == "" {
		o.Network = "sriov-" + o.Physnet
	}
	if o.Subnet == "" {
		o.Subnet = o.Network + "-subnet"
	}
	if o.SubnetRange == "" {
		o.SubnetRange = "192.0.2.0/24"
	}
	if o.Flavor == "" {
		o.Flavor = "m1.small"
	}
	if o.Image == "" {
		o.Image = "cirros"
	}
}

func orNew(d *Doc, name string) *Doc {
	if d != nil {
		return d
	}
	return NewDoc(name)
}

// addToList appends items missing from a comma-separated list, keeping what is there.
func addToList(cur string, items ...string) string {
	list := splitList(cur)
	for _, it := range items {
		found := false
		for _, have := range list {
			if strings.EqualFold(have, it) {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return strings.Join(list, ",")
}

func renderML2(d *Doc, o Options) *Doc {
	types, _ := d.Get(secML2, keyTypes)
	d.Set(secML2, keyTypes, addToList(types, string(o.NetworkType)))
	mech, _ := d.Get(secML2, keyMech)
	d.Set(secML2, keyMech, addToList(mech, mechDriver))
	switch o.NetworkType {
	case Flat:
		nets, _ := d.Get(secFlat, keyFlatNets)
		if strings.TrimSpace(nets) != "*" {
			d.Set(secFlat, keyFlatNets, addToList(nets, o.Physnet))
		}
	case VLAN:
		cur, _ := d.Get(secVLAN, keyVLANRanges)
		var keep []string
		for _, e := range splitList(cur) {
			if name, _, _ := strings.Cut(e, ":"); name != o.Physnet {
				keep = append(keep, e)
			}
		}
		entry := o.Physnet
		if o.VLANMin != 0 {
			entry = fmt.Sprintf("%s:%d:%d", o.Physnet, o.VLANMin, o.VLANMax)
		}
		d.Set(secVLAN, keyVLANRanges, strings.Join(append(keep, entry), ","))
	}
	return d
}

func renderAgent(d *Doc, o Options, pf *sriov.PF, excluded []string) *Doc {
	cur, _ := d.Get(secSRIOV, keyMappings)
	d.Set(secSRIOV, keyMappings, addToList(cur, o.Physnet+":"+pf.Name))
	curEx, _ := d.Get(secSRIOV, keyExclude)
	var keep []string
	for _, e := range splitList(curEx) {
		if dev, _, _ := strings.Cut(e, ":"); dev != pf.Name {
			keep = append(keep, e)
		}
	}
	if len(excluded) > 0 {
		keep = append(keep, pf.Name+":"+strings.Join(excluded, ";"))
	}
	d.Set(secSRIOV, keyExclude, strings.Join(keep, ","))
	d.Set(secSecGroup, keyFirewall, noopFirewall)
	return d
}

func renderNova(d *Doc, o Options, pf *sriov.PF, ids []int, subset bool) *Doc {
	trusted := ""
	if o.Trusted {
		trusted = "true"
	}
	// Keep entries for other physnets; ours are replaced. The deprecated passthrough_whitelist name is
	// folded into device_spec so that only one of the two is set.
	var specs []string
	for _, key := range []string{keyOldWhitelist, keyDeviceSpec} {
		vals, _ := d.GetAll(secPCI, key)
		for _, v := range vals {
			if ss, _, err := parseDeviceSpecs(v); err == nil && len(ss) == 1 && ss[0].PhysicalNetwork == o.Physnet {
				continue
			}
			specs = append(specs, v)
		}
	}
	d.Delete(secPCI, keyOldWhitelist)
	base := DeviceSpec{VendorID: pf.VendorID, ProductID: pf.VFDeviceID, PhysicalNetwork: o.Physnet, Trusted: trusted}
	if !subset {
		// The PF's name selects every VF of it (nova's rule for a PF devname).
		s := base
		s.Devname = pf.Name
		specs = append(specs, s.JSON())
	} else {
		for _, id := range ids {
			s := base
			s.Address = pf.VF(id).PCIAddress
			specs = append(specs, s.JSON())
		}
	}
	d.SetAll(secPCI, keyDeviceSpec, specs)

	aliasName := o.Physnet + "-vf"
	var aliases []string
	vals, _ := d.GetAll(secPCI, keyAlias)
	for _, v := range vals {
		var a struct{ Name string }
		if err := jsonUnmarshal(v, &a); err == nil && a.Name == aliasName {
			continue
		}
		aliases = append(aliases, v)
	}
	if pf.VFDeviceID != "" {
		// An alias without a product_id would match every device of the vendor; the host did not
		// report the VFs' id (sysfs sriov_vf_device), so there is no alias to write.
		aliases = append(aliases, aliasJSON(aliasName, pf.VendorID, pf.VFDeviceID))
	}
	if len(aliases) > 0 {
		d.SetAll(secPCI, keyAlias, aliases)
	}

	filters, ok := d.Get(secFilterSched, keyEnabledFilter)
	if !ok || strings.TrimSpace(filters) == "" {
		filters = strings.Join(defaultFilters, ",")
	}
	d.Set(secFilterSched, keyEnabledFilter, strings.ReplaceAll(addToList(filters, pciFilter), ",", ", "))
	if _, ok := d.Get(secFilterSched, keyAvailFilters); !ok {
		d.Set(secFilterSched, keyAvailFilters, allFilters)
	}
	return d
}

func aliasJSON(name, vendor, product string) string {
	return fmt.Sprintf(`{"name": %q, "vendor_id": %q, "product_id": %q, "device_type": "type-VF"}`, name, vendor, product)
}

func steps(o Options) []Step {
	net := []string{"openstack", "network", "create", "--provider-network-type", string(o.NetworkType),
		"--provider-physical-network", o.Physnet}
	why := "a flat provider network: untagged frames, the agent leaves the VFs' port VLAN at 0"
	if o.NetworkType == VLAN {
		net = append(net, "--provider-segment", strconv.Itoa(o.Segment))
		why = fmt.Sprintf("a VLAN provider network: the agent sets port VLAN %d on each VF it binds", o.Segment)
	}
	out := []Step{
		{Args: append(net, o.Network), Why: why},
		{Args: []string{"openstack", "subnet", "create", "--network", o.Network, "--subnet-range", o.SubnetRange, o.Subnet}, Why: "addresses for the ports"},
	}
	var ports []string
	for i := 0; i < o.Ports+o.MirrorPorts; i++ {
		mirror := i >= o.Ports
		name := fmt.Sprintf("%s-port%d", o.Network, i)
		args := []string{"openstack", "port", "create", "--network", o.Network, "--vnic-type", "direct"}
		why := "a direct (SR-IOV) port: nova picks a free VF for it"
		if mirror {
			name = fmt.Sprintf("%s-mirror%d", o.Network, i-o.Ports)
			args = append(args, "--disable-port-security")
			why = "a mirror-group port: port security off, so the agent turns the VF's spoof check off"
		}
		if o.Trusted {
			args = append(args, "--binding-profile", "trusted=true")
			why += "; trusted VF (device_spec has trusted=true)"
		}
		ports = append(ports, name)
		out = append(out, Step{Args: append(args, name), Why: why})
	}
	for i, p := range ports {
		out = append(out, Step{
			Args: []string{"openstack", "server", "create", "--flavor", o.Flavor, "--image", o.Image, "--port", p, fmt.Sprintf("%s-vm%d", o.Network, i)},
			Why:  "an instance on that port (PciPassthroughFilter places it on a host with a free VF)",
		})
	}
	return out
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, s := range args {
		if s == "" || strings.ContainsAny(s, " \t\"'$*?{}[]|&;<>()\\`") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		q[i] = s
	}
	return strings.Join(q, " ")
}
