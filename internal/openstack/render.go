// Package openstack renders and checks the OpenStack configuration that gives instances SR-IOV VFs of a
// host's PF on a flat or VLAN provider network: Neutron's ml2_conf.ini (sriovnicswitch, the physnet's
// network type), the SR-IOV NIC agent's sriov_agent.ini (physnet to PF, excluded VFs), Nova's nova.conf
// (device_spec, alias, PciPassthroughFilter) and the openstack CLI steps that create the network, ports
// and servers. It works from an observed sriov.Host and does no I/O.
package openstack

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

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
	keyTenantTypes   = "tenant_network_types"
	keyExtDrivers    = "extension_drivers"
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

var physnetRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.-]+$`) })

// ValidatePhysnet checks a physical network name: it goes into "physnet:device" and
// "physnet:min:max" lists, so ':' ',' and blanks are not allowed.
func ValidatePhysnet(field, name string) error {
	if !physnetRE().MatchString(name) || len(name) > 64 {
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

	if err := o.ValidateSteps(); err != nil {
		return nil, err
	}
	if err := physnetCaseConflict(ex, o.Physnet); err != nil {
		return nil, err
	}
	nova := orNew(ex.Nova, NovaFile)
	kept, keptSpecs := keptDeviceSpecs(h, nova, o.Physnet, pf)

	// VFs of this PF that device_spec already gives to other physnets (or to aliases): nova tags a
	// device with the first entry that matches it, so they cannot be offered on this physnet too.
	taken := map[int]int{} // VF id -> index into keptSpecs
	assigned := assignVFs(h, keptSpecs)
	for _, v := range pf.VFs {
		if i, ok := assigned[v.PCIAddress]; ok && keptSpecs[i].PhysicalNetwork != o.Physnet {
			taken[v.ID] = i
		}
	}
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
	if len(taken) > 0 {
		var clash, free []int
		for _, v := range pf.VFs {
			if _, ok := taken[v.ID]; ok {
				if use[v.ID] {
					clash = append(clash, v.ID)
				}
			} else {
				free = append(free, v.ID)
			}
		}
		if len(clash) > 0 {
			byNet := map[string][]int{}
			for _, id := range clash {
				n := orNone(keptSpecs[taken[id]].PhysicalNetwork)
				byNet[n] = append(byNet[n], id)
			}
			var parts []string
			for _, n := range sortedKeys(byNet) {
				parts = append(parts, fmt.Sprintf("VFs %s on %s", policy.FormatIDs(byNet[n]), n))
			}
			hint := "none is left: re-render the other physnet with fewer --vfs first"
			if len(free) > 0 {
				hint = "give --vfs from the VFs still free: " + policy.FormatIDs(free)
			}
			return nil, &sriov.FieldError{Field: "--vfs", Value: policy.FormatIDs(ids),
				Allowed: fmt.Sprintf("nova.conf device_spec already offers %s %s (nova gives each VF the first entry that matches it); %s",
					pf.Name, strings.Join(parts, ", "), hint)}
		}
	}
	if o.Ports < 0 || o.MirrorPorts < 0 || o.Ports+o.MirrorPorts > len(ids) {
		return nil, &sriov.FieldError{Field: "--ports", Value: fmt.Sprintf("%d (+%d mirror)", o.Ports, o.MirrorPorts), Allowed: fmt.Sprintf("each direct port takes one VF: at most %d ports in all", len(ids))}
	}
	o.defaults()

	// nova: the kept entries, then ours. A devname selects every VF of the PF, so it is used only when
	// this physnet gets them all; otherwise one entry per VF address.
	specs := append([]string{}, kept...)
	all := append([]DeviceSpec{}, keptSpecs...)
	trusted := ""
	if o.Trusted {
		trusted = "true"
	}
	base := DeviceSpec{VendorID: pf.VendorID, ProductID: pf.VFDeviceID, PhysicalNetwork: o.Physnet, Trusted: trusted}
	if len(ids) == len(pf.VFs) && len(taken) == 0 {
		s := base
		s.Devname = pf.Name
		specs, all = append(specs, s.JSON()), append(all, s)
	} else {
		for _, id := range ids {
			s := base
			s.Address = pf.VF(id).PCIAddress
			specs, all = append(specs, s.JSON()), append(all, s)
		}
	}
	// What nova will do with the whole list: exactly the chosen VFs of this PF on this physnet.
	final := assignVFs(h, all)
	var offeredHere []string // physnets the PF's VFs end up on, for the agent
	for _, v := range pf.VFs {
		i, ok := final[v.PCIAddress]
		on := ok && all[i].PhysicalNetwork == o.Physnet
		if on != use[v.ID] {
			return nil, &sriov.FieldError{Field: "--physnet", Value: o.Physnet,
				Allowed: fmt.Sprintf("nova.conf device_spec %s also matches %s VF %d, so nova would not offer exactly VFs %s on %s; narrow that entry first",
					all[i].JSON(), pf.Name, v.ID, policy.FormatIDs(ids), o.Physnet)}
		}
		if ok && all[i].PhysicalNetwork != "" && !contains(offeredHere, all[i].PhysicalNetwork) {
			offeredHere = append(offeredHere, all[i].PhysicalNetwork)
		}
	}

	r := &Rendered{PF: pf.Name, Physnet: o.Physnet, VFs: ids}
	r.ML2 = renderML2(orNew(ex.ML2, ML2File), o, ex.ML2 == nil)
	r.SRIOVAgent, r.Excluded = renderAgent(orNew(ex.SRIOVAgent, SRIOVAgentFile), o, pf, final, all)
	r.Nova = renderNova(nova, o, pf, specs)
	r.Steps = steps(o)
	return r, nil
}

// ValidateSteps checks the options that reach the rendered openstack CLI steps: names the
// openstack client would read as options or that OpenStack refuses, and the subnet's CIDR.
func (o Options) ValidateSteps() error {
	for _, f := range []struct{ flag, v string }{{"--network", o.Network}, {"--flavor", o.Flavor}, {"--image", o.Image}} {
		if f.v == "" {
			continue // the default
		}
		if strings.HasPrefix(f.v, "-") || len(f.v) > 255 || strings.IndexFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
			return &sriov.FieldError{Field: f.flag, Value: f.v, Allowed: "want a name of 1-255 printable characters, not starting with '-'"}
		}
	}
	if o.SubnetRange != "" {
		p, err := netip.ParsePrefix(o.SubnetRange)
		if err != nil || p.Masked() != p {
			allowed := "want a network address in CIDR notation, e.g. 192.0.2.0/24 or 2001:db8::/64"
			if err == nil {
				allowed = fmt.Sprintf("has host bits set: Neutron wants the network address, %s", p.Masked())
			}
			return &sriov.FieldError{Field: "--subnet-range", Value: o.SubnetRange, Allowed: allowed}
		}
	}
	return nil
}

// physnetCaseConflict refuses a physnet that the existing files spell in other letter case: Neutron
// compares physnet names exactly, Nova case-insensitively, so the two would disagree.
func physnetCaseConflict(ex Existing, physnet string) error {
	var names []string
	if d := ex.ML2; d != nil {
		v, _ := d.Get(secFlat, keyFlatNets)
		names = append(names, listOpt(v)...)
		v, _ = d.Get(secVLAN, keyVLANRanges)
		for _, e := range listOpt(v) {
			if n, _, _, err := parseVLANEntry(e); err == nil {
				names = append(names, n)
			}
		}
	}
	if d := ex.SRIOVAgent; d != nil {
		v, _ := d.Get(secSRIOV, keyMappings)
		for _, e := range listOpt(v) {
			n, _, _ := strings.Cut(e, ":")
			names = append(names, strings.TrimSpace(n))
		}
	}
	if d := ex.Nova; d != nil {
		for _, v := range specValues(d) {
			if ss, _, err := parseDeviceSpecs(v); err == nil {
				for _, s := range ss {
					names = append(names, s.PhysicalNetwork)
				}
			}
		}
	}
	for _, n := range names {
		if n != physnet && strings.EqualFold(n, physnet) {
			return &sriov.FieldError{Field: "--physnet", Value: physnet,
				Allowed: fmt.Sprintf("the existing files name it %s: Neutron treats names in other letter case as other networks; use %s", n, n)}
		}
	}
	return nil
}

// specValues are the device_spec lines nova reads: the option's current name, else the deprecated one.
func specValues(d *Doc) []string {
	for _, o := range [][2]string{{secPCI, keyDeviceSpec}, {secPCI, keyOldWhitelist}, {"DEFAULT", "pci_passthrough_whitelist"}} {
		if vals, ok := d.GetAll(o[0], o[1]); ok && len(vals) > 0 {
			return vals
		}
	}
	return nil
}

// keptDeviceSpecs returns the existing device_spec lines a render keeps, with their parsed items:
// all but those that offer this physnet only VFs of this PF (a previous render of the same physnet
// and PF, which this one replaces).
func keptDeviceSpecs(h *sriov.Host, d *Doc, physnet string, pf *sriov.PF) ([]string, []DeviceSpec) {
	var kept []string
	var specs []DeviceSpec
	for _, v := range specValues(d) {
		ss, _, err := parseDeviceSpecs(v)
		if err != nil {
			kept = append(kept, v) // the operator's; check reports it
			continue
		}
		ours := len(ss) > 0
		for _, s := range ss {
			ms := s.matchVFs(h)
			if s.PhysicalNetwork != physnet || len(ms) == 0 {
				ours = false
			}
			for _, m := range ms {
				if m.PF != pf.Name {
					ours = false
				}
			}
		}
		if !ours {
			kept = append(kept, v)
			specs = append(specs, ss...)
		}
	}
	return kept, specs
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

// addToList appends items missing from a comma-separated list, keeping what is there. The services
// look names up case-sensitively, so an item spelled in other letter case is replaced.
func addToList(cur string, items ...string) string {
	list := listOpt(cur)
	for _, it := range items {
		found := false
		out := list[:0:0]
		for _, have := range list {
			switch {
			case have == it:
				found = true
			case strings.EqualFold(have, it):
				continue
			}
			out = append(out, have)
		}
		list = out
		if !found {
			list = append(list, it)
		}
	}
	return strings.Join(list, ",")
}

// renderML2 adds what SR-IOV ports on o's network need to neutron-server's ML2 settings and never
// removes what other networks use. scratch: there was no file, so every option is ours to set.
func renderML2(d *Doc, o Options, scratch bool) *Doc {
	// Neutron's default type_drivers already has flat and vlan, but its default tenant_network_types
	// (local) needs a type driver an explicit list may not enable: then tenants get VLANs from the
	// range when there is one, else only provider networks exist. An explicit tenant list stays.
	tenant := ""
	if o.NetworkType == VLAN && o.VLANMin != 0 {
		tenant = string(VLAN)
	}
	if types, ok := d.Get(secML2, keyTypes); ok {
		types = addToList(types, string(o.NetworkType))
		d.Set(secML2, keyTypes, types)
		if !d.Has(secML2, keyTenantTypes) && !contains(listOpt(types), "local") {
			d.Set(secML2, keyTenantTypes, tenant) // e.g. a file an older sriovctl rendered
		}
	} else if scratch {
		d.Set(secML2, keyTypes, string(o.NetworkType))
		d.Set(secML2, keyTenantTypes, tenant)
	}
	mech, _ := d.Get(secML2, keyMech)
	d.Set(secML2, keyMech, addToList(mech, mechDriver))
	if o.MirrorPorts > 0 {
		// --disable-port-security needs the port_security extension (else: 400 Unrecognized attribute).
		ext, _ := d.Get(secML2, keyExtDrivers)
		d.Set(secML2, keyExtDrivers, addToList(ext, "port_security"))
	}
	switch o.NetworkType {
	case Flat:
		nets, _ := d.Get(secFlat, keyFlatNets)
		if !contains(listOpt(nets), "*") {
			d.Set(secFlat, keyFlatNets, addToList(nets, o.Physnet))
		}
	case VLAN:
		cur, _ := d.Get(secVLAN, keyVLANRanges)
		var keep []string
		for _, e := range listOpt(cur) {
			if name, _, _, err := parseVLANEntry(e); err != nil || name != o.Physnet {
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

// renderAgent maps the physnet to the PF and excludes the PF's VFs that nova (final: VF address ->
// index into specs) offers on no physnet the agent maps to this PF. It returns the excluded addresses.
func renderAgent(d *Doc, o Options, pf *sriov.PF, final map[string]int, specs []DeviceSpec) (*Doc, []string) {
	cur, _ := d.Get(secSRIOV, keyMappings)
	var maps []string
	mapped := map[string]bool{} // physnets mapped to this PF
	for _, e := range listOpt(cur) {
		physnet, dev, _ := strings.Cut(e, ":")
		if strings.TrimSpace(dev) == pf.Name {
			mapped[strings.TrimSpace(physnet)] = true
		}
		maps = append(maps, e)
	}
	if !mapped[o.Physnet] {
		maps = append(maps, o.Physnet+":"+pf.Name)
		mapped[o.Physnet] = true
	}
	d.Set(secSRIOV, keyMappings, strings.Join(maps, ","))

	excluded := []string{}
	for _, v := range pf.VFs {
		if i, ok := final[v.PCIAddress]; !ok || !mapped[specs[i].PhysicalNetwork] {
			excluded = append(excluded, v.PCIAddress) // as sysfs writes it: the agent compares exactly
		}
	}
	curEx, _ := d.Get(secSRIOV, keyExclude)
	var keep []string
	placed := false
	for _, e := range listOpt(curEx) {
		dev, _, _ := strings.Cut(e, ":")
		if strings.TrimSpace(dev) != pf.Name {
			keep = append(keep, e)
			continue
		}
		// One entry per PF (the agent stops on a second), where the first one was.
		if !placed && len(excluded) > 0 {
			keep = append(keep, pf.Name+":"+strings.Join(excluded, ";"))
		}
		placed = true
	}
	if !placed && len(excluded) > 0 {
		keep = append(keep, pf.Name+":"+strings.Join(excluded, ";"))
	}
	d.Set(secSRIOV, keyExclude, strings.Join(keep, ","))
	if fw, ok := d.Get(secSecGroup, keyFirewall); !ok || fw == "" {
		d.Set(secSecGroup, keyFirewall, noopFirewall)
	}
	return d, excluded
}

func renderNova(d *Doc, o Options, pf *sriov.PF, specs []string) *Doc {
	// The deprecated names are folded into device_spec: nova reads them only while it is unset.
	d.Delete(secPCI, keyOldWhitelist)
	d.Delete("DEFAULT", "pci_passthrough_whitelist")
	d.SetAll(secPCI, keyDeviceSpec, specs)

	// Aliases accumulate: entries of one name may list several vendor/product pairs (one physnet on
	// PFs of different NICs); only an identical one is replaced.
	aliasName := o.Physnet + "-vf"
	var aliases []string
	vals, _ := d.GetAll(secPCI, keyAlias)
	for _, v := range vals {
		var a struct {
			Name      string `json:"name"`
			VendorID  string `json:"vendor_id"`
			ProductID string `json:"product_id"`
		}
		if err := jsonUnmarshal(v, &a); err == nil && a.Name == aliasName && strings.EqualFold(a.VendorID, pf.VendorID) && strings.EqualFold(a.ProductID, pf.VFDeviceID) {
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
