package openstack

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"gopkg.in/ini.v1"
)

// Doc is one oslo.config INI file (ml2_conf.ini, sriov_agent.ini, nova.conf), parsed and writable.
//
// gopkg.in/ini.v1 is wrapped here, once, because several of its defaults differ from oslo.config:
//   - oslo.config has no inline comments, and JSON values (device_spec) may hold '#' or ';': inline
//     comments are off, so a value is everything after '='.
//   - nova's device_spec and alias are multi-valued (the key repeats): shadows are on, so repeated keys
//     are kept, and a single-valued option that repeats takes its last value as oslo.config does.
//   - Section(name) and Key(name) create what they look up; reads here go through GetSection/GetKey so
//     checking a file never adds to it.
//   - Key.String() expands Python "%(name)s" references, which oslo.config does not: reads use the raw
//     value.
//   - WriteTo leaves out the [DEFAULT] header unless the package-global ini.DefaultHeader is set, and
//     oslo.config refuses options before a section header: Bytes adds the header itself when DEFAULT
//     has options, leaving the global alone.
//   - Replacing a key by delete + add would drop the comment above it: SetAll carries it over.
//   - oslo.config matches section names in any letter case ([ML2] is [ml2]) and merges repeated
//     sections; option names are case-sensitive. Reads look in every section whose name matches
//     case-insensitively, in file order; writes go to the first such section.
//   - oslo.config refuses a file whose first option comes before any section header; ini.v1 would
//     put it in DEFAULT, so ParseDoc refuses it itself.
//   - oslo.config continues a value on indented lines (a device_spec JSON object often spans lines).
//     Without AllowPythonMultilineValues ini.v1 misreads `    "physical_network": "physnet2"}` as a key
//     named `"physical_network"`; with it, ini.v1 would write such a value back between triple quotes,
//     which oslo.config does not read. So continuation lines are read, then joined with a blank.
type Doc struct {
	// Path names the file in problem locations: the path the user gave, or the file name when rendered.
	Path string
	f    *ini.File
}

func loadOptions() ini.LoadOptions {
	return ini.LoadOptions{IgnoreInlineComment: true, AllowShadows: true, AllowPythonMultilineValues: true}
}

// ParseDoc parses INI text; an error means the text is not INI.
func ParseDoc(path string, data []byte) (*Doc, error) {
	if line, ok := optionBeforeSection(data); !ok {
		return nil, fmt.Errorf("%s: not an INI file oslo.config reads: line %d sets an option before the first [section] header", path, line)
	}
	f, err := ini.LoadSources(loadOptions(), data)
	if err != nil {
		return nil, fmt.Errorf("%s: not an INI file: %w", path, err)
	}
	d := &Doc{Path: path, f: f}
	d.joinContinuations()
	return d, nil
}

// optionBeforeSection finds the first line that is neither blank, a comment nor a section header,
// before any header: oslo.config stops there ("Section must be started before assignment").
func optionBeforeSection(data []byte) (int, bool) {
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";"):
			continue
		case strings.HasPrefix(t, "["):
			return 0, true
		default:
			return i + 1, false
		}
	}
	return 0, true
}

var continuation = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\s*\n\s*`) })

// joinContinuations puts every multi-line value on one line, its lines joined with a blank.
func (d *Doc) joinContinuations() {
	for _, s := range d.f.Sections() {
		for _, k := range s.Keys() {
			vals := k.ValueWithShadows()
			multi := false
			for i, v := range vals {
				if strings.Contains(v, "\n") {
					vals[i], multi = continuation().ReplaceAllString(strings.TrimSpace(v), " "), true
				}
			}
			if multi {
				d.SetAll(s.Name(), k.Name(), vals)
			}
		}
	}
}

// NewDoc is an empty file.
func NewDoc(path string) *Doc {
	return &Doc{Path: path, f: ini.Empty(loadOptions())}
}

// Bytes renders the file.
func (d *Doc) Bytes() []byte {
	var b bytes.Buffer
	if def, err := d.f.GetSection(ini.DefaultSection); err == nil && len(def.Keys()) > 0 {
		b.WriteString("[" + ini.DefaultSection + "]\n")
	}
	if _, err := d.f.WriteTo(&b); err != nil {
		// Writing to a bytes.Buffer does not fail; keep the partial text rather than panic.
		return b.Bytes()
	}
	return b.Bytes()
}

// sections returns the file's sections named section in any letter case, in file order.
func (d *Doc) sections(section string) []*ini.Section {
	var out []*ini.Section
	for _, s := range d.f.Sections() {
		if strings.EqualFold(s.Name(), section) {
			out = append(out, s)
		}
	}
	return out
}

// Has reports whether section/key is set (possibly to an empty value).
func (d *Doc) Has(section, key string) bool {
	_, ok := d.GetAll(section, key)
	return ok
}

// Get returns a single-valued option: its last occurrence, as oslo.config reads it.
func (d *Doc) Get(section, key string) (string, bool) {
	vals, ok := d.GetAll(section, key)
	if !ok {
		return "", false
	}
	if len(vals) == 0 {
		return "", true
	}
	return vals[len(vals)-1], true
}

// GetAll returns every occurrence of a multi-valued option, empty ones left out.
func (d *Doc) GetAll(section, key string) ([]string, bool) {
	var out []string
	found := false
	for _, s := range d.sections(section) {
		k, err := s.GetKey(key)
		if err != nil {
			continue
		}
		found = true
		for _, v := range k.ValueWithShadows() {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out, found
}

// Set replaces every occurrence of section/key with one value.
func (d *Doc) Set(section, key, value string) {
	d.SetAll(section, key, []string{value})
}

// SetAll replaces every occurrence of section/key with one line per value, in order.
func (d *Doc) SetAll(section, key string, values []string) {
	secs := d.sections(section)
	var s *ini.Section
	if len(secs) == 0 {
		s = d.f.Section(section)
	} else {
		s = secs[0]
	}
	comment := ""
	for _, sec := range secs {
		if k, err := sec.GetKey(key); err == nil && comment == "" {
			comment = k.Comment
		}
		sec.DeleteKey(key)
	}
	for i, v := range values {
		if i == 0 {
			// NewKey fails only for an empty name, which callers never pass.
			if k, err := s.NewKey(key, v); err == nil {
				k.Comment = comment
			}
			continue
		}
		_ = s.Key(key).AddShadow(v)
	}
}

// Delete removes section/key.
func (d *Doc) Delete(section, key string) {
	for _, s := range d.sections(section) {
		s.DeleteKey(key)
	}
}
