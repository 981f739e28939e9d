// Package managers finds configuration of other tools that also manage a PF's SR-IOV settings:
// NetworkManager connections with [sriov] settings, systemd-networkd/udev .link and .network files with
// SR-IOV settings, and netplan files. Each of them sets the VF count (and VF settings) again at boot or when
// it reloads, so a policy for the same PF fights with it; plan and apply warn.
//
// The detection is pure functions over file contents (NetworkManager, Networkd, Netplan); Scan is the
// small reader that finds the files under a root directory ("/" on a host), so tests use temporary dirs.
package managers

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/adopt/netplan"
	"github.com/sriovctl/sriovctl/internal/adopt/networkd"
)

// PF is what identifies a PF to the other tools.
type PF struct {
	Name       string
	PCIAddress string
	MAC        string
	Driver     string
}

// Tool names.
const (
	NetworkManager = "NetworkManager"
	Networkd       = "systemd-networkd"
	Netplan        = "netplan"
)

// Finding is one file of another tool that manages a PF's SR-IOV settings.
type Finding struct {
	Tool string `json:"tool"`
	File string `json:"file"`
	PF   string `json:"pf"`
	// What names the settings (e.g. "total-vfs=4, vf.0").
	What string `json:"what"`
}

// when says when each tool applies its settings.
var when = map[string]string{
	NetworkManager: "when it activates the connection (at boot, `nmcli connection up`)",
	Networkd:       "at boot and when udev or networkd reload",
	Netplan:        "at boot and on `netplan apply`",
}

func (f Finding) String() string {
	return fmt.Sprintf("%s also manages %s's SR-IOV settings (%s: %s) and sets them again %s: remove them there, or leave %s out of this policy",
		f.Tool, f.PF, f.File, f.What, when[f.Tool], f.PF)
}

