package openstack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

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
	// TrustedNotString: trusted was a JSON boolean, which nova never matches (see parseDeviceSpecs).
	TrustedNotString bool `json:"-"`
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
// accepted by nova). The raw keys are returned too, to tell "devname and address both given". An
// entry nova-compute refuses at start (bad ids, a malformed address) is an error.
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
		for _, f := range []struct {
			key string
			dst *string
		}{{"vendor_id", &sp.VendorID}, {"product_id", &sp.ProductID}, {"devname", &sp.Devname},
			{"physical_network", &sp.PhysicalNetwork}, {"trusted", &sp.Trusted}} {
			raw, ok := r[f.key]
			if !ok {
				continue
			}
			if err := json.Unmarshal(raw, f.dst); err != nil {
				var b bool
				if f.key != "trusted" || json.Unmarshal(raw, &b) != nil {
					return nil, nil, fmt.Errorf("has %s %s: want a string", f.key, raw)
				}
				// nova keeps a JSON boolean as is; a port's request carries the string "True", and
				// nova's claim compares tags as strings, so such a VF is never claimed.
				*f.dst = strconv.FormatBool(b)
				sp.TrustedNotString = true
			}
		}
		for _, id := range []struct{ name, v string }{{"vendor_id", sp.VendorID}, {"product_id", sp.ProductID}} {
			if _, err := normHex(id.v, 0xffff, "%04x"); err != nil {
				return nil, nil, fmt.Errorf("has %s %q: %v", id.name, id.v, err)
			}
		}
		if raw, ok := r["address"]; ok {
			var a any
			_ = json.Unmarshal(raw, &a) // valid: it came out of a parsed object
			switch a := a.(type) {
			case string:
				sp.Address = a
			case map[string]any:
				sp.Address = a
			default:
				return nil, nil, fmt.Errorf("has address %s: want a string like \"0000:0a:00.*\" or an object of domain/bus/slot/function patterns", raw)
			}
			if _, err := sp.addressSpec(); err != nil {
				return nil, nil, fmt.Errorf("has address %s: %v", raw, err)
			}
		}
	}
	return specs, raws, nil
}

func jsonErr(err error) error {
	return fmt.Errorf("is not valid JSON (%v)", err)
}

// normHex is nova's _set_pci_dev_info: "*" stays, anything else must be a hex number (Python's
// int(s, 16): blanks around it and a 0x prefix allowed) not above max, written with format.
func normHex(s string, max uint64, format string) (string, error) {
	if s == "" || s == "*" {
		return "*", nil
	}
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	v, err := strconv.ParseUint(t, 16, 64)
	if err != nil || t == "" {
		return "", fmt.Errorf("%q is not a hex number", s)
	}
	if v > max {
		return "", fmt.Errorf("%q is above %x", s, max)
	}
	return fmt.Sprintf(format, v), nil
}

// addrSpec is nova's parsed device_spec address: a glob (fields "*" or normalised hex) or per-field
// regular expressions, and whether it names one device (a PF's address then selects its VFs).
type addrSpec struct {
	glob   [4]string // domain, bus, slot, function
	re     [4]*regexp.Regexp
	raw    [4]string // the fields as written, as nova builds the sysfs path to test for a PF
	single bool
}

var pciFieldMax = [4]struct {
	max    uint64
	format string
}{{0xffff, "%04x"}, {0xff, "%02x"}, {0x1f, "%02x"}, {0x7, "%1x"}}

// addressSpec parses the entry's address as nova's PciAddressGlobSpec or PciAddressRegexSpec; nil
// without an address.
func (s DeviceSpec) addressSpec() (*addrSpec, error) {
	switch a := s.Address.(type) {
	case string:
		return parseGlob(a)
	case map[string]any:
		as := &addrSpec{single: true}
		for i, name := range []string{"domain", "bus", "slot", "function"} {
			pat := ".*"
			if v, ok := a[name]; ok {
				str, ok := v.(string)
				if !ok {
					return nil, fmt.Errorf("%s %v is not a string", name, v)
				}
				pat = str
			}
			// re.match: anchored at the start only, so "3" matches bus "3b".
			re, err := regexp.Compile("^(?:" + pat + ")")
			if err != nil {
				return nil, fmt.Errorf("%s %q is not a regular expression", name, pat)
			}
			as.re[i], as.raw[i] = re, pat
			if strings.Trim(pat, "0123456789abcdefABCDEF") != "" {
				as.single = false
			}
		}
		return as, nil
	}
	return nil, nil
}

