// Package netplan converts the SR-IOV settings of a netplan configuration file into a sriovctl policy.
//
// netplan describes SR-IOV in its ethernets: a PF carries virtual-function-count, embedded-switch-mode and
// delay-virtual-functions-rebind; each VF is an ethernet of its own whose link: names the PF's netplan id,
// with its own macaddress and mtu; a vlan with renderer: sriov whose link: is a VF is the VF's hardware
// VLAN filter (its port VLAN). Without virtual-function-count netplan creates as many VFs as it has
// definitions for. netplan does not say which VF a definition gets (it matches the VF interfaces at apply
// time), so the VF ids of the policy follow the order of the definitions, and a note says so. Several
// files are one configuration, merged per key as netplan merges them (ConvertFiles).
//
// Settings with no equivalent in a policy get a note (with the file and line): delay-virtual-functions-
// rebind, VF MTUs, PFs netplan selects by match: rather than by name. Keys that are not SR-IOV
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

// def is one ethernet definition, merged over the files that name it, in order of first appearance.
type def struct {
	id   string
	file string // where it first appears
	line int
	eth  ethernet
	keys []string
	// keyAt is where each key is set last (file:line), for notes.
	keyAt map[string]string
}

// where is where the definition starts.
func (d *def) where() string { return fmt.Sprintf("%s:%d", d.file, d.line) }

// at is where key is set, else where the definition starts.
func (d *def) at(key string) string {
	if w, ok := d.keyAt[key]; ok {
		return w
	}
	return d.where()
}

// vlanDef is one vlans: entry, merged over the files like a def.
type vlanDef struct {
	name, file string
	line       int
	vl         vlan
}

// File is one netplan file: its name and content.
type File struct {
	Name string
	Data []byte
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
	return ConvertFiles([]File{{Name: file, Data: data}})
}