// NetworkManagerFile reports the PFs that a NetworkManager keyfile connection sets SR-IOV settings of:
// it has an [sriov] section and names the PF by interface-name or [ethernet] mac-address, or names no
// interface at all (then it may activate on any of them).
func NetworkManagerFile(file string, data []byte, pfs []PF) []Finding {
	secs := networkd.Parse(data)
	get := func(sec, key string) string {
		for _, s := range secs {
			if s.Name == sec {
				if e, ok := s.Get(key); ok {
					return e.Value
				}
			}
		}
		return ""
	}
	var keys []string
	for _, s := range secs {
		if s.Name == "sriov" {
			for _, e := range s.Entries {
				keys = append(keys, e.Key+"="+e.Value)
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ifname, mac := get("connection", "interface-name"), get("ethernet", "mac-address")
	var out []Finding
	for _, p := range pfs {
		if (ifname == "" || ifname == p.Name) && (mac == "" || strings.EqualFold(mac, p.MAC)) {
			out = append(out, Finding{Tool: NetworkManager, File: file, PF: p.Name, What: "[sriov] " + shorten(keys)})
		}
	}
	return out
}

// NetworkdFile reports the PFs whose SR-IOV settings a .link or .network file sets: it has [Link]
// SR-IOVVirtualFunctions= or [SR-IOV] sections, and its [Match] matches the PF by name, MAC, PCI path
// or driver (keys it does not know are taken as matching: the warning errs on the side of speaking).
func NetworkdFile(file string, data []byte, pfs []PF) []Finding {
	secs := networkd.Parse(data)
	var what []string
	match := map[string][]string{}
	for _, s := range secs {
		switch s.Name {
		case "Link":
			if e, ok := s.Get("SR-IOVVirtualFunctions"); ok && strings.HasSuffix(file, ".link") {
				what = append(what, "SR-IOVVirtualFunctions="+e.Value)
			}
		case "SR-IOV":
			if e, ok := s.Get("VirtualFunction"); ok {
				what = append(what, "[SR-IOV] VirtualFunction="+e.Value)
			}
		case "Match":
			for _, e := range s.Entries {
				if e.Value == "" {
					delete(match, e.Key)
					continue
				}
				match[e.Key] = append(match[e.Key], strings.Fields(e.Value)...)
			}
		}
	}
	if len(what) == 0 {
		return nil
	}
	var out []Finding
	for _, p := range pfs {
		values := map[string]string{"Name": p.Name, "OriginalName": p.Name, "MACAddress": strings.ToLower(p.MAC),
			"PermanentMACAddress": strings.ToLower(p.MAC), "Path": "pci-" + p.PCIAddress, "Driver": p.Driver}
		ok := true
		for key, pats := range match {
			v, known := values[key]
			if known && !globAny(pats, v, key == "MACAddress" || key == "PermanentMACAddress") {
				ok = false
			}
		}
		if ok {
			out = append(out, Finding{Tool: Networkd, File: file, PF: p.Name, What: shorten(what)})
		}
	}
	return out
}

// globAny is systemd's list match: any pattern matches (fnmatch), a leading "!" inverts the list.
func globAny(pats []string, v string, fold bool) bool {
	invert := false
	if len(pats) > 0 && strings.HasPrefix(pats[0], "!") {
		invert = true
		pats = append([]string{strings.TrimPrefix(pats[0], "!")}, pats[1:]...)
	}
	hit := false
	for _, p := range pats {
		if fold {
			p, v = strings.ToLower(p), strings.ToLower(v)
		}
		if ok, _ := path.Match(p, v); ok || p == v {
			hit = true
			break
		}
	}
	return hit != invert
}

// netplanEth is what the detection reads of a netplan ethernet.
type netplanEth struct {
	Link        string         `yaml:"link"`
	VFCount     any            `yaml:"virtual-function-count"`
	Eswitch     any            `yaml:"embedded-switch-mode"`
	DelayRebind any            `yaml:"delay-virtual-functions-rebind"`
	SetName     string         `yaml:"set-name"`
	Match       *netplan.Match `yaml:"match"`
}

// NetplanFile reports the PFs a netplan file sets SR-IOV settings of: an ethernet with
// virtual-function-count, embedded-switch-mode or delay-virtual-functions-rebind, or that VFs link to,
// matched to the PF by its id, set-name or match: (name glob, macaddress, driver).
func NetplanFile(file string, data []byte, pfs []PF) []Finding {
	var doc struct {
		Network struct {
			Ethernets map[string]netplanEth `yaml:"ethernets"`
		} `yaml:"network"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return nil // netplan itself refuses the file and applies nothing of it
	}
	eths := doc.Network.Ethernets
	what := map[string][]string{}
	for id, e := range eths {
		if e.VFCount != nil {
			what[id] = append(what[id], fmt.Sprintf("virtual-function-count: %v", e.VFCount))
		}
		if e.Eswitch != nil {
			what[id] = append(what[id], fmt.Sprintf("embedded-switch-mode: %v", e.Eswitch))
		}
		if e.DelayRebind != nil {
			what[id] = append(what[id], "delay-virtual-functions-rebind")
		}
		if e.Link != "" {
			what[e.Link] = append(what[e.Link], "VF "+id)
		}
	}
	ids := make([]string, 0, len(what))
	for id := range what {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Finding
	for _, id := range ids {
		e := eths[id]
		for _, p := range pfs {
			if netplanMatches(id, e, p) {
				sort.Strings(what[id])
				out = append(out, Finding{Tool: Netplan, File: file, PF: p.Name, What: "ethernets." + id + ": " + shorten(what[id])})
			}
		}
	}
	return out
}

func netplanMatches(id string, e netplanEth, p PF) bool {
	m := e.Match
	if m == nil {
		return id == p.Name || (e.SetName != "" && e.SetName == p.Name)
	}
	if e.SetName != "" && e.SetName == p.Name {
		return true
	}
	if m.Name != "" && !globAny([]string{m.Name}, p.Name, false) {
		return false
	}
	if m.MACAddress != "" && !strings.EqualFold(m.MACAddress, p.MAC) {
		return false
	}
	switch d := m.Driver.(type) {
	case string:
		if !globAny([]string{d}, p.Driver, false) {
			return false
		}
	case []any:
		var pats []string
		for _, x := range d {
			pats = append(pats, fmt.Sprint(x))
		}
		if !globAny(pats, p.Driver, false) {
			return false
		}
	}
	return m.Name != "" || m.MACAddress != "" || m.Driver != nil
}

// shorten lists at most four items.
func shorten(items []string) string {
	if len(items) > 4 {
		return strings.Join(items[:4], ", ") + fmt.Sprintf(" and %d more", len(items)-4)
	}
	return strings.Join(items, ", ")
}

// The places each tool reads, under the root.
var places = []struct {
	tool, glob string
	detect     func(string, []byte, []PF) []Finding
}{
	{NetworkManager, "etc/NetworkManager/system-connections/*.nmconnection", NetworkManagerFile},
	{NetworkManager, "run/NetworkManager/system-connections/*.nmconnection", NetworkManagerFile},
	{Networkd, "etc/systemd/network/*.link", NetworkdFile},
	{Networkd, "etc/systemd/network/*.network", NetworkdFile},
	{Networkd, "run/systemd/network/*.link", NetworkdFile},
	{Networkd, "run/systemd/network/*.network", NetworkdFile},
	{Networkd, "usr/lib/systemd/network/*.link", NetworkdFile},
	{Networkd, "usr/lib/systemd/network/*.network", NetworkdFile},
	{Netplan, "etc/netplan/*.yaml", NetplanFile},
	{Netplan, "run/netplan/*.yaml", NetplanFile},
	{Netplan, "lib/netplan/*.yaml", NetplanFile},
}

// maxFile bounds what Scan reads of one file; configuration files are a few KiB.
const maxFile = 1 << 20

// Scan reads the other tools' configuration under root ("/" on a host) and returns what manages pfs.
// Files it may not read (NetworkManager keeps its connections 0600 root) are listed in unreadable; the
// caller says that they were not checked.
func Scan(root string, pfs []PF) (found []Finding, unreadable []string) {
	if len(pfs) == 0 {
		return nil, nil
	}
	for _, pl := range places {
		paths, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(pl.glob)))
		for _, p := range paths {
			data, err := readSmall(p)
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					unreadable = append(unreadable, p)
				}
				continue // gone, a directory, a mask (a link to /dev/null): nothing to apply
			}
			found = append(found, pl.detect(p, data, pfs)...)
		}
	}
	return found, unreadable
}

func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxFile {
		return nil, fs.ErrInvalid
	}
	return io.ReadAll(io.LimitReader(f, maxFile))
}