// parseGlob is nova's PciAddressGlobSpec: "[[[[<domain>]:]<bus>]:][<slot>][.[<function>]]", a
// missing, empty or "*" field matching anything.
func parseGlob(g string) (*addrSpec, error) {
	as := &addrSpec{glob: [4]string{"*", "*", "*", "*"}}
	dbs, fn, _ := strings.Cut(g, ".")
	if f := strings.TrimSpace(fn); f != "" {
		as.glob[3] = f
	}
	if dbs != "" {
		fields := strings.Split(dbs, ":")
		if len(fields) > 3 {
			return nil, fmt.Errorf("%q has more than domain:bus:slot", g)
		}
		for len(fields) < 3 {
			fields = append([]string{"*"}, fields...)
		}
		for i, f := range fields {
			if f = strings.TrimSpace(f); f != "" {
				as.glob[i] = f
			}
		}
	}
	as.single = true
	for i := range as.glob {
		v, err := normHex(as.glob[i], pciFieldMax[i].max, pciFieldMax[i].format)
		if err != nil {
			return nil, fmt.Errorf("address %q: %v", g, err)
		}
		as.glob[i], as.raw[i] = v, v
		if v == "*" {
			as.single = false
		}
	}
	return as, nil
}

func (as *addrSpec) match(addr string) bool {
	f := pciFields(addr)
	for i := range f {
		if as.re[i] != nil {
			if !as.re[i].MatchString(f[i]) {
				return false
			}
		} else if as.glob[i] != "*" && as.glob[i] != f[i] {
			return false
		}
	}
	return true
}

// pciFields splits a full "dddd:bb:ss.f" address as sysfs writes it.
func pciFields(addr string) [4]string {
	rest, fn, _ := strings.Cut(strings.ToLower(addr), ".")
	p := strings.Split(rest, ":")
	for len(p) < 3 {
		p = append([]string{""}, p...)
	}
	return [4]string{p[len(p)-3], p[len(p)-2], p[len(p)-1], fn}
}

// isPF is nova's utils.is_physical_function: sysfs has the device with sriov_totalvfs > 0.
func isPF(p *sriov.PF) bool { return p.TotalVFs > 0 || len(p.VFs) > 0 }

// matchVFs returns the host's VFs the entry selects, in PF then VF order, by nova's rules: a devname
// naming a PF (or an address naming exactly a PF) selects that PF's VFs, a VF's netdev that VF;
// vendor_id and product_id must equal the VF's.
func (s DeviceSpec) matchVFs(h *sriov.Host) []matchedVF {
	vendor, _ := normHex(s.VendorID, 0xffff, "%04x")
	product, _ := normHex(s.ProductID, 0xffff, "%04x")
	as, err := s.addressSpec()
	if err != nil || (s.Devname != "" && s.Address != nil) {
		return nil
	}
	// The PF an address names, found as nova does: the sysfs path built from the fields as written.
	var addrPF *sriov.PF
	if as != nil && as.single {
		path := fmt.Sprintf("%s:%s:%s.%s", as.raw[0], as.raw[1], as.raw[2], as.raw[3])
		for pi := range h.PFs {
			if h.PFs[pi].PCIAddress == path && isPF(&h.PFs[pi]) {
				addrPF = &h.PFs[pi]
			}
		}
	}
	var out []matchedVF
	for pi := range h.PFs {
		p := &h.PFs[pi]
		for vi := range p.VFs {
			v := &p.VFs[vi]
			if vendor != "*" && vendor != strings.ToLower(p.VendorID) || product != "*" && product != strings.ToLower(p.VFDeviceID) {
				continue
			}
			switch {
			case s.Devname != "":
				if !(s.Devname == p.Name && isPF(p)) && s.Devname != v.Netdev {
					continue
				}
			case as != nil:
				if !(addrPF == p && as.match(p.PCIAddress)) && !as.match(v.PCIAddress) {
					continue
				}
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

// assignVFs is nova's Whitelist.get_devspec for every VF: the index of the first entry that matches
// it, by PCI address (VFs no entry matches are absent). nova tags a device with that entry only.
func assignVFs(h *sriov.Host, specs []DeviceSpec) map[string]int {
	out := map[string]int{}
	for i, s := range specs {
		for _, m := range s.matchVFs(h) {
			if _, ok := out[m.Address]; !ok {
				out[m.Address] = i
			}
		}
	}
	return out
}
