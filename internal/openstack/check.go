package openstack

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Problem is one inconsistency, located as file:section:key, with what to change.
type Problem struct {
	File    string `json:"file"`
	Section string `json:"section"`
	Key     string `json:"key"`
	Problem string `json:"problem"`
	Fix     string `json:"fix"`
}

// Location is "file:section:key".
func (p Problem) Location() string { return p.File + ":" + p.Section + ":" + p.Key }

func (p Problem) String() string { return p.Location() + ": " + p.Problem + "; fix: " + p.Fix }

// Files are the three configuration files a check reads.
type Files struct {
	ML2, SRIOVAgent, Nova *Doc
}

// Check compares the three files with each other and with host h and returns every problem found, in
// a stable order (none: the configuration is consistent).
func Check(h *sriov.Host, f Files) []Problem {
	c := &checker{h: h, f: f}
	c.ml2()
	c.agent()
	c.nova()
	// Group by file, in the order ml2_conf.ini, sriov_agent.ini, nova.conf; within a file, as found.
	rank := map[string]int{f.ML2.Path: 0, f.SRIOVAgent.Path: 1, f.Nova.Path: 2}
	sort.SliceStable(c.out, func(i, j int) bool { return rank[c.out[i].File] < rank[c.out[j].File] })
	return c.out
}

type checker struct {
	h   *sriov.Host
	f   Files
	out []Problem

	// from ml2_conf.ini
	types      map[string]bool // the type drivers neutron-server loads
	typesSet   bool            // type_drivers is set (else Neutron's default list)
	flatAll    bool
	flatNets   map[string]bool
	flatSet    bool
	vlanNets   map[string]bool
	vlanRanges map[string]string // physnet -> "min:max" when a range is given
	// from sriov_agent.ini
	mappings map[string][]string // physnet -> PF netdevs
	excluded map[string]string   // VF PCI address -> PF netdev that excludes it

	specs    []DeviceSpec    // nova.conf device_spec, every item in order
	reported map[string]bool // problems already reported for a physnet, once for all entries
}

// once reports whether key is new, recording it.
func (c *checker) once(key string) bool {
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	if c.reported[key] {
		return false
	}
	c.reported[key] = true
	return true
}

func (c *checker) add(d *Doc, section, key, problem, fix string) {
	c.out = append(c.out, Problem{File: d.Path, Section: section, Key: key, Problem: problem, Fix: fix})
}

// names checks a list of driver names the service loads case-sensitively; known says which exist.
// fatal: an unknown name stops the service (else it is silently not loaded).
func (c *checker) names(d *Doc, section, key string, known map[string]bool, fatal bool, what string) []string {
	v, ok := d.Get(section, key)
	if !ok {
		return nil
	}
	list := listOpt(v)
	var good []string
	for _, n := range list {
		if known[n] {
			good = append(good, n)
			continue
		}
		effect := "it is not loaded"
		if fatal {
			effect = "the service stops at start"
		}
		fix := fmt.Sprintf("remove %q from %s", n, key)
		if k := foldMatch(known, n); k != "" {
			fix = fmt.Sprintf("write %s (names are case-sensitive)", k)
		} else if n == "" {
			fix = "remove the empty item (two commas in a row)"
		}
		c.add(d, section, key, fmt.Sprintf("%q is not a %s OpenStack ships: %s", n, what, effect), fix)
	}
	return good
}

