// Package netplan converts the SR-IOV settings of a netplan configuration file into a sriovctl policy.
//
// netplan describes SR-IOV in its ethernets: a PF carries virtual-function-count, embedded-switch-mode and
// delay-virtual-functions-rebind; each VF is an ethernet of its own whose link: names the PF's netplan id,
// with its own macaddress and mtu; a vlan with renderer: sriov whose link: is a VF is the VF's hardware
// VLAN filter (its port VLAN). Without virtual-function-count netplan creates as many VFs as it has
// definitions for. netplan does not say which VF a definition gets (it matches the VF interfaces at apply
// time), so the VF ids of the policy follow the order of the file, and a note says so.
//
// Settings with no equivalent in a policy get a note (with the file and line): delay-virtual-functions-
// rebind, VF MTUs, PF MTUs, PFs netplan selects by match: rather than by name. Keys that are not SR-IOV
// settings (addresses, dhcp4, routes...) stay with netplan and are listed in one note per interface.
package netplan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// ethernet is what the converter reads of one netplan ethernet definition.
type ethernet struct {
	Link        string `yaml:"link"`
	VFCount     *int   `yaml:"virtual-function-count"`
	Eswitch     string `yaml:"embedded-switch-mode"`
	DelayRebind *bool  `yaml:"delay-virtual-functions-rebind"`
	MTU         *int   `yaml:"mtu"`
	MAC         string `yaml:"macaddress"`
	SetName     string `yaml:"set-name"`
	Match       *Match `yaml:"match"`
}

// Match is an ethernet's match: (netplan selects the interface by these instead of by its id).
type Match struct {
	Name       string `yaml:"name"`
	MACAddress string `yaml:"macaddress"`
	Driver     any    `yaml:"driver"` // one glob or a list of them
}

type vlan struct {
	ID       *int   `yaml:"id"`
	Link     string `yaml:"link"`
	Renderer string `yaml:"renderer"`
}

// sriovKeys are the ethernet keys the converter understands; the others are not SR-IOV settings.
var sriovKeys = []string{"link", "virtual-function-count", "embedded-switch-mode", "delay-virtual-functions-rebind", "mtu", "macaddress", "set-name", "match"}

// def is one ethernet definition in file order.
type def struct {
	id   string
	line int
	eth  ethernet
	keys []string
	// keyLine is the line of each key, for notes.
	keyLine map[string]int
}

