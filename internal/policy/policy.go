// Package policy reads the declarative policy file: the desired VF counts and VF settings per PF, the
// mirror groups and the VF pools. Parsing is strict (unknown keys and wrong types are errors) and every
// error names the file, the line and the field. It does no I/O besides reading the bytes it is given.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Policy is a whole policy file.
type Policy struct {
	PFs     []PF     `yaml:"pfs" json:"pfs"`
	Mirrors []Mirror `yaml:"mirrors,omitempty" json:"mirrors,omitempty"`
	Pools   []Pool   `yaml:"pools,omitempty" json:"pools,omitempty"`
}

// PF is the desired state of one PF, named by exactly one of Name, PCIAddress and Match. PFs the policy
// does not name are not touched.
type PF struct {
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	PCIAddress string `yaml:"pciAddress,omitempty" json:"pciAddress,omitempty"`
	// Match selects the PF by what it is rather than by name: one policy for hosts whose interface names
	// differ. It must select exactly one PF of the host (see Find).
	Match  *Match `yaml:"match,omitempty" json:"match,omitempty"`
	NumVFs *int   `yaml:"numVfs,omitempty" json:"numVfs,omitempty"`
	// MTU is the PF netdev's MTU; nil leaves it as it is. It is set before the PF's VFs are created.
	MTU *int `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	// EswitchMode is the desired eswitch mode (legacy or switchdev); "" leaves it as it is.
	EswitchMode string    `yaml:"eswitchMode,omitempty" json:"eswitchMode,omitempty"`
	VFs         []VFGroup `yaml:"vfs,omitempty" json:"vfs,omitempty"`
	Line        int       `yaml:"-" json:"-"`
}

// Ref returns how the PF is named: its netdev name, else its PCI address, else its match
// ("match{driver=igb}").
func (p PF) Ref() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.PCIAddress != "":
		return p.PCIAddress
	case p.Match != nil:
		return p.Match.String()
	}
	return ""
}

// VFGroup is the settings for a set of VFs. Attributes it does not name are left as they are.
type VFGroup struct {
	IDs           string           `yaml:"ids" json:"ids"`
	MAC           *string          `yaml:"mac,omitempty" json:"mac,omitempty"`
	VLAN          *int             `yaml:"vlan,omitempty" json:"vlan,omitempty"`
	QoS           *int             `yaml:"qos,omitempty" json:"qos,omitempty"`
	VLANProto     *sriov.VLANProto `yaml:"vlanProto,omitempty" json:"vlanProto,omitempty"`
	SpoofCheck    *bool            `yaml:"spoofchk,omitempty" json:"spoofchk,omitempty"`
	Trust         *bool            `yaml:"trust,omitempty" json:"trust,omitempty"`
	LinkState     *sriov.LinkState `yaml:"linkState,omitempty" json:"linkState,omitempty"`
	MinTxRateMbps *int             `yaml:"minTxRateMbps,omitempty" json:"minTxRateMbps,omitempty"`
	MaxTxRateMbps *int             `yaml:"maxTxRateMbps,omitempty" json:"maxTxRateMbps,omitempty"`
	QueryRSS      *bool            `yaml:"queryRss,omitempty" json:"queryRss,omitempty"`
	// Driver is the driver the VFs should be bound to (vfio-pci, or the VF's default netdev driver).
	Driver *string `yaml:"driver,omitempty" json:"driver,omitempty"`
	// Parsed ids, filled by Parse.
	VFIDs []int `yaml:"-" json:"-"`
	Line  int   `yaml:"-" json:"-"`
}

// Settings returns the group's VF attribute settings.
func (g VFGroup) Settings() sriov.VFSettings {
	return sriov.VFSettings{
		MAC: g.MAC, VLAN: g.VLAN, QoS: g.QoS, VLANProto: g.VLANProto, SpoofCheck: g.SpoofCheck, Trust: g.Trust,
		LinkState: g.LinkState, MinTxRateMbps: g.MinTxRateMbps, MaxTxRateMbps: g.MaxTxRateMbps, QueryRSS: g.QueryRSS,
	}
}

// Mirror strategies.
const (
	StrategyAuto        = "auto"
	StrategySameMAC     = "same-mac"
	StrategySwitchdevTC = "switchdev-tc"
)

// Mirror is a mirror group: the same flows delivered to several VFs of one PF.
type Mirror struct {
	Name     string `yaml:"name" json:"name"`
	PF       string `yaml:"pf" json:"pf"`
	VFs      string `yaml:"vfs" json:"vfs"`
	MAC      string `yaml:"mac,omitempty" json:"mac,omitempty"`
	Strategy string `yaml:"strategy,omitempty" json:"strategy,omitempty"`
	VFIDs    []int  `yaml:"-" json:"-"`
	Line     int    `yaml:"-" json:"-"`
}

// Pool is a set of VFs of one PF handed out to VMs.
type Pool struct {
	Name   string `yaml:"name" json:"name"`
	PF     string `yaml:"pf" json:"pf"`
	IDs    string `yaml:"ids" json:"ids"`
	Driver string `yaml:"driver,omitempty" json:"driver,omitempty"`
	VFIDs  []int  `yaml:"-" json:"-"`
	Line   int    `yaml:"-" json:"-"`
}

// Error is a policy error at a place in the file.
type Error struct {
	File  string
	Line  int    // 0 when unknown
	Field string // path such as pfs[0].vfs[1].vlan
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// MaxFileSize bounds a policy file; real ones are a few KiB.
const MaxFileSize = 4 << 20

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`) })