func (c *checker) ml2() {
	d := c.f.ML2
	mech, _ := d.Get(secML2, keyMech)
	c.names(d, secML2, keyMech, knownMechDrivers, true, "mechanism driver")
	if !contains(listOpt(mech), mechDriver) {
		c.add(d, secML2, keyMech, fmt.Sprintf("sriovnicswitch is not among the mechanism drivers (%s): Neutron cannot bind direct (SR-IOV) ports", orNone(mech)),
			fmt.Sprintf("set mechanism_drivers = %s", addToList(mech, mechDriver)))
	}
	c.names(d, secML2, keyExtDrivers, knownExtDrivers, false, "ML2 extension driver")
	c.types = map[string]bool{}
	typeList := defaultTypeDrivers
	if _, ok := d.Get(secML2, keyTypes); ok {
		c.typesSet = true
		typeList = c.names(d, secML2, keyTypes, knownTypeDrivers, false, "type driver")
	}
	for _, t := range typeList {
		c.types[t] = true
	}
	tenant := defaultTenantTypes
	if v, ok := d.Get(secML2, keyTenantTypes); ok {
		tenant = listOpt(v)
	}
	for _, t := range tenant {
		if !c.types[t] {
			c.add(d, secML2, keyTenantTypes, fmt.Sprintf("tenant network type %q has no enabled type driver (type_drivers: %s): neutron-server stops at start", t, strings.Join(typeList, ",")),
				fmt.Sprintf("add %s to type_drivers, or set tenant_network_types to enabled types only (empty: provider networks only)", t))
		}
	}
	if ext, ok := d.Get(secML2, "external_network_type"); ok && strings.TrimSpace(ext) != "" && !c.types[strings.TrimSpace(ext)] {
		c.add(d, secML2, "external_network_type", fmt.Sprintf("%q has no enabled type driver: neutron-server stops at start", ext), "add it to type_drivers")
	}
	c.flatNets = map[string]bool{}
	if nets, ok := d.Get(secFlat, keyFlatNets); ok {
		c.flatSet = true
		for _, n := range listOpt(nets) {
			if n == "*" {
				c.flatAll = true
			}
			c.flatNets[n] = true
		}
	} else {
		c.flatAll = true // Neutron's default flat_networks is '*'
	}
	c.vlanNets, c.vlanRanges = map[string]bool{}, map[string]string{}
	ranges, _ := d.Get(secVLAN, keyVLANRanges)
	for _, e := range listOpt(ranges) {
		name, lo, hi, err := parseVLANEntry(e)
		if err != nil {
			c.add(d, secVLAN, keyVLANRanges, fmt.Sprintf("%q %v: neutron-server stops at start", e, err),
				fmt.Sprintf("write PHYSNET or PHYSNET:MIN:MAX entries with 1 <= MIN <= MAX <= %d, comma-separated", sriov.MaxVLAN))
			continue
		}
		c.vlanNets[name] = true
		if lo != 0 {
			c.vlanRanges[name] = fmt.Sprintf("%d:%d", lo, hi)
		}
	}
	// A VLAN range on a physnet that can only be flat: the range does nothing and the intent is unclear.
	if !c.types["vlan"] {
		for _, name := range sortedKeys(c.vlanRanges) {
			c.add(d, secVLAN, keyVLANRanges,
				fmt.Sprintf("%s has VLAN range %s, but type_drivers (%s) has no vlan: the network type is flat and the range is ignored", name, c.vlanRanges[name], strings.Join(sortedKeys(c.types), ",")),
				fmt.Sprintf("for a flat network remove %s:%s from network_vlan_ranges; for VLAN networks add vlan to [ml2] type_drivers", name, c.vlanRanges[name]))
		}
	}
}

// parseVLANEntry is neutron_lib's parse_network_vlan_range: "PHYSNET" or "PHYSNET:MIN:MAX"; blanks
// around the numbers are allowed (int() strips them), the physnet is taken as written.
func parseVLANEntry(e string) (name string, lo, hi int, err error) {
	e = strings.TrimSpace(e)
	if !strings.Contains(e, ":") {
		return e, 0, 0, nil
	}
	parts := strings.Split(e, ":")
	if len(parts) != 3 {
		return "", 0, 0, fmt.Errorf("needs exactly two values for a VLAN range")
	}
	if parts[0] == "" {
		return "", 0, 0, fmt.Errorf("has no physical network name")
	}
	a, errA := strconv.Atoi(strings.TrimSpace(parts[1]))
	b, errB := strconv.Atoi(strings.TrimSpace(parts[2]))
	if errA != nil || errB != nil || a < 1 || b < 1 || a > sriov.MaxVLAN || b > sriov.MaxVLAN {
		return "", 0, 0, fmt.Errorf("has a VLAN id outside 1-%d", sriov.MaxVLAN)
	}
	if b < a {
		return "", 0, 0, fmt.Errorf("ends before it starts")
	}
	return parts[0], a, b, nil
}

