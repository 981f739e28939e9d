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
	types      map[string]bool // nil: type_drivers unset (Neutron's default has flat and vlan)
	flatAll    bool
	flatNets   map[string]bool
	flatSet    bool
	vlanNets   map[string]bool
	vlanRanges map[string]string // physnet -> "min:max" when a range is given
	// from sriov_agent.ini
	mappings map[string][]string // physnet -> PF netdevs
	excluded map[string]string   // VF PCI address -> PF netdev that excludes it

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

func (c *checker) ml2() {
	d := c.f.ML2
	mech, _ := d.Get(secML2, keyMech)
	if !containsFold(splitList(mech), mechDriver) {
		c.add(d, secML2, keyMech, fmt.Sprintf("sriovnicswitch is not among the mechanism drivers (%s): Neutron cannot bind direct (SR-IOV) ports", orNone(mech)),
			fmt.Sprintf("set mechanism_drivers = %s", addToList(mech, mechDriver)))
	}
	if types, ok := d.Get(secML2, keyTypes); ok {
		c.types = map[string]bool{}
		for _, t := range splitList(types) {
			c.types[strings.ToLower(t)] = true
		}
	}
	c.flatNets = map[string]bool{}
	if nets, ok := d.Get(secFlat, keyFlatNets); ok {
		c.flatSet = true
		for _, n := range splitList(nets) {
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
	for _, e := range splitList(ranges) {
		parts := strings.Split(e, ":")
		switch len(parts) {
		case 1:
			c.vlanNets[parts[0]] = true
		case 3:
			lo, errA := strconv.Atoi(parts[1])
			hi, errB := strconv.Atoi(parts[2])
			if errA != nil || errB != nil || lo < 1 || hi > sriov.MaxVLAN || lo > hi {
				c.add(d, secVLAN, keyVLANRanges, fmt.Sprintf("%q is not a valid VLAN range", e),
					fmt.Sprintf("write PHYSNET:MIN:MAX with 1 <= MIN <= MAX <= %d, or the bare physnet", sriov.MaxVLAN))
				continue
			}
			c.vlanNets[parts[0]] = true
			c.vlanRanges[parts[0]] = parts[1] + ":" + parts[2]
		default:
			c.add(d, secVLAN, keyVLANRanges, fmt.Sprintf("%q is neither PHYSNET nor PHYSNET:MIN:MAX", e), "write PHYSNET or PHYSNET:MIN:MAX entries, comma-separated")
		}
	}
	// A VLAN range on a physnet that can only be flat: the range does nothing and the intent is unclear.
	if c.types != nil && !c.types["vlan"] {
		for _, name := range sortedKeys(c.vlanRanges) {
			c.add(d, secVLAN, keyVLANRanges,
				fmt.Sprintf("%s has VLAN range %s, but type_drivers (%s) has no vlan: the network type is flat and the range is ignored", name, c.vlanRanges[name], strings.Join(sortedKeys(c.types), ",")),
				fmt.Sprintf("for a flat network remove %s:%s from network_vlan_ranges; for VLAN networks add vlan to [ml2] type_drivers", name, c.vlanRanges[name]))
		}
	}
}

func (c *checker) agent() {
	d := c.f.SRIOVAgent
	c.mappings = map[string][]string{}
	maps, _ := d.Get(secSRIOV, keyMappings)
	entries := splitList(maps)
	if len(entries) == 0 {
		c.add(d, secSRIOV, keyMappings, "no physical network is mapped to a PF: the SR-IOV agent manages no VF",
			"set physical_device_mappings = PHYSNET:PF, e.g. "+c.examplePF())
	}
	for _, e := range entries {
		physnet, dev, ok := strings.Cut(e, ":")
		physnet, dev = strings.TrimSpace(physnet), strings.TrimSpace(dev)
		if !ok || physnet == "" || dev == "" || strings.Contains(dev, ":") && c.h.FindPF(dev) == nil {
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%q is not PHYSNET:PF", e), "write PHYSNET:PF entries (PF = the PF's netdev name), comma-separated")
			continue
		}
		c.mappings[physnet] = append(c.mappings[physnet], dev)
		p := c.h.FindPF(dev)
		switch {
		case p == nil:
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s maps %s to %s, which is not an SR-IOV PF on this host (PFs: %s)", physnet, physnet, dev, c.h.PFNames()),
				fmt.Sprintf("map %s to one of this host's PFs: %s:<PF>", physnet, physnet))
		case p.Name != dev:
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s names PF %s by PCI address; the agent wants its netdev name", physnet, dev),
				fmt.Sprintf("write %s:%s", physnet, p.Name))
		case p.NumVFs == 0:
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s maps %s to %s, which has no VFs", physnet, physnet, dev),
				fmt.Sprintf("create VFs: sriovctl pf set %s --numvfs N (N up to %d), and persist them across reboots", dev, p.TotalVFs))
		case p.OperState == "down":
			c.add(d, secSRIOV, keyMappings, fmt.Sprintf("%s maps %s to %s, which is down (operstate: set down, or no carrier): instances on its VFs fail to spawn", physnet, physnet, dev),
				fmt.Sprintf("bring the PF up: ip link set %s up (persistently), and check its cable and switch port", dev))
		}
	}

	c.excluded = map[string]string{}
	ex, _ := d.Get(secSRIOV, keyExclude)
	for _, e := range splitList(ex) {
		dev, list, ok := strings.Cut(e, ":")
		dev = strings.TrimSpace(dev)
		if !ok || dev == "" || strings.TrimSpace(list) == "" {
			c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%q is not PF:VF-ADDRESS[;VF-ADDRESS...]", e), "write PF:0000:BB:DD.F;0000:BB:DD.F entries, comma-separated")
			continue
		}
		if !c.mapped(dev) {
			c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%s is not in physical_device_mappings: excluding its VFs means nothing", dev),
				fmt.Sprintf("remove the %s entry, or map a physnet to %s", dev, dev))
		}
		p := c.h.FindPF(dev)
		for _, a := range strings.Split(list, ";") {
			a = strings.ToLower(strings.TrimSpace(a))
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
				c.add(d, secSRIOV, keyExclude, fmt.Sprintf("%s is not a VF of %s (its VFs: %s)", a, dev, vfAddresses(p)),
					fmt.Sprintf("list only %s's VF addresses after %s:, separated by ';'", dev, dev))
				continue
			}
			c.excluded[vf.PCIAddress] = dev
		}
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
	// Filters: [filter_scheduler] enabled_filters, or the pre-Ocata [DEFAULT] scheduler_default_filters.
	fsec, fkey := secFilterSched, keyEnabledFilter
	filters, ok := d.Get(fsec, fkey)
	if !ok {
		if old, okOld := d.Get("DEFAULT", "scheduler_default_filters"); okOld {
			fsec, fkey, filters, ok = "DEFAULT", "scheduler_default_filters", old, true
		}
	}
	if !containsFold(splitList(filters), pciFilter) {
		why := fmt.Sprintf("PciPassthroughFilter is not enabled (%s)", orNone(filters))
		if !ok {
			filters = strings.Join(defaultFilters, ",")
			why = "not set, and nova's default filters do not include PciPassthroughFilter"
		}
		c.add(d, fsec, fkey, why+": instances with SR-IOV ports may land on hosts without a free VF",
			fmt.Sprintf("set %s = %s", fkey, strings.ReplaceAll(addToList(filters, pciFilter), ",", ", ")))
	}

	// device_spec entries, under their current and deprecated names.
	var sources []specSource
	for _, s := range []specSource{{secPCI, keyDeviceSpec, nil}, {secPCI, keyOldWhitelist, nil}, {"DEFAULT", "pci_passthrough_whitelist", nil}} {
		if vals, ok := d.GetAll(s.section, s.key); ok && len(vals) > 0 {
			s.values = vals
			sources = append(sources, s)
		}
	}
	if len(sources) == 0 {
		c.add(d, secPCI, keyDeviceSpec, "no device_spec: nova-compute offers no VF to instances",
			fmt.Sprintf(`add device_spec = {"devname": "<PF>", "physical_network": "<physnet>"} for each mapped PF%s`, c.mappedHint()))
	}
	offered := map[string]map[string]bool{} // physnet -> PFs whose VFs device_spec offers
	for _, src := range sources {
		for i, v := range src.values {
			entry := fmt.Sprintf("entry %d", i+1)
			specs, raws, err := parseDeviceSpecs(v)
			if err != nil {
				c.add(d, src.section, src.key, fmt.Sprintf("%s %v: %s", entry, err, v),
					`write one JSON object per line, e.g. {"devname": "<PF>", "physical_network": "<physnet>"}`)
				continue
			}
			for j, s := range specs {
				label := entry
				if len(specs) > 1 {
					label = fmt.Sprintf("%s item %d", entry, j+1)
				}
				c.spec(d, src, label, s, raws[j], offered)
			}
		}
	}
	// The other direction: a physnet the agent serves but nova offers no VF of.
	for _, physnet := range sortedKeys(c.mappings) {
		for _, dev := range c.mappings[physnet] {
			p := c.h.FindPF(dev)
			if p == nil || p.NumVFs == 0 || len(sources) == 0 || offered[physnet][p.Name] {
				continue
			}
			c.add(d, secPCI, keyDeviceSpec, fmt.Sprintf("sriov_agent maps %s to %s, but no device_spec entry offers %s's VFs on %s: ports on %s never get a VF here", physnet, dev, dev, physnet, physnet),
				fmt.Sprintf(`add device_spec = {"devname": %q, "physical_network": %q}`, p.Name, physnet))
		}
	}
}