// Parse reads a policy strictly and validates it. file names the source in errors.
func Parse(file string, data []byte) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("file is %d bytes; at most %d (%s) allowed", len(data), MaxFileSize, sizeText(MaxFileSize))}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: emptyPolicy}
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; a policy is one document"}
	}
	if isEmptyDocument(&root) {
		return nil, &Error{File: file, Line: root.Line, Msg: emptyPolicy}
	}
	sc := &shapeChecker{file: file, done: map[shapeKey]bool{}}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if err := sc.check(doc, reflect.TypeFor[Policy](), ""); err != nil {
		return nil, err
	}
	var p Policy
	if err := root.Decode(&p); err != nil {
		return nil, yamlError(file, err)
	}
	lines := &lineIndex{root: &root}
	if err := p.validate(file, lines); err != nil {
		return nil, err
	}
	return &p, nil
}

// emptyPolicy refuses a policy with nothing in it: stored as the desired state it would say nothing.
const emptyPolicy = "empty policy: want at least a `pfs:` list (`pfs: []` says explicitly that no PF is managed)"

func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		msg := humanize(m[2])
		if strings.Contains(msg, "found character that cannot start any token") {
			msg += " (a tab? YAML indents with spaces only)"
		}
		return &Error{File: file, Line: n, Msg: msg}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// humanize rewrites yaml.v3's Go-flavoured messages for users.
func humanize(msg string) string {
	r := strings.NewReplacer("into policy.Policy", "into a policy (a mapping with pfs:, mirrors:, pools:)", "in type policy.", "in ", "into *int", "into a whole number", "into int", "into a whole number",
		"into *bool", "into true/false", "into bool", "into true/false", "!!str", "string", "!!int", "number",
		"!!bool", "boolean", "!!map", "mapping", "!!seq", "list", "!!float", "decimal")
	return r.Replace(msg)
}

// lineIndex finds the line of a path in the parsed YAML tree.
type lineIndex struct{ root *yaml.Node }

// line returns the line of the node at path (map keys and list indexes), or of the deepest found part.
func (li *lineIndex) line(path ...any) int {
	n := li.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return best
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					best = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return best
			}
		case int:
			if n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return best
			}
			n = n.Content[s]
			best = n.Line
		}
	}
	return best
}