func (c *checker) agent() {
	d := c.f.SRIOVAgent
	c.mappings = map[string][]string{}
	maps, _ := d.Get(secSRIOV, keyMappings)
	entries := listOpt(maps)
	n := 0
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue // parse_mappings skips empty items
		}
		parts := strings.Split(e, ":")
		if len(parts) != 2 || strings.TrimSpace(parts[0]) == "" || strings.TrimSpace(parts[1]) == "" {
			fix := "write PHYSNET:PF entries (PF = the PF's netdev name), comma-separated"
			if len(parts) > 2 {
				if p := c.h.FindPF(strings.Join(parts[1:], ":")); p != nil {
					fix = fmt.Sprintf("write %s:%s (the agent wants the PF's netdev name, not its PCI address)", parts[0], p.Name)
				}
			}
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%q is not PHYSNET:PF: the agent stops at start", e), fix)
			continue
		}
		physnet, dev := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		n++
		if contains(c.mappings[physnet], dev) {
			continue
		}
		c.mappings[physnet] = append(c.mappings[physnet], dev)
		p := c.h.FindPF(dev)
		switch {
		case p == nil || p.Name != dev:
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s maps %s to %s, which is not an SR-IOV PF on this host (PFs: %s)", physnet, physnet, dev, c.h.PFNames()),
				fmt.Sprintf("map %s to one of this host's PFs: %s:<PF>", physnet, physnet))
		case p.NumVFs == 0:
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s maps %s to %s, which has no VFs", physnet, physnet, dev),
				fmt.Sprintf("create VFs: sriovctl pf set %s --numvfs N (N up to %d), and persist them across reboots", dev, p.TotalVFs))
		case p.OperState == "down":
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s maps %s to %s, which is down (operstate: set down, or no carrier): instances on its VFs fail to spawn", physnet, physnet, dev),
				fmt.Sprintf("bring the PF up: ip link set %s up (persistently), and check its cable and switch port", dev))
		}
	}
	if n == 0 {
		c.add(d, secSRIOV, keyMappings, "no physical network is mapped to a PF: the SR-IOV agent manages no VF",
			"set physical_device_mappings = PHYSNET:PF, e.g. "+c.examplePF())
	}

	c.excluded = map[string]string{}
	ex, _ := d.Get(secSRIOV, keyExclude)
	seen := map[string]bool{}
	for _, e := range listOpt(ex) {
		dev, list, ok := strings.Cut(e, ":")
		dev = strings.TrimSpace(dev)
		if !ok || dev == "" {
			c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%q is not PF:VF-ADDRESS[;VF-ADDRESS...]: the agent stops at start", e), "write PF:0000:BB:DD.F;0000:BB:DD.F entries, comma-separated")
			continue
		}
		if seen[dev] {
			c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%s has two entries: the agent stops at start", dev),
				fmt.Sprintf("merge them into one: %s:ADDR;ADDR...", dev))
			continue
		}
		seen[dev] = true
		if !c.mapped(dev) {
			c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%s is not in physical_device_mappings: the agent stops at start", dev),
				fmt.Sprintf("remove the %s entry, or map a physnet to %s", dev, dev))
		}
		p := c.h.FindPF(dev)
		for _, a := range strings.Split(list, ";") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if p == nil {
				c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%s excludes %s, but %s is not a PF on this host (PFs: %s)", dev, a, dev, c.h.PFNames()),
					fmt.Sprintf("name a PF of this host instead of %s", dev))
				break
			}
			vf := vfByAddress(p, a)
			if vf == nil {
				c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%s is not a VF of %s (its VFs: %s): the agent compares addresses exactly as sysfs writes them", a, dev, vfAddresses(p)),
					fmt.Sprintf("list only %s's VF addresses, in lower case with the domain, after %s:, separated by ';'", dev, dev))
				continue
			}
			c.excluded[vf.PCIAddress] = dev
		}
	}
	if fw, ok := d.Get(secSecGroup, keyFirewall); ok && fw != "" && !knownFirewalls[fw] {
		fix := "set firewall_driver = noop (the SR-IOV agent implements no security groups)"
		c.add(d, secSecGroup, keyFirewall, fmt.Sprintf("%q is not a firewall driver Neutron ships: the agent stops at start", fw), fix)
	}
}

