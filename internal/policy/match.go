package policy

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Match selects a PF by what it is: every field given must hold (an empty field matches anything).
// IDs are the PCI vendor and device IDs as lspci -n shows them (8086, 159b); PCIAddress is a shell
// glob over the PF's full PCI address ("0000:3b:00.*"; lspci's short form "3b:00.*" means domain 0000).
type Match struct {
	VendorID   string `yaml:"vendorId,omitempty" json:"vendorId,omitempty"`
	DeviceID   string `yaml:"deviceId,omitempty" json:"deviceId,omitempty"`
	Driver     string `yaml:"driver,omitempty" json:"driver,omitempty"`
	PCIAddress string `yaml:"pciAddress,omitempty" json:"pciAddress,omitempty"`
}

// validate checks and normalizes each field (errors name it as match.FIELD) (IDs lower case without 0x, the glob over a full address).
func (m *Match) validate() *sriov.FieldError {
	if *m == (Match{}) {
		return &sriov.FieldError{Field: "match", Value: "{}", Allowed: "give at least one of vendorId, deviceId, driver and pciAddress"}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"vendorId", &m.VendorID}, {"deviceId", &m.DeviceID}} {
		if *f.v == "" {
			continue
		}
		id := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(*f.v, "0x"), "0X"))
		if !(len(id) == 4 && sriov.IsHex(id)) {
			return &sriov.FieldError{Field: "match." + f.name, Value: *f.v, Allowed: "want 4 hex digits as lspci -n shows them, e.g. 8086"}
		}
		*f.v = id
	}
	if m.Driver != "" && strings.ContainsAny(m.Driver, "/ \t\n*?[") {
		return &sriov.FieldError{Field: "match.driver", Value: m.Driver, Allowed: "want a PF driver name such as ice, i40e, mlx5_core or igb"}
	}
	if g := m.PCIAddress; g != "" {
		if strings.Count(g, ":") == 1 {
			g = "0000:" + g
		}
		if _, err := path.Match(g, ""); err != nil || strings.Count(g, ":") != 2 || strings.ContainsAny(g, "/ ") {
			return &sriov.FieldError{Field: "match.pciAddress", Value: m.PCIAddress, Allowed: `want a glob over a PCI address, e.g. "0000:3b:00.*" or "3b:00.*"`}
		}
		m.PCIAddress = strings.ToLower(g)
	}
	return nil
}

// Matches reports whether PF p has every property m names.
func (m *Match) Matches(p *sriov.PF) bool {
	if m.VendorID != "" && !strings.EqualFold(m.VendorID, p.VendorID) ||
		m.DeviceID != "" && !strings.EqualFold(m.DeviceID, p.DeviceID) ||
		m.Driver != "" && m.Driver != p.Driver {
		return false
	}
	if m.PCIAddress != "" {
		ok, _ := path.Match(m.PCIAddress, strings.ToLower(p.PCIAddress))
		return ok
	}
	return true
}

// String renders the match for messages: match{vendorId=8086,driver=ice}.
func (m *Match) String() string {
	var parts []string
	for _, f := range []struct{ k, v string }{{"vendorId", m.VendorID}, {"deviceId", m.DeviceID}, {"driver", m.Driver}, {"pciAddress", m.PCIAddress}} {
		if f.v != "" {
			parts = append(parts, f.k+"="+f.v)
		}
	}
	return "match{" + strings.Join(parts, ",") + "}"
}

// FindError says why a policy PF entry names no PF of the host.
type FindError struct {
	// Ref is how the entry names the PF.
	Ref string
	// Candidates are the PFs an ambiguous match selects (by name); empty when nothing matched.
	Candidates []string
	// ByMatch is set when the entry selects by match (none found is then the host's state, not a typo).
	ByMatch bool
	// Have lists the host's PFs, for the message.
	Have string
}

func (e *FindError) Error() string {
	switch {
	case len(e.Candidates) > 1:
		return fmt.Sprintf("%s selects %d PFs (%s); it must select one: add fields (pciAddress: glob, deviceId) to tell them apart",
			e.Ref, len(e.Candidates), strings.Join(e.Candidates, ", "))
	case e.ByMatch:
		return fmt.Sprintf("no PF on this host matches %s; PFs: %s", e.Ref, e.Have)
	}
	return "no such PF on this host; PFs: " + e.Have
}

// Ambiguous reports whether the entry selected several PFs.
func (e *FindError) Ambiguous() bool { return len(e.Candidates) > 1 }

// Find resolves the entry on the observed host st: by netdev name, by PCI address, or by match, which
// must select exactly one PF. Every plan and the merge of the stored desired state go through it.
func (p PF) Find(st *sriov.Host) (*sriov.PF, error) {
	if p.Match == nil {
		if f := st.FindPF(devref.Canonical(p.Ref())); f != nil {
			return f, nil
		}
		return nil, &FindError{Ref: p.Ref(), Have: st.PFNames()}
	}
	var hits []*sriov.PF
	for i := range st.PFs {
		if p.Match.Matches(&st.PFs[i]) {
			hits = append(hits, &st.PFs[i])
		}
	}
	if len(hits) == 1 {
		return hits[0], nil
	}
	e := &FindError{Ref: p.Ref(), ByMatch: true, Have: st.PFNames()}
	for _, h := range hits {
		e.Candidates = append(e.Candidates, h.Name+" "+h.PCIAddress)
	}
	sort.Strings(e.Candidates)
	return nil, e
}
