// Package networkd converts the SR-IOV settings of systemd-networkd and udev configuration (.link and
// .network files) into a sriovctl policy.
//
// A .link file's [Link] SR-IOVVirtualFunctions= sets a PF's VF count (unset, udev creates VFs up to the
// highest VirtualFunction= of its [SR-IOV] sections, which becomes the count with a note); [SR-IOV] sections, in .link and in
// .network files, set one VF each (VirtualFunction=) with VLANId=, QualityOfService=, VLANProtocol=,
// MACSpoofCheck=, QueryReceiveSideScaling=, Trust=, LinkState= and MACAddress=. The PF is the one the
// file's [Match] names: Path=pci-DDDD:BB:DD.F becomes its pciAddress, OriginalName= or Name= (one name,
// no wildcards) its name; a file that matches otherwise (MACAddress=, Driver=, globs) cannot be tied to a
// PF and is left out with a note. As udev and networkd do, only the first .link and the first .network
// file (in file name order) that match a PF count; a .network file's settings come after the .link
// file's and win where both set a VF field.
//
// Settings with no equivalent get a note with the file and line: an MTUBytes= with a size suffix, unknown [SR-IOV]
// keys, values outside what the policy allows (VLAN 4095, QoS above 7).
package networkd

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// File is one configuration file: its name (for notes and its kind, by extension) and content.
type File struct {
	Name string
	Data []byte
}

// Entry is one Key=Value line.
type Entry struct {
	Key, Value string
	Line       int
}

// Section is one [Name] section with its entries in file order.
type Section struct {
	Name    string
	Line    int
	Entries []Entry
}

// Parse reads a systemd unit-style file: [Section] headers, Key=Value lines, comments starting with #
// or ;, and lines continued with a trailing backslash.
func Parse(data []byte) []Section {
	var out []Section
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n, cont, contLine := 0, "", 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		} else {
			contLine = n
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
		}
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			out = append(out, Section{Name: line[1 : len(line)-1], Line: contLine})
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(out) == 0 {
			continue
		}
		s := &out[len(out)-1]
		s.Entries = append(s.Entries, Entry{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), Line: contLine})
	}
	return out
}

// Get returns the last value of key in s (systemd: a later assignment wins), or "" and false.
func (s Section) Get(key string) (Entry, bool) {
	var e Entry
	found := false
	for _, x := range s.Entries {
		if x.Key == key {
			e, found = x, true
		}
	}
	return e, found
}

// Match is what a file's [Match] section says: the values of each key (a key given twice adds to its list;
// an empty assignment clears it).
type Match map[string][]string

func matchOf(secs []Section) Match {
	m := Match{}
	for _, s := range secs {
		if s.Name != "Match" {
			continue
		}
		for _, e := range s.Entries {
			if e.Value == "" {
				delete(m, e.Key)
				continue
			}
			m[e.Key] = append(m[e.Key], strings.Fields(e.Value)...)
		}
	}
	return m
}