func (c *checker) mapped(dev string) bool {
	for _, devs := range c.mappings {
		for _, d := range devs {
			if d == dev {
				return true
			}
		}
	}
	return false
}

type specSource struct {
	section, key string
	values       []string
}

func (c *checker) nova() {
	d := c.f.Nova
	// Filters: [filter_scheduler] enabled_filters. Nova no longer reads the pre-Ocata [DEFAULT]
	// scheduler_default_filters (Zed has no deprecated name for it): such a file runs the defaults.
	fsec, fkey := secFilterSched, keyEnabledFilter
	filters, ok := d.Get(fsec, fkey)
	if _, okOld := d.Get("DEFAULT", "scheduler_default_filters"); okOld && !ok {
		c.add(d, "DEFAULT", "scheduler_default_filters", "nova no longer reads this option: nova-scheduler runs its default filters, without PciPassthroughFilter",
			"move the list to [filter_scheduler] enabled_filters, with PciPassthroughFilter")
		ok = true // reported here; not again below
		filters = pciFilter
	}
	if avail, set := d.Get(secFilterSched, keyAvailFilters); !set || strings.TrimSpace(avail) == allFilters {
		c.names(d, fsec, fkey, knownFilters, true, "scheduler filter")
	}
	if !contains(listOpt(filters), pciFilter) {
		why := fmt.Sprintf("PciPassthroughFilter is not enabled (%s)", orNone(filters))
		if !ok {
			filters = strings.Join(defaultFilters, ",")
			why = "not set, and nova's default filters do not include PciPassthroughFilter"
		}
		c.add(d, fsec, fkey, why+": instances with SR-IOV ports may land on hosts without a free VF",
			fmt.Sprintf("set %s = %s", fkey, strings.ReplaceAll(addToList(filters, pciFilter), ",", ", ")))
	}
	c.aliases(d)

	// device_spec entries: the option's current name, else its deprecated ones (oslo.config reads
	// a deprecated name only when the current one is unset).
	var src *specSource
	for _, s := range []specSource{{secPCI, keyDeviceSpec, nil}, {secPCI, keyOldWhitelist, nil}, {"DEFAULT", "pci_passthrough_whitelist", nil}} {
		if vals, ok := d.GetAll(s.section, s.key); ok && len(vals) > 0 {
			s.values = vals
			src = &s
			break
		}
	}
	if src == nil {
		c.add(d, secPCI, keyDeviceSpec, "no device_spec: nova-compute offers no VF to instances",
			fmt.Sprintf(`add device_spec = {"devname": "<PF>", "physical_network": "<physnet>"} for each mapped PF%s`, c.mappedHint()))
	}
	var specs []DeviceSpec
	var labels []string
	if src != nil {
		for i, v := range src.values {
			entry := fmt.Sprintf("entry %d", i+1)
			ss, raws, err := parseDeviceSpecs(v)
			if err != nil {
				c.add(d, src.section, src.key, fmt.Sprintf("%s %v: nova-compute stops at start: %s", entry, err, v),
					`write one JSON object per line, e.g. {"devname": "<PF>", "physical_network": "<physnet>"}`)
				continue
			}
			for j, s := range ss {
				label := entry
				if len(ss) > 1 {
					label = fmt.Sprintf("%s item %d", entry, j+1)
				}
				if _, hasDev := raws[j]["devname"]; hasDev {
					if _, hasAddr := raws[j]["address"]; hasAddr {
						c.add(d, src.section, src.key, fmt.Sprintf("%s gives both devname and address: nova-compute stops at start", label),
							"keep one: devname (the PF's netdev, all its VFs) or address (a VF's PCI address, or the PF's for all its VFs)")
						continue
					}
				}
				specs = append(specs, s)
				labels = append(labels, label)
			}
		}
	}
	c.specs = specs
	assigned := assignVFs(c.h, specs)
	offered := map[string]map[string]bool{} // agent physnet -> PFs whose VFs device_spec offers on it
	for i, s := range specs {
		c.spec(d, src, labels, i, s, assigned, offered)
	}
	// The other direction: a physnet the agent serves but nova offers no VF of.
	for _, physnet := range sortedKeys(c.mappings) {
		for _, dev := range c.mappings[physnet] {
			p := c.h.FindPF(dev)
			if p == nil || p.NumVFs == 0 || src == nil || offered[physnet][p.Name] {
				continue
			}
			c.add(d, secPCI, keyDeviceSpec, fmt.Sprintf("sriov_agent maps %s to %s, but no device_spec entry offers %s's VFs on %s: ports on %s never get a VF here", physnet, dev, dev, physnet, physnet),
				fmt.Sprintf(`add device_spec = {"devname": %q, "physical_network": %q}`, p.Name, physnet))
		}
	}
}