// ConvertFiles is Convert for several files read as one configuration, in the order given (netplan reads
// its files in file name order): a definition named in several files takes each key from the last file
// that sets it, as netplan merges them.
func ConvertFiles(files []File) (*policy.Policy, adopt.Notes, error) {
	var notes adopt.Notes
	var defs []*def
	var vlans []*vlanDef
	byID := map[string]*def{}
	vlanByName := map[string]*vlanDef{}
	for _, f := range files {
		file := f.Name
		var root yaml.Node
		if err := yaml.Unmarshal(f.Data, &root); err != nil {
			return nil, nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		network := lookup(&root, "network")
		if network == nil {
			return nil, nil, &Error{File: file, Msg: "no network: mapping; not a netplan configuration"}
		}
		decodeErr := func(line int, what string, err error) error {
			return &Error{File: file, Line: line, Msg: what + ": " + strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		if eths := lookup(network, "ethernets"); eths != nil {
			for i := 0; i+1 < len(eths.Content); i += 2 {
				k, v := eths.Content[i], eths.Content[i+1]
				d := byID[k.Value]
				if d == nil {
					d = &def{id: k.Value, file: file, line: k.Line, keyAt: map[string]string{}}
					byID[k.Value] = d
					defs = append(defs, d)
				}
				if err := v.Decode(&d.eth); err != nil {
					return nil, nil, decodeErr(k.Line, "ethernets."+k.Value, err)
				}
				for j := 0; j+1 < len(v.Content); j += 2 {
					key := v.Content[j].Value
					if _, seen := d.keyAt[key]; !seen {
						d.keys = append(d.keys, key)
					}
					d.keyAt[key] = fmt.Sprintf("%s:%d", file, v.Content[j].Line)
				}
			}
		}
		if vl := lookup(network, "vlans"); vl != nil {
			for i := 0; i+1 < len(vl.Content); i += 2 {
				k, v := vl.Content[i], vl.Content[i+1]
				d := vlanByName[k.Value]
				if d == nil {
					d = &vlanDef{name: k.Value}
					vlanByName[k.Value] = d
					vlans = append(vlans, d)
				}
				d.file, d.line = file, k.Line
				if err := v.Decode(&d.vl); err != nil {
					return nil, nil, decodeErr(k.Line, "vlans."+k.Value, err)
				}
			}
		}
	}
	fail := func(d *def, format string, args ...any) error {
		return &Error{File: d.file, Line: d.line, Msg: fmt.Sprintf(format, args...)}
	}
	// PFs: definitions a VF links to, or that carry PF settings; in file order.
	vfsOf := map[string][]*def{}
	isPF := map[string]bool{}
	for _, d := range defs {
		if d.eth.Link != "" {
			if byID[d.eth.Link] == nil {
				return nil, nil, fail(d, "ethernets.%s: link: %q is not an ethernet of this configuration", d.id, d.eth.Link)
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
	for _, d := range vlans {
		vl, at := d.vl, fmt.Sprintf("%s:%d", d.file, d.line)
		if vl.Renderer != "sriov" {
			continue // a VLAN interface, not a VF's hardware filter
		}
		link := byID[vl.Link]
		switch {
		case vl.ID == nil:
			return nil, nil, &Error{File: d.file, Line: d.line, Msg: fmt.Sprintf("vlans.%s: renderer: sriov without id:", d.name)}
		case link == nil || link.eth.Link == "":
			notes.Add(at, "vlans.%s (renderer: sriov) links to %q, which is not a VF: left out", d.name, vl.Link)
		case *vl.ID < 0 || *vl.ID > sriov.MaxVLAN:
			notes.Add(at, "vlans.%s: id %d is outside 0-%d: left out", d.name, *vl.ID, sriov.MaxVLAN)
		default:
			if prev, dup := vlanOf[vl.Link]; dup {
				notes.Add(at, "vlans.%s: VF %s already has the hardware VLAN %d; a VF has one port VLAN: left out", d.name, vl.Link, prev)
				continue
			}
			vlanOf[vl.Link] = *vl.ID
		}
	}
	pol := &policy.Policy{PFs: []policy.PF{}}
	orderNoted := false
	for _, d := range defs {
		if !isPF[d.id] {
			continue
		}
		if d.eth.Link != "" {
			return nil, nil, fail(d, "ethernets.%s is a VF (link: %s) and has VFs of its own", d.id, d.eth.Link)
		}
		pf := policy.PF{Name: pfName(d, d.where(), &notes)}
		vfs := vfsOf[d.id]
		n := len(vfs)
		if d.eth.VFCount != nil {
			if *d.eth.VFCount < len(vfs) {
				return nil, nil, fail(d, "ethernets.%s: virtual-function-count %d is less than its %d VFs", d.id, *d.eth.VFCount, len(vfs))
			}
			n = *d.eth.VFCount
		}
		pf.NumVFs = adopt.Ptr(n)
		switch d.eth.Eswitch {
		case "":
		case "legacy", "switchdev":
			pf.EswitchMode = d.eth.Eswitch
		default:
			return nil, nil, fail(d, "ethernets.%s: embedded-switch-mode %q: netplan allows switchdev or legacy", d.id, d.eth.Eswitch)
		}
		if d.eth.DelayRebind != nil && *d.eth.DelayRebind {
			notes.Add(d.at("delay-virtual-functions-rebind"), "%s: delay-virtual-functions-rebind has no equivalent: sriovctl binds the VFs' drivers again right after an eswitch mode change", d.id)
		}
		if d.eth.MTU != nil {
			if err := sriov.ValidateMTU("mtu", *d.eth.MTU, sriov.MaxMTU); err != nil {
				return nil, nil, fail(d, "ethernets.%s: %v", d.id, err)
			}
			pf.MTU = adopt.Ptr(*d.eth.MTU)
		}
		otherKeys(d, &notes)
		want := map[int]adopt.VF{}
		for id, vf := range vfs {
			var s sriov.VFSettings
			if vf.eth.MAC != "" {
				mac, err := sriov.ParseMAC("macaddress", vf.eth.MAC)
				if err != nil || mac == sriov.ZeroMAC {
					notes.Add(vf.at("macaddress"), "%s: macaddress %q is not a unicast MAC a VF can have: left out", vf.id, vf.eth.MAC)
				} else {
					s.MAC = adopt.Ptr(mac)
					notes.Add(vf.at("macaddress"), "%s: netplan sets macaddress on the VF's interface; the policy sets it as VF %d's admin MAC through the PF, which the VF's driver takes (and, unless trusted, cannot change)", vf.id, id)
				}
			}
			if v, ok := vlanOf[vf.id]; ok {
				s.VLAN = adopt.Ptr(v)
			}
			if vf.eth.MTU != nil {
				notes.Add(vf.at("mtu"), "%s: mtu %d of the VF has no equivalent; netplan keeps setting it on the VF's interface", vf.id, *vf.eth.MTU)
			}
			if vf.eth.VFCount != nil || vf.eth.Eswitch != "" {
				notes.Add(vf.where(), "%s: a VF with PF settings (virtual-function-count, embedded-switch-mode): left out", vf.id)
			}
			otherKeys(vf, &notes)
			want[id] = adopt.VF{Settings: s}
			if !s.IsEmpty() && !orderNoted {
				orderNoted = true
				notes.Add("", "netplan does not fix which VF a definition gets (it matches the VF interfaces when it applies); the VF ids here follow the order of the definitions: check them against `sriovctl show`")
			}
		}
		pf.VFs = adopt.Groups(want)
		pol.PFs = append(pol.PFs, pf)
	}
	if len(pol.PFs) == 0 {
		return nil, nil, errors.New("no SR-IOV settings (no ethernet has virtual-function-count, embedded-switch-mode or VFs linked to it)")
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
func otherKeys(d *def, notes *adopt.Notes) {
	var other []string
	for _, k := range d.keys {
		if !slices.Contains(sriovKeys, k) {
			other = append(other, k)
		}
	}
	if len(other) > 0 {
		notes.Add(d.where(), "%s: %s: not SR-IOV settings, left to netplan", d.id, strings.Join(other, ", "))
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
