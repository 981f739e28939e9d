package openstack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// DeviceSpec is one nova [pci] device_spec entry (formerly passthrough_whitelist): which PCI devices
// nova-compute may hand to instances, and the tags (physical_network, trusted) they carry.
type DeviceSpec struct {
	VendorID  string `json:"vendor_id,omitempty"`
	ProductID string `json:"product_id,omitempty"`
	// Address is a PCI address glob ("0000:01:10.0", "*:0a:00.*") or, as a JSON object, per-field
	// regular expressions; a PF's address matches that PF's VFs.
	Address any `json:"address,omitempty"`
	// Devname is a netdev name; a PF's name matches that PF's VFs.
	Devname         string `json:"devname,omitempty"`
	PhysicalNetwork string `json:"physical_network,omitempty"`
	Trusted         string `json:"trusted,omitempty"`
}

// JSON renders the entry as nova reads it, keys in a fixed order.
func (s DeviceSpec) JSON() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			b, _ := json.Marshal(v)
			parts = append(parts, fmt.Sprintf("%q: %s", k, b))
		}
	}
	if a, ok := s.Address.(string); ok {
		add("address", a)
	}
	add("devname", s.Devname)
	add("vendor_id", s.VendorID)
	add("product_id", s.ProductID)
	add("physical_network", s.PhysicalNetwork)
	add("trusted", s.Trusted)
	return "{" + strings.Join(parts, ", ") + "}"
}

// parseDeviceSpecs reads one device_spec value: a JSON object, or a JSON list of objects (both are
// accepted by nova). The raw keys are returned too, to tell "devname and address both given".
func parseDeviceSpecs(v string) ([]DeviceSpec, []map[string]json.RawMessage, error) {
	v = strings.TrimSpace(v)
	var raws []map[string]json.RawMessage
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &raws); err != nil {
			return nil, nil, jsonErr(err)
		}
	} else {
		var one map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &one); err != nil {
			return nil, nil, jsonErr(err)
		}
		raws = []map[string]json.RawMessage{one}
	}
	specs := make([]DeviceSpec, len(raws))
	for i, r := range raws {
		sp := &specs[i]
		for key, dst := range map[string]*string{"vendor_id": &sp.VendorID, "product_id": &sp.ProductID, "devname": &sp.Devname,
			"physical_network": &sp.PhysicalNetwork, "trusted": &sp.Trusted} {
			raw, ok := r[key]
			if !ok {
				continue
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				var b bool
				if key != "trusted" || json.Unmarshal(raw, &b) != nil {
					return nil, nil, fmt.Errorf("has %s %s: want a string", key, raw)
				}
				*dst = strconv.FormatBool(b)
			}
		}
		if raw, ok := r["address"]; ok {
			var a any
			_ = json.Unmarshal(raw, &a) // valid: it came out of a parsed object
			switch a := a.(type) {
			case string:
				sp.Address = strings.TrimSpace(a)
			case map[string]any:
				sp.Address = a
			default:
				return nil, nil, fmt.Errorf("has address %s: want a string like \"0000:0a:00.*\" or an object of domain/bus/slot/function patterns", raw)
			}
		}
	}
	return specs, raws, nil
}

func jsonErr(err error) error {
	return fmt.Errorf("is not valid JSON (%v)", err)
}

// matchVFs returns the host's VFs the entry selects, as "PF/VF-id" keyed by PCI address, in PF then VF
// order. An entry with a devname or address that names a PF selects that PF's VFs (nova's rule).
func (s DeviceSpec) matchVFs(h *sriov.Host) []matchedVF {
	var out []matchedVF
	for pi := range h.PFs {
		p := &h.PFs[pi]
		if !hexEq(s.VendorID, p.VendorID) || (p.VFDeviceID != "" && !hexEq(s.ProductID, p.VFDeviceID)) {
			continue
		}
		for vi := range p.VFs {
			v := &p.VFs[vi]
			if s.Devname != "" && s.Devname != p.Name && s.Devname != v.Netdev {
				continue
			}
			if s.Address != nil && !addressMatches(s.Address, p, v) {
				continue
			}
			out = append(out, matchedVF{PF: p.Name, VF: v.ID, Address: v.PCIAddress})
		}
	}
	return out
}

type matchedVF struct {
	PF      string
	VF      int
	Address string
}

// hexEq compares a spec's vendor/product id (empty or "*" = any) with a device's.
func hexEq(spec, dev string) bool {
	spec = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(spec), "0x"))
	if spec == "" || spec == "*" {
		return true
	}
	a, errA := strconv.ParseUint(spec, 16, 16)
	b, errB := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(dev), "0x"), 16, 16)
	return errA == nil && errB == nil && a == b
}

func addressMatches(spec any, p *sriov.PF, v *sriov.VF) bool {
	switch a := spec.(type) {
	case string:
		if !strings.Contains(a, "*") && pciEq(a, p.PCIAddress) {
			return true
		}
		return globMatches(a, v.PCIAddress)
	case map[string]any:
		return regexMatches(a, v.PCIAddress) || regexMatches(a, p.PCIAddress)
	}
	return false
}

// pciFields splits "dddd:bb:ss.f" into its four hex fields.
func pciFields(addr string) (dom, bus, slot, fn string) {
	rest, fn, _ := strings.Cut(addr, ".")
	parts := strings.Split(rest, ":")
	for len(parts) < 3 {
		parts = append([]string{"*"}, parts...)
	}
	return parts[len(parts)-3], parts[len(parts)-2], parts[len(parts)-1], fn
}

func pciEq(a, b string) bool {
	d1, b1, s1, f1 := pciFields(a)
	d2, b2, s2, f2 := pciFields(b)
	return hexField(d1, d2) && hexField(b1, b2) && hexField(s1, s2) && hexField(f1, f2) && d1 != "*"
}

// globMatches is nova's address glob: "[[[[<domain>]:]<bus>]:][<slot>][.[<function>]]", a missing or "*"
// field matches anything.
func globMatches(glob, addr string) bool {
	gd, gb, gs, gf := pciFields(glob)
	d, b, s, f := pciFields(addr)
	return hexField(gd, d) && hexField(gb, b) && hexField(gs, s) && hexField(gf, f)
}

func hexField(spec, val string) bool {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "*" {
		return true
	}
	a, errA := strconv.ParseUint(spec, 16, 32)
	b, errB := strconv.ParseUint(val, 16, 32)
	return errA == nil && errB == nil && a == b
}

// regexMatches is nova's address object: {"domain": RE, "bus": RE, "slot": RE, "function": RE}, each a
// full-match regular expression; a missing field matches anything.
func regexMatches(spec map[string]any, addr string) bool {
	d, b, s, f := pciFields(addr)
	vals := map[string]string{"domain": d, "bus": b, "slot": s, "function": f}
	for field, val := range vals {
		pat, ok := spec[field].(string)
		if !ok || pat == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil || !re.MatchString(val) {
			return false
		}
	}
	return true
}

// describeMatches renders matched VFs compactly per PF: "ens5f0 VFs 0-3".
func describeMatches(ms []matchedVF) string {
	byPF := map[string][]int{}
	var order []string
	for _, m := range ms {
		if _, ok := byPF[m.PF]; !ok {
			order = append(order, m.PF)
		}
		byPF[m.PF] = append(byPF[m.PF], m.VF)
	}
	var parts []string
	for _, pf := range order {
		ids := byPF[pf]
		sort.Ints(ids)
		parts = append(parts, pf+" VFs "+policy.FormatIDs(ids))
	}
	return strings.Join(parts, ", ")
}