// aliases checks [pci] alias entries as nova-api's schema does.
func (c *checker) aliases(d *Doc) {
	vals, ok := d.GetAll(secPCI, keyAlias)
	if !ok {
		vals, _ = d.GetAll("DEFAULT", "pci_alias") // the deprecated name, read when alias is unset
	}
	type seenAlias struct{ devType, numa string }
	seen := map[string]seenAlias{}
	for i, v := range vals {
		entry := fmt.Sprintf("entry %d", i+1)
		var a map[string]any
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			c.add(d, secPCI, keyAlias, fmt.Sprintf("%s is not a JSON object: instances with flavors using aliases fail", entry), `write {"name": "...", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}`)
			continue
		}
		var errs []string
		for k, val := range a {
			str, isStr := val.(string)
			switch {
			case !aliasKeys[k]:
				errs = append(errs, fmt.Sprintf("unknown key %q", k))
			case !isStr:
				errs = append(errs, fmt.Sprintf("%s is not a string", k))
			case k == "device_type" && !aliasDeviceTypes[str]:
				errs = append(errs, fmt.Sprintf("device_type %q is not type-PCI, type-PF or type-VF", str))
			case k == "numa_policy" && !aliasNUMAPolicies[str]:
				errs = append(errs, fmt.Sprintf("numa_policy %q is not required, legacy, preferred or socket", str))
			case (k == "vendor_id" || k == "product_id") && !(len(str) == 4 && sriov.IsHex(str)):
				errs = append(errs, fmt.Sprintf("%s %q is not 4 hex digits", k, str))
			case k == "capability_type" && str != "pci":
				errs = append(errs, fmt.Sprintf("capability_type %q is not pci", str))
			case k == "name" && (str == "" || len(str) > 256):
				errs = append(errs, "name must have 1-256 characters")
			}
		}
		name, ok := a["name"].(string)
		if !ok {
			errs = append(errs, "no name")
		}
		sort.Strings(errs)
		if len(errs) > 0 {
			c.add(d, secPCI, keyAlias, fmt.Sprintf("%s: %s: nova refuses every alias then", entry, strings.Join(errs, "; ")), "fix the entry to nova's alias schema")
			continue
		}
		dt, _ := a["device_type"].(string)
		np, _ := a["numa_policy"].(string)
		if np == "" {
			np = "legacy"
		}
		name = strings.TrimSpace(name)
		if prev, ok := seen[name]; ok && (prev.devType != dt || prev.numa != np) {
			c.add(d, secPCI, keyAlias, fmt.Sprintf("%s: alias %s appears again with another device_type or numa_policy: nova refuses every alias then", entry, name), "give entries of one name the same device_type and numa_policy")
			continue
		}
		seen[name] = seenAlias{dt, np}
	}
}