func (p *Policy) validate(file string, li *lineIndex) error {
	fail := func(line int, field, format string, args ...any) error {
		return &Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	fromField := func(line int, prefix string, err error) error {
		var fe *sriov.FieldError
		if errors.As(err, &fe) {
			return fail(line, prefix+fe.Field, "invalid value %q: %s", fe.Value, fe.Allowed)
		}
		return fail(line, prefix, "%v", err)
	}
	seenPF := map[string]int{}
	for i := range p.PFs {
		pf := &p.PFs[i]
		pf.Line = li.line("pfs", i)
		at := fmt.Sprintf("pfs[%d]", i)
		given := 0
		for _, set := range []bool{pf.Name != "", pf.PCIAddress != "", pf.Match != nil} {
			if set {
				given++
			}
		}
		switch {
		case given == 0:
			return fail(pf.Line, at, "give name (netdev, e.g. ens2f0), pciAddress (e.g. \"0000:3b:00.0\") or match (e.g. {driver: ice})")
		case given > 1:
			return fail(pf.Line, at, "give one of name, pciAddress and match, not several")
		}
		if pf.PCIAddress != "" && !(sriov.IsPCIAddress(pf.PCIAddress) && pf.PCIAddress == strings.ToLower(pf.PCIAddress)) {
			return fail(li.line("pfs", i, "pciAddress"), at+".pciAddress", "invalid value %q: want DDDD:BB:DD.F, e.g. \"0000:3b:00.0\"", pf.PCIAddress)
		}
		if pf.Match != nil {
			if err := pf.Match.validate(); err != nil {
				return fromField(li.line("pfs", i, "match", strings.TrimPrefix(err.Field, "match.")), at+".", err)
			}
		}
		if pf.MTU != nil {
			if err := sriov.ValidateMTU("mtu", *pf.MTU, sriov.MaxMTU); err != nil {
				return fromField(li.line("pfs", i, "mtu"), at+".", err)
			}
		}
		if prev, dup := seenPF[pf.Ref()]; dup {
			return fail(pf.Line, at, "PF %q already appears in pfs[%d]", pf.Ref(), prev)
		}
		seenPF[pf.Ref()] = i
		if pf.NumVFs != nil && (*pf.NumVFs < 0 || *pf.NumVFs > 65535) {
			return fail(li.line("pfs", i, "numVfs"), at+".numVfs", "invalid value %d: allowed 0 to the PF's sriov_totalvfs", *pf.NumVFs)
		}
		owner := map[int]int{}
		for j := range pf.VFs {
			g := &pf.VFs[j]
			g.Line = li.line("pfs", i, "vfs", j)
			gat := fmt.Sprintf("%s.vfs[%d].", at, j)
			ids, err := ParseIDs(g.IDs)
			if err != nil {
				return fail(li.line("pfs", i, "vfs", j, "ids"), gat+"ids", "%v", err)
			}
			g.VFIDs = ids
			for _, id := range ids {
				if pf.NumVFs != nil && id >= *pf.NumVFs {
					return fail(li.line("pfs", i, "vfs", j, "ids"), gat+"ids", "VF %d does not exist with numVfs %d (allowed 0-%d)", id, *pf.NumVFs, *pf.NumVFs-1)
				}
				if prev, dup := owner[id]; dup {
					return fail(li.line("pfs", i, "vfs", j, "ids"), gat+"ids", "VF %d already appears in %s.vfs[%d]; a VF may appear in one entry only", id, at, prev)
				}
				owner[id] = j
			}
			if g.MAC != nil && len(ids) != 1 {
				return fail(li.line("pfs", i, "vfs", j, "mac"), gat+"mac", "a MAC is for a single VF; ids %q names %d VFs", g.IDs, len(ids))
			}
			s := g.Settings()
			if err := s.Validate(); err != nil {
				var fe *sriov.FieldError
				line := g.Line
				if errors.As(err, &fe) {
					line = li.line("pfs", i, "vfs", j, fe.Field)
				}
				return fromField(line, gat, err)
			}
			if g.QoS != nil && *g.QoS != 0 && (g.VLAN == nil || *g.VLAN == 0) {
				return fail(li.line("pfs", i, "vfs", j, "qos"), gat+"qos", "a QoS priority needs a VLAN in the same entry (vlan 1-4094)")
			}
			if g.MinTxRateMbps != nil && g.MaxTxRateMbps != nil {
				if err := sriov.ValidateRates("minTxRateMbps", *g.MinTxRateMbps, "maxTxRateMbps", *g.MaxTxRateMbps); err != nil {
					return fromField(li.line("pfs", i, "vfs", j, "minTxRateMbps"), gat, err)
				}
			}
			if g.Driver != nil && (*g.Driver == "" || strings.ContainsAny(*g.Driver, "/ \t\n")) {
				return fail(li.line("pfs", i, "vfs", j, "driver"), gat+"driver", "invalid value %q: want a driver name such as vfio-pci or the VF's netdev driver", *g.Driver)
			}
		}
	}
	if err := p.validateMirrors(file, li, fail); err != nil {
		return err
	}
	return p.validatePools(file, li, fail)
}

type failFunc func(line int, field, format string, args ...any) error

// IsName reports whether s may name a pool or mirror group: 1-63 letters, digits, '.', '_' or '-',
// starting with a letter or digit (libvirt takes the same for a network's name).
func IsName(s string) bool { return sriov.IsName(s, 63, "_.-") }

// checkNamedVFSet validates what mirror groups and pools share: a unique name, a PF and a VF id list
// (under key idsKey), and returns the parsed ids.
func checkNamedVFSet(li *lineIndex, fail failFunc, seen map[string]bool, section, what string, i int, nm, pf, idsKey, idsVal string) ([]int, error) {
	at := fmt.Sprintf("%s[%d].", section, i)
	line := li.line(section, i)
	if !IsName(nm) {
		return nil, fail(li.line(section, i, "name"), at+"name", "invalid value %q: want 1-63 letters, digits, '.', '_' or '-'", nm)
	}
	if seen[nm] {
		return nil, fail(line, at+"name", "%s %q is defined twice", what, nm)
	}
	seen[nm] = true
	if pf == "" {
		return nil, fail(line, at+"pf", "missing: name the PF (netdev or PCI address)")
	}
	ids, err := ParseIDs(idsVal)
	if err != nil {
		return nil, fail(li.line(section, i, idsKey), at+idsKey, "%v", err)
	}
	return ids, nil
}

func (p *Policy) validateMirrors(file string, li *lineIndex, fail failFunc) error {
	seen := map[string]bool{}
	for i := range p.Mirrors {
		m := &p.Mirrors[i]
		m.Line = li.line("mirrors", i)
		at := fmt.Sprintf("mirrors[%d].", i)
		ids, err := checkNamedVFSet(li, fail, seen, "mirrors", "mirror group", i, m.Name, m.PF, "vfs", m.VFs)
		if err != nil {
			return err
		}
		if len(ids) < 2 {
			return fail(li.line("mirrors", i, "vfs"), at+"vfs", "a mirror group needs at least 2 VFs, got %q", m.VFs)
		}
		m.VFIDs = ids
		m.PF = devref.Canonical(m.PF) // 01:00.0 and pci/0000:01:00.0 name the PF as 0000:01:00.0 does
		if m.MAC != "" {
			mac, err := sriov.ParseMAC("mac", m.MAC)
			if err != nil || mac == sriov.ZeroMAC {
				return fail(li.line("mirrors", i, "mac"), at+"mac", "invalid value %q: want a unicast MAC other than 00:00:00:00:00:00", m.MAC)
			}
			m.MAC = mac
		}
		switch m.Strategy {
		case "":
			m.Strategy = StrategyAuto
		case StrategyAuto, StrategySameMAC, StrategySwitchdevTC:
		default:
			return fail(li.line("mirrors", i, "strategy"), at+"strategy", "invalid value %q: allowed auto, same-mac or switchdev-tc", m.Strategy)
		}
	}
	return nil
}

func (p *Policy) validatePools(file string, li *lineIndex, fail failFunc) error {
	seen := map[string]bool{}
	type owner struct {
		pool string
		pf   string
	}
	taken := map[owner]string{}
	for i := range p.Pools {
		pl := &p.Pools[i]
		pl.Line = li.line("pools", i)
		at := fmt.Sprintf("pools[%d].", i)
		ids, err := checkNamedVFSet(li, fail, seen, "pools", "pool", i, pl.Name, pl.PF, "ids", pl.IDs)
		if err != nil {
			return err
		}
		pl.PF = devref.Canonical(pl.PF) // 01:00.0 and pci/0000:01:00.0 name the PF as 0000:01:00.0 does
		for _, id := range ids {
			k := owner{pool: strconv.Itoa(id), pf: pl.PF}
			if other, dup := taken[k]; dup {
				return fail(li.line("pools", i, "ids"), at+"ids", "VF %d of %s is already in pool %q; a VF belongs to one pool", id, pl.PF, other)
			}
			taken[k] = pl.Name
		}
		if pl.Driver != "" && strings.ContainsAny(pl.Driver, "/ \t\n") {
			return fail(li.line("pools", i, "driver"), at+"driver", "invalid value %q: want a driver name such as vfio-pci or the VF's netdev driver", pl.Driver)
		}
		pl.VFIDs = ids
	}
	return nil
}

// MaxVFID bounds VF ids in ranges (sriov_totalvfs is a 16-bit value).
const MaxVFID = 65534

// ParseIDs reads a VF id list such as "0,2-5" into sorted unique ids.
func ParseIDs(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("missing: want VF ids like \"0-3\" or \"0,2-5\"")
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, errA := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(strings.TrimSpace(hi))
		}
		if errA != nil || errB != nil || a < 0 || b < a || b > MaxVFID {
			return nil, fmt.Errorf("invalid value %q: want VF ids like \"0-3\" or \"0,2-5\" (ascending ranges, 0-%d)", s, MaxVFID)
		}
		for id := a; id <= b; id++ {
			seen[id] = true
		}
	}
	ids := make([]int, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids, nil
}

// FormatIDs renders ids compactly ("0-3,5").
func FormatIDs(ids []int) string {
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ids[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