func (c *checker) spec(d *Doc, src specSource, label string, s DeviceSpec, raw map[string]json.RawMessage, offered map[string]map[string]bool) {
	_, hasDev := raw["devname"]
	_, hasAddr := raw["address"]
	if hasDev && hasAddr {
		c.add(d, src.section, src.key, fmt.Sprintf("%s gives both devname and address; nova refuses that", label),
			"keep one: devname (the PF's netdev, all its VFs) or address (a VF's PCI address, or the PF's for all its VFs)")
		return
	}
	matches := s.matchVFs(c.h)
	if len(matches) == 0 {
		c.add(d, src.section, src.key, fmt.Sprintf("%s matches no VF on this host (%s)", label, s.JSON()),
			"name a PF that has VFs (devname or its PCI address), or a VF address, with the VFs' vendor_id/product_id: "+c.vfIDs())
		return
	}
	if s.PhysicalNetwork == "" {
		return // PCI passthrough via an alias, not for Neutron ports
	}
	physnet := s.PhysicalNetwork
	pfs := map[string]bool{}
	for _, m := range matches {
		pfs[m.PF] = true
	}
	if offered[physnet] == nil {
		offered[physnet] = map[string]bool{}
	}
	a := c.f.SRIOVAgent
	nova := filepath.Base(d.Path)
	for _, pf := range sortedKeys(pfs) {
		offered[physnet][pf] = true
		devs, ok := c.mappings[physnet]
		if contains(devs, pf) || !c.once("map|"+physnet+"|"+pf) {
			continue
		}
		orFix := ""
		if mapped := c.physnetsOf(pf); len(mapped) > 0 {
			orFix = fmt.Sprintf(", or set physical_network in %s device_spec to %s (what the agent maps %s to)", nova, strings.Join(mapped, " or "), pf)
		}
		if !ok {
			c.add(a, secSRIOV, keyMappings, fmt.Sprintf("physnet %s (%s device_spec %s: VFs of %s) is not mapped: the agent cannot bind ports on %s", physnet, nova, label, pf, physnet),
				fmt.Sprintf("add %s:%s to physical_device_mappings%s", physnet, pf, orFix))
		} else {
			c.add(a, secSRIOV, keyMappings, fmt.Sprintf("physnet %s maps to %s, but %s device_spec %s offers VFs of %s on it: their ports never bind", physnet, strings.Join(devs, ","), nova, label, pf),
				fmt.Sprintf("add %s:%s to physical_device_mappings%s", physnet, pf, orFix))
		}
	}
	if !c.ml2Allows(physnet) && c.once("ml2|"+physnet) {
		sec, key := secFlat, keyFlatNets
		fix := fmt.Sprintf("add %s to [ml2_type_flat] flat_networks (flat) or to [ml2_type_vlan] network_vlan_ranges (VLAN)", physnet)
		if c.types != nil && !c.types["flat"] && !c.types["vlan"] {
			sec, key, fix = secML2, keyTypes, "add flat or vlan to type_drivers, and the physnet to flat_networks or network_vlan_ranges"
		} else if !c.flatSet || c.types != nil && !c.types["flat"] {
			sec, key = secVLAN, keyVLANRanges
		}
		c.add(c.f.ML2, sec, key, fmt.Sprintf("physnet %s (%s device_spec %s) is in neither flat_networks nor network_vlan_ranges of an enabled type driver: Neutron cannot create a network on it", physnet, nova, label), fix)
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
	flat := (c.types == nil || c.types["flat"]) && (c.flatAll || c.flatNets[physnet])
	vlan := (c.types == nil || c.types["vlan"]) && c.vlanNets[physnet]
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
		if pciEq(addr, p.VFs[i].PCIAddress) {
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

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
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