// agentPhysnets are the physnets of physical_device_mappings that physnet names: nova compares a
// device's physical_network with the network's case-insensitively.
func (c *checker) agentPhysnets(physnet string) []string {
	var out []string
	for _, k := range sortedKeys(c.mappings) {
		if strings.EqualFold(k, physnet) {
			out = append(out, k)
		}
	}
	return out
}

func (c *checker) spec(d *Doc, src *specSource, labels []string, i int, s DeviceSpec, assigned map[string]int, offered map[string]map[string]bool) {
	label := labels[i]
	all := s.matchVFs(c.h)
	var matches []matchedVF
	var shadowed []string
	for _, m := range all {
		if j := assigned[m.Address]; j == i {
			matches = append(matches, m)
		} else if s.PhysicalNetwork != "" && !strings.EqualFold(c.specs[j].PhysicalNetwork, s.PhysicalNetwork) {
			shadowed = append(shadowed, fmt.Sprintf("%s VF %d (%s, on %s)", m.PF, m.VF, labels[j], orNone(c.specs[j].PhysicalNetwork)))
		}
	}
	if len(shadowed) > 0 {
		c.add(d, src.section, src.key, fmt.Sprintf("%s offers %s on %s, but nova tags each device with the first entry that matches it: %s", label, strings.Join(shadowed, ", "), s.PhysicalNetwork, "those VFs get the earlier entry's physnet"),
			"give each physnet its own VFs: one entry per VF address, no devname or PF address for a PF whose VFs are split")
	}
	if len(all) == 0 && s.PhysicalNetwork != "" {
		// Without a physnet the entry is for PCI passthrough through an alias (a GPU, say): the
		// devices it names need not be VFs, which is all this host's model knows.
		c.add(d, src.section, src.key, fmt.Sprintf("%s matches no VF on this host (%s)", label, s.JSON()),
			"name a PF that has VFs (devname or its PCI address), or a VF address, with the VFs' vendor_id/product_id: "+c.vfIDs())
		return
	}
	if s.TrustedNotString {
		c.add(d, src.section, src.key, fmt.Sprintf(`%s has "trusted": %s as a JSON boolean: nova compares tags as strings, so a port asking for a trusted VF never claims one`, label, s.Trusted),
			fmt.Sprintf(`write "trusted": "%s" (a string)`, s.Trusted))
	}
	if s.PhysicalNetwork == "" || len(matches) == 0 {
		return // PCI passthrough via an alias, not for Neutron ports; or nothing left to offer
	}
	physnet := s.PhysicalNetwork
	pfs := map[string]bool{}
	for _, m := range matches {
		pfs[m.PF] = true
	}
	a := c.f.SRIOVAgent
	nova := filepath.Base(d.Path)
	keys := c.agentPhysnets(physnet)
	for _, pf := range sortedKeys(pfs) {
		served := false
		for _, k := range keys {
			if offered[k] == nil {
				offered[k] = map[string]bool{}
			}
			offered[k][pf] = true
			if contains(c.mappings[k], pf) {
				served = true
			}
		}
		if served || !c.once("map|"+strings.ToLower(physnet)+"|"+pf) {
			continue
		}
		orFix := ""
		if mapped := c.physnetsOf(pf); len(mapped) > 0 {
			orFix = fmt.Sprintf(", or set physical_network in %s device_spec to %s (what the agent maps %s to)", nova, strings.Join(mapped, " or "), pf)
		}
		if len(keys) == 0 {
			c.add(a, secSRIOV, keyMappings, fmt.Sprintf("physnet %s (%s device_spec %s: VFs of %s) is not mapped: the agent cannot bind ports on %s", physnet, nova, label, pf, physnet),
				fmt.Sprintf("add %s:%s to physical_device_mappings%s", physnet, pf, orFix))
		} else {
			var devs []string
			for _, k := range keys {
				devs = append(devs, c.mappings[k]...)
			}
			c.add(a, secSRIOV, keyMappings, fmt.Sprintf("physnet %s maps to %s, but %s device_spec %s offers VFs of %s on it: their ports never bind", physnet, strings.Join(devs, ","), nova, label, pf),
				fmt.Sprintf("add %s:%s to physical_device_mappings%s", keys[0], pf, orFix))
		}
	}
	if len(keys) == 0 {
		keys = []string{physnet}
	}
	for _, k := range keys {
		if !c.ml2Allows(k) && c.once("ml2|"+k) {
			sec, key := secFlat, keyFlatNets
			fix := fmt.Sprintf("add %s to [ml2_type_flat] flat_networks (flat) or to [ml2_type_vlan] network_vlan_ranges (VLAN)", k)
			if !c.types["flat"] && !c.types["vlan"] {
				sec, key, fix = secML2, keyTypes, "add flat or vlan to type_drivers, and the physnet to flat_networks or network_vlan_ranges"
			} else if !c.flatSet || !c.types["flat"] {
				sec, key = secVLAN, keyVLANRanges
			}
			c.add(c.f.ML2, sec, key, fmt.Sprintf("physnet %s (%s device_spec %s) is in neither flat_networks nor network_vlan_ranges of an enabled type driver: Neutron cannot create a network on it", k, nova, label), fix)
		}
	}
	var excl []string
	for _, m := range matches {
		if _, ok := c.excluded[m.Address]; ok {
			excl = append(excl, fmt.Sprintf("%s VF %d (%s)", m.PF, m.VF, m.Address))
		}
	}
	if len(excl) > 0 {
		c.add(d, src.section, src.key, fmt.Sprintf("%s offers %s, which sriov_agent.ini exclude_devices excludes: an instance may get a VF whose port never binds", label, strings.Join(excl, ", ")),
			"list only the VFs the agent manages, one device_spec line per VF address")
	}
}