var pciPath = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^pci-([0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7])$`)
})

// PF says which PF a [Match] names: its PCI address (from Path=) or its name (OriginalName=, Name=), or
// "" and why not.
func (m Match) PF() (ref string, isPCI bool, why string) {
	single := func(key string) (string, bool) {
		v := m[key]
		if len(v) == 1 && !strings.ContainsAny(v[0], "*?[!") {
			return v[0], true
		}
		return "", false
	}
	if p, ok := single("Path"); ok {
		if sm := pciPath().FindStringSubmatch(p); sm != nil {
			return sm[1], true, ""
		}
	}
	for _, k := range []string{"OriginalName", "Name"} {
		if n, ok := single(k); ok {
			return n, false, ""
		}
	}
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, k+"="+strings.Join(v, " "))
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "", false, "[Match] is empty (it matches every interface)"
	}
	return "", false, "[Match] " + strings.Join(keys, ", ") + " does not name one PF (give Path=pci-…, OriginalName= or Name= with one name)"
}

// pfConf is what the files say about one PF.
type pfConf struct {
	ref               string
	isPCI             bool
	numVFs            *int
	mtu               *int // MTUBytes=; a .network file's wins over a .link file's, as networkd sets it last
	mtuFromNetwork    bool
	vfs               map[int]adopt.VF
	src               map[int]map[string]string // VF -> field -> file:line, for conflict notes
	linkFile, netFile string
	order             int
}

// Convert reads .link and .network files (others are ignored), in name order as udev and networkd do,
// and returns the policy of their SR-IOV settings with a note for each one that has no equivalent.
func Convert(files []File) (*policy.Policy, adopt.Notes, error) {
	files = append([]File(nil), files...)
	sort.SliceStable(files, func(i, j int) bool { return base(files[i].Name) < base(files[j].Name) })
	// udev applies .link files before networkd applies .network files.
	var ordered []File
	for _, ext := range []string{".link", ".network"} {
		for _, f := range files {
			if strings.HasSuffix(f.Name, ext) {
				ordered = append(ordered, f)
			}
		}
	}
	var notes adopt.Notes
	pfs := map[string]*pfConf{}
	for _, f := range ordered {
		isLink := strings.HasSuffix(f.Name, ".link")
		secs := Parse(f.Data)
		var vfSecs []Section
		var count *Entry
		var mtu *Entry
		for _, s := range secs {
			switch s.Name {
			case "SR-IOV":
				vfSecs = append(vfSecs, s)
			case "Link":
				if e, ok := s.Get("SR-IOVVirtualFunctions"); ok && isLink {
					count = &e
				}
				if e, ok := s.Get("MTUBytes"); ok {
					mtu = &e
				}
				if e, ok := s.Get("SRIOVVirtualFunctions"); ok {
					notes.Add(fmt.Sprintf("%s:%d", f.Name, e.Line), "SRIOVVirtualFunctions= is not a systemd key (systemd ignores it; the key is SR-IOVVirtualFunctions=): left out")
				}
			}
		}
		if len(vfSecs) == 0 && count == nil {
			continue // no SR-IOV settings
		}
		at := func(line int) string { return fmt.Sprintf("%s:%d", f.Name, line) }
		ref, isPCI, why := matchOf(secs).PF()
		if ref == "" {
			notes.Add(f.Name, "SR-IOV settings left out: %s", why)
			continue
		}
		pc := pfs[ref]
		if pc == nil {
			pc = &pfConf{ref: ref, isPCI: isPCI, vfs: map[int]adopt.VF{}, src: map[int]map[string]string{}, order: len(pfs)}
			pfs[ref] = pc
		}
		first := &pc.netFile
		kind := ".network"
		if isLink {
			first, kind = &pc.linkFile, ".link"
		}
		if *first != "" {
			notes.Add(f.Name, "left out: %s already matches %s, and only the first matching %s file applies", *first, ref, kind)
			continue
		}
		*first = f.Name
		if count != nil {
			n, err := strconv.Atoi(count.Value)
			if err != nil || n < 0 || n > 65535 {
				notes.Add(at(count.Line), "SR-IOVVirtualFunctions=%s is not a VF count (0-65535): left out", count.Value)
			} else {
				pc.numVFs = adopt.Ptr(n)
			}
		} else if isLink && len(vfSecs) > 0 {
			// udev without SR-IOVVirtualFunctions=: it creates VFs up to the highest VirtualFunction=, and
			// keeps more if the PF has more. A policy says an exact count.
			hi := -1
			for _, s := range vfSecs {
				if e, ok := s.Get("VirtualFunction"); ok {
					if id, err := strconv.Atoi(e.Value); err == nil && id >= 0 && id <= policy.MaxVFID {
						hi = max(hi, id)
					}
				}
			}
			if hi >= 0 {
				pc.numVFs = adopt.Ptr(hi + 1)
				notes.Add(f.Name, "no SR-IOVVirtualFunctions=: udev makes sure %s has at least %d VFs (the highest VirtualFunction= plus one) and keeps more if it has more; the policy says numVfs %d exactly", ref, hi+1, hi+1)
			}
		}
		if mtu != nil {
			// Plain bytes only: systemd also takes K/M/G suffixes (base 1024), rare for an MTU.
			n, err := strconv.Atoi(mtu.Value)
			switch {
			case err != nil || sriov.ValidateMTU("mtu", n, sriov.MaxMTU) != nil:
				notes.Add(at(mtu.Line), "MTUBytes=%s of %s is not an MTU in plain bytes (%d-%d): left out", mtu.Value, ref, sriov.MinMTU, sriov.MaxMTU)
			case isLink && pc.mtuFromNetwork:
				notes.Add(at(mtu.Line), "MTUBytes=%s of %s: left out, the .network file's MTUBytes= is set after it", mtu.Value, ref)
			default:
				if !isLink && pc.mtu != nil && *pc.mtu != n {
					notes.Add(at(mtu.Line), "MTUBytes=%d of %s replaces the .link file's %d: networkd sets it after udev", n, ref, *pc.mtu)
				}
				pc.mtu, pc.mtuFromNetwork = adopt.Ptr(n), !isLink
			}
		}
		for _, s := range vfSecs {
			vfSection(pc, f.Name, s, &notes)
		}
	}
	order := make([]*pfConf, 0, len(pfs))
	for _, pc := range pfs {
		order = append(order, pc)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].order < order[j].order })
	pol := &policy.Policy{PFs: []policy.PF{}}
	for _, pc := range order {
		pf := policy.PF{Name: pc.ref, NumVFs: pc.numVFs, MTU: pc.mtu}
		if pc.isPCI {
			pf = policy.PF{PCIAddress: pc.ref, NumVFs: pc.numVFs, MTU: pc.mtu}
		}
		for id := range pc.vfs {
			if pc.numVFs != nil && id >= *pc.numVFs {
				notes.Add(pc.src[id]["VirtualFunction"], "VF %d of %s does not exist with SR-IOVVirtualFunctions=%d: left out", id, pc.ref, *pc.numVFs)
				delete(pc.vfs, id)
			}
		}
		pf.VFs = adopt.Groups(pc.vfs)
		pol.PFs = append(pol.PFs, pf)
	}
	byName, byPCI := false, false
	for _, pf := range pol.PFs {
		byName, byPCI = byName || pf.Name != "", byPCI || pf.PCIAddress != ""
	}
	if byName && byPCI {
		notes.Add("", "some files match PFs by name and others by PCI path: if two entries are the same PF, merge them (a policy names each PF once)")
	}
	if len(pol.PFs) == 0 && len(notes) == 0 {
		return nil, nil, fmt.Errorf("no SR-IOV settings: no .link or .network file has [Link] SR-IOVVirtualFunctions= or an [SR-IOV] section")
	}
	return pol, notes, nil
}

// vfSection reads one [SR-IOV] section into the PF's VF settings.
func vfSection(pc *pfConf, file string, s Section, notes *adopt.Notes) {
	at := func(line int) string { return fmt.Sprintf("%s:%d", file, line) }
	e, ok := s.Get("VirtualFunction")
	id, err := strconv.Atoi(e.Value)
	if !ok || err != nil || id < 0 || id > policy.MaxVFID {
		notes.Add(at(s.Line), "[SR-IOV] without a valid VirtualFunction= (0-%d): left out, as networkd does", policy.MaxVFID)
		return
	}
	v := pc.vfs[id]
	src := pc.src[id]
	if src == nil {
		src = map[string]string{"VirtualFunction": at(e.Line)}
		pc.src[id] = src
	}
	set := func(e Entry, field string, apply func()) {
		if prev, dup := src[field]; dup && !strings.HasPrefix(prev, file+":") {
			notes.Add(at(e.Line), "%s=%s for VF %d of %s overrides %s (networkd applies .network settings after udev's .link ones)", e.Key, e.Value, id, pc.ref, prev)
		}
		src[field] = at(e.Line)
		apply()
	}
	if _, ok := s.Get("VLANId"); ok {
		// networkd writes VLANId= with this section's QualityOfService= and VLANProtocol=, 0 and 802.1Q
		// when not given: an earlier file's values for them do not survive.
		v.Settings.QoS, v.Settings.VLANProto = nil, nil
	}
	var qos *Entry
	for _, e := range s.Entries {
		bad := func(allowed string) { notes.Add(at(e.Line), "%s=%s: %s: left out", e.Key, e.Value, allowed) }
		switch e.Key {
		case "VirtualFunction":
		case "VLANId":
			n, err := strconv.Atoi(e.Value)
			if err != nil || n < 1 || n > sriov.MaxVLAN {
				bad(fmt.Sprintf("the policy allows VLANs 1-%d", sriov.MaxVLAN))
				continue
			}
			set(e, "vlan", func() { v.Settings.VLAN = adopt.Ptr(n) })
		case "QualityOfService":
			qos = &Entry{Key: e.Key, Value: e.Value, Line: e.Line}
		case "VLANProtocol":
			p, err := sriov.ParseVLANProto("VLANProtocol", e.Value)
			if err != nil {
				bad("allowed 802.1Q or 802.1ad")
				continue
			}
			set(e, "vlanProto", func() { v.Settings.VLANProto = &p })
		case "MACSpoofCheck", "QueryReceiveSideScaling", "Trust":
			b, ok := parseBool(e.Value)
			if !ok {
				bad("want a boolean")
				continue
			}
			set(e, e.Key, func() {
				switch e.Key {
				case "MACSpoofCheck":
					v.Settings.SpoofCheck = &b
				case "QueryReceiveSideScaling":
					v.Settings.QueryRSS = &b
				default:
					v.Settings.Trust = &b
				}
			})
		case "LinkState":
			st := sriov.LinkStateAuto
			if e.Value != "auto" {
				b, ok := parseBool(e.Value)
				if !ok {
					bad("want auto or a boolean")
					continue
				}
				st = sriov.LinkStateDisable
				if b {
					st = sriov.LinkStateEnable
				}
			}
			set(e, "linkState", func() { v.Settings.LinkState = &st })
		case "MACAddress":
			mac, err := sriov.ParseMAC("MACAddress", e.Value)
			if err != nil {
				bad("want a unicast MAC")
				continue
			}
			set(e, "mac", func() { v.Settings.MAC = &mac })
		default:
			notes.Add(at(e.Line), "[SR-IOV] %s=%s has no equivalent: left out", e.Key, e.Value)
		}
	}
	if qos != nil {
		n, err := strconv.Atoi(qos.Value)
		switch {
		case err != nil || n < 0 || n > sriov.MaxQoS:
			notes.Add(at(qos.Line), "%s=%s: the policy allows QoS 0-%d: left out", qos.Key, qos.Value, sriov.MaxQoS)
		case v.Settings.VLAN == nil:
			notes.Add(at(qos.Line), "%s=%s without VLANId= in the same section: a QoS priority needs a VLAN: left out", qos.Key, qos.Value)
		default:
			set(*qos, "qos", func() { v.Settings.QoS = adopt.Ptr(n) })
		}
	}
	pc.vfs[id] = v
}

// parseBool reads a systemd boolean.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

func base(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