// at is where key is in the file, else where the definition starts.
func (d *def) at(file, key string) string {
	line, ok := d.keyLine[key]
	if !ok {
		line = d.line
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// Error is a file that is not a netplan configuration this converter can read.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Convert reads the netplan file named file (data is its content) and returns the policy of its SR-IOV
// settings, with a note for each one that has no equivalent.
func Convert(file string, data []byte) (*policy.Policy, adopt.Notes, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	fail := func(line int, format string, args ...any) error {
		return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	network := lookup(&root, "network")
	if network == nil {
		return nil, nil, fail(0, "no network: mapping; not a netplan configuration")
	}
	var notes adopt.Notes
	at := func(line int) string { return fmt.Sprintf("%s:%d", file, line) }
	var defs []def
	if eths := lookup(network, "ethernets"); eths != nil {
		for i := 0; i+1 < len(eths.Content); i += 2 {
			k, v := eths.Content[i], eths.Content[i+1]
			d := def{id: k.Value, line: k.Line, keyLine: map[string]int{}}
			if err := v.Decode(&d.eth); err != nil {
				return nil, nil, fail(k.Line, "ethernets.%s: %s", k.Value, strings.TrimPrefix(err.Error(), "yaml: "))
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				d.keys = append(d.keys, v.Content[j].Value)
				d.keyLine[v.Content[j].Value] = v.Content[j].Line
			}
			defs = append(defs, d)
		}
	}
	byID := map[string]*def{}
	for i := range defs {
		byID[defs[i].id] = &defs[i]
	}
	// PFs: definitions a VF links to, or that carry PF settings; in file order.
	vfsOf := map[string][]*def{}
	isPF := map[string]bool{}
	for i := range defs {
		d := &defs[i]
		if d.eth.Link != "" {
			if byID[d.eth.Link] == nil {
				return nil, nil, fail(d.line, "ethernets.%s: link: %q is not an ethernet of this file", d.id, d.eth.Link)
			}
			vfsOf[d.eth.Link] = append(vfsOf[d.eth.Link], d)
			isPF[d.eth.Link] = true
		}
		if d.eth.VFCount != nil || d.eth.Eswitch != "" || d.eth.DelayRebind != nil {
			isPF[d.id] = true
		}
	}
	// The VF each sriov vlan filters, by VF netplan id.
	vlanOf := map[string]int{}
	if vlans := lookup(network, "vlans"); vlans != nil {
		for i := 0; i+1 < len(vlans.Content); i += 2 {
			k, v := vlans.Content[i], vlans.Content[i+1]
			var vl vlan
			if err := v.Decode(&vl); err != nil {
				return nil, nil, fail(k.Line, "vlans.%s: %s", k.Value, strings.TrimPrefix(err.Error(), "yaml: "))
			}
			if vl.Renderer != "sriov" {
				continue // a VLAN interface, not a VF's hardware filter
			}
			link := byID[vl.Link]
			switch {
			case vl.ID == nil:
				return nil, nil, fail(k.Line, "vlans.%s: renderer: sriov without id:", k.Value)
			case link == nil || link.eth.Link == "":
				notes.Add(at(k.Line), "vlans.%s (renderer: sriov) links to %q, which is not a VF of this file: left out", k.Value, vl.Link)
			case *vl.ID < 0 || *vl.ID > sriov.MaxVLAN:
				notes.Add(at(k.Line), "vlans.%s: id %d is outside 0-%d: left out", k.Value, *vl.ID, sriov.MaxVLAN)
			default:
				if prev, dup := vlanOf[vl.Link]; dup {
					notes.Add(at(k.Line), "vlans.%s: VF %s already has the hardware VLAN %d; a VF has one port VLAN: left out", k.Value, vl.Link, prev)
					continue
				}
				vlanOf[vl.Link] = *vl.ID
			}
		}
	}
	pol := &policy.Policy{PFs: []policy.PF{}}
	orderNoted := false
	for i := range defs {
		d := &defs[i]
		if !isPF[d.id] {
			continue
		}
		if d.eth.Link != "" {
			return nil, nil, fail(d.line, "ethernets.%s is a VF (link: %s) and has VFs of its own", d.id, d.eth.Link)
		}
		pf := policy.PF{Name: pfName(d, at(d.line), &notes)}
		vfs := vfsOf[d.id]
		n := len(vfs)
		if d.eth.VFCount != nil {
			if *d.eth.VFCount < len(vfs) {
				return nil, nil, fail(d.line, "ethernets.%s: virtual-function-count %d is less than its %d VFs", d.id, *d.eth.VFCount, len(vfs))
			}
			n = *d.eth.VFCount
		}
		pf.NumVFs = adopt.Ptr(n)
		switch d.eth.Eswitch {
		case "":
		case "legacy", "switchdev":
			pf.EswitchMode = d.eth.Eswitch
		default:
			return nil, nil, fail(d.line, "ethernets.%s: embedded-switch-mode %q: netplan allows switchdev or legacy", d.id, d.eth.Eswitch)
		}
		if d.eth.DelayRebind != nil && *d.eth.DelayRebind {
			notes.Add(d.at(file, "delay-virtual-functions-rebind"), "%s: delay-virtual-functions-rebind has no equivalent: sriovctl binds the VFs' drivers again right after an eswitch mode change", d.id)
		}
		if d.eth.MTU != nil {
			notes.Add(d.at(file, "mtu"), "%s: mtu %d of the PF has no equivalent in this policy; netplan keeps setting it", d.id, *d.eth.MTU)
		}
		otherKeys(d, at(d.line), &notes)
		want := map[int]adopt.VF{}
		for id, vf := range vfs {
			var s sriov.VFSettings
			if vf.eth.MAC != "" {
				mac, err := sriov.ParseMAC("macaddress", vf.eth.MAC)
				if err != nil || mac == sriov.ZeroMAC {
					notes.Add(vf.at(file, "macaddress"), "%s: macaddress %q is not a unicast MAC a VF can have: left out", vf.id, vf.eth.MAC)
				} else {
					s.MAC = adopt.Ptr(mac)
					notes.Add(vf.at(file, "macaddress"), "%s: netplan sets macaddress on the VF's interface; the policy sets it as VF %d's admin MAC through the PF, which the VF's driver takes (and, unless trusted, cannot change)", vf.id, id)
				}
			}
			if v, ok := vlanOf[vf.id]; ok {
				s.VLAN = adopt.Ptr(v)
			}
			if vf.eth.MTU != nil {
				notes.Add(vf.at(file, "mtu"), "%s: mtu %d of the VF has no equivalent; netplan keeps setting it on the VF's interface", vf.id, *vf.eth.MTU)
			}
			if vf.eth.VFCount != nil || vf.eth.Eswitch != "" {
				notes.Add(at(vf.line), "%s: a VF with PF settings (virtual-function-count, embedded-switch-mode): left out", vf.id)
			}
			otherKeys(vf, at(vf.line), &notes)
			want[id] = adopt.VF{Settings: s}
			if !s.IsEmpty() && !orderNoted {
				orderNoted = true
				notes.Add(file, "netplan does not fix which VF a definition gets (it matches the VF interfaces when it applies); the VF ids here follow the file's order: check them against `sriovctl show`")
			}
		}
		pf.VFs = adopt.Groups(want)
		pol.PFs = append(pol.PFs, pf)
	}
	if len(pol.PFs) == 0 {
		return nil, nil, errors.New(file + ": no SR-IOV settings (no ethernet has virtual-function-count, embedded-switch-mode or VFs linked to it)")
	}
	return pol, notes, nil
}

// pfName is the interface name of a PF definition: set-name, else a match: name without wildcards, else
// the netplan id, which is then noted when it may not be the interface's name.
func pfName(d *def, where string, notes *adopt.Notes) string {
	if d.eth.SetName != "" {
		return d.eth.SetName
	}
	m := d.eth.Match
	if m == nil {
		return d.id
	}
	if m.Name != "" && !strings.ContainsAny(m.Name, "*?[") {
		return m.Name
	}
	var by []string
	if m.Name != "" {
		by = append(by, "name "+m.Name)
	}
	if m.MACAddress != "" {
		by = append(by, "macaddress "+m.MACAddress)
	}
	if m.Driver != nil {
		by = append(by, fmt.Sprintf("driver %v", m.Driver))
	}
	notes.Add(where, "%s: netplan selects this PF by match: (%s); the policy names it %q: put its interface name (or pciAddress) there", d.id, strings.Join(by, ", "), d.id)
	return d.id
}

// otherKeys notes the keys of a definition that are not SR-IOV settings: netplan keeps them.
func otherKeys(d *def, where string, notes *adopt.Notes) {
	var other []string
	for _, k := range d.keys {
		if !slices.Contains(sriovKeys, k) {
			other = append(other, k)
		}
	}
	if len(other) > 0 {
		notes.Add(where, "%s: %s: not SR-IOV settings, left to netplan", d.id, strings.Join(other, ", "))
	}
}

// lookup returns the value of key in the mapping n (or in the document's mapping).
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