// ml2Allows reports whether Neutron can create a flat or VLAN network on physnet.
func (c *checker) ml2Allows(physnet string) bool {
	flat := c.types["flat"] && (c.flatAll || c.flatNets[physnet])
	vlan := c.types["vlan"] && c.vlanNets[physnet]
	return flat || vlan
}

// physnetsOf lists the physnets the agent maps to PF dev.
func (c *checker) physnetsOf(dev string) []string {
	var out []string
	for _, physnet := range sortedKeys(c.mappings) {
		if contains(c.mappings[physnet], dev) {
			out = append(out, physnet)
		}
	}
	return out
}

func (c *checker) examplePF() string {
	for _, p := range c.h.PFs {
		if p.NumVFs > 0 {
			return "physnet1:" + p.Name
		}
	}
	return "physnet1:<PF with VFs>"
}

func (c *checker) mappedHint() string {
	var parts []string
	for _, physnet := range sortedKeys(c.mappings) {
		for _, dev := range c.mappings[physnet] {
			parts = append(parts, fmt.Sprintf(`{"devname": %q, "physical_network": %q}`, dev, physnet))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

func (c *checker) vfIDs() string {
	var parts []string
	for _, p := range c.h.PFs {
		if p.NumVFs > 0 {
			parts = append(parts, fmt.Sprintf("%s %s:%s", p.Name, p.VendorID, p.VFDeviceID))
		}
	}
	if len(parts) == 0 {
		return "no PF on this host has VFs"
	}
	return strings.Join(parts, ", ")
}

func vfByAddress(p *sriov.PF, addr string) *sriov.VF {
	for i := range p.VFs {
		if addr == p.VFs[i].PCIAddress {
			return &p.VFs[i]
		}
	}
	return nil
}

func vfAddresses(p *sriov.PF) string {
	switch len(p.VFs) {
	case 0:
		return "none"
	case 1:
		return p.VFs[0].PCIAddress
	}
	return p.VFs[0].PCIAddress + " ... " + p.VFs[len(p.VFs)-1].PCIAddress
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
