package fleet

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/sriovctl/sriovctl/internal/policy"
)

// Selected is one policy that selects a node, already validated by PolicyOf.
type Selected struct {
	Name       string
	Generation int64
	Policy     *policy.Policy
}

// Conflict is two policies that want different values for the same thing on one node.
type Conflict struct {
	// PF is the PF concerned, as the policies name it.
	PF string
	// VF is the VF id, -1 for the PF itself (numVfs) or a pool or mirror group.
	VF int
	// Field is the policy field (numVfs, vlan, driver, ...) or "pools[NAME]" / "mirrors[NAME]".
	Field string
	// Policies and Values are the two policies and what each wants, in name order.
	Policies [2]string
	Values   [2]string
}

func (c Conflict) String() string {
	target := c.PF
	if c.VF >= 0 {
		target = fmt.Sprintf("%s vf %d", c.PF, c.VF)
	}
	return fmt.Sprintf("%s %s: policy %s wants %s, policy %s wants %s", target, c.Field, c.Policies[0], c.Values[0], c.Policies[1], c.Values[1])
}

// Merged is the desired state of one node: the union of the policies that select it.
type Merged struct {
	// Policy is what the node applies: every PF no two policies disagree on. Nil when no policy selects
	// the node.
	Policy *policy.Policy
	// Conflicts lists each disagreement; a PF with one is left out of Policy entirely, so nothing is
	// applied to it until the policies agree.
	Conflicts []Conflict
	// ConflictedPFs are the PFs left out, sorted.
	ConflictedPFs []string
}

// vfFields are the VFGroup fields a policy may set per VF: every exported pointer field with a JSON name.
var vfFields = func() []reflect.StructField {
	var out []reflect.StructField
	t := reflect.TypeOf(policy.VFGroup{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.IsExported() && f.Type.Kind() == reflect.Pointer && jsonName(f) != "" {
			out = append(out, f)
		}
	}
	return out
}()

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// wanted is one value a policy wants, with the policy that wants it.
type wanted struct {
	value  string // canonical text, for comparison and messages
	raw    reflect.Value
	policy string
}

type pfDesire struct {
	ref    string
	match  *policy.Match // how the PF is named when the policies select it by match
	order  int
	fields map[string]wanted         // PF settings: JSON field name -> value
	vfs    map[int]map[string]wanted // vf id -> JSON field name -> value
}

// pfSettings lists the PF-level settings pf states (numVfs, mtu, eswitchMode), keyed by their JSON name.
func pfSettings(pf policy.PF, from string) map[string]wanted {
	out := map[string]wanted{}
	if pf.NumVFs != nil {
		out["numVfs"] = wanted{value: fmt.Sprint(*pf.NumVFs), raw: reflect.ValueOf(pf.NumVFs), policy: from}
	}
	if pf.MTU != nil {
		out["mtu"] = wanted{value: fmt.Sprint(*pf.MTU), raw: reflect.ValueOf(pf.MTU), policy: from}
	}
	if pf.EswitchMode != "" {
		mode := pf.EswitchMode
		out["eswitchMode"] = wanted{value: mode, raw: reflect.ValueOf(&mode), policy: from}
	}
	return out
}

// Merge combines the policies that select a node. Two policies may name the same PF and even the same VF
// as long as every field they both set has the same value; a field set differently is a Conflict and the
// PF is left out. Pools and mirror groups of the same name must be identical, and a VF may belong to one
// pool only. canonical maps a PF reference (netdev name or PCI address) to one key per PF, so that two
// policies naming a PF differently are still compared (nil: references are compared as written).
func Merge(selected []Selected, canonical func(ref string) string) (*Merged, error) {
	if len(selected) == 0 {
		return &Merged{}, nil
	}
	if canonical == nil {
		canonical = func(ref string) string { return ref }
	}
	sel := append([]Selected(nil), selected...)
	sort.Slice(sel, func(i, j int) bool { return sel[i].Name < sel[j].Name })

	pfs := map[string]*pfDesire{}
	conflicted := map[string]bool{}
	var conflicts []Conflict
	conflict := func(key, pf string, vf int, field string, a, b wanted) {
		conflicts = append(conflicts, Conflict{PF: pf, VF: vf, Field: field, Policies: [2]string{a.policy, b.policy}, Values: [2]string{a.value, b.value}})
		conflicted[key] = true
	}
	for _, s := range sel {
		for _, pf := range s.Policy.PFs {
			key := canonical(pf.Ref())
			d := pfs[key]
			if d == nil {
				d = &pfDesire{ref: pf.Ref(), match: pf.Match, order: len(pfs), fields: map[string]wanted{}, vfs: map[int]map[string]wanted{}}
				pfs[key] = d
			}
			settings := pfSettings(pf, s.Name)
			for _, name := range []string{"numVfs", "mtu", "eswitchMode"} { // a fixed order: conflicts read the same each time
				w, ok := settings[name]
				if !ok {
					continue
				}
				if prev, seen := d.fields[name]; seen && prev.value != w.value {
					conflict(key, d.ref, -1, name, prev, w)
				} else if !seen {
					d.fields[name] = w
				}
			}
			for _, g := range pf.VFs {
				gv := reflect.ValueOf(g)
				for _, id := range g.VFIDs {
					fields := d.vfs[id]
					if fields == nil {
						fields = map[string]wanted{}
						d.vfs[id] = fields
					}
					for _, f := range vfFields {
						v := gv.FieldByIndex(f.Index)
						if v.IsNil() {
							continue
						}
						w := wanted{value: fmt.Sprint(v.Elem().Interface()), raw: v, policy: s.Name}
						name := jsonName(f)
						if prev, ok := fields[name]; ok && prev.value != w.value {
							conflict(key, d.ref, id, name, prev, w)
						} else if !ok {
							fields[name] = w
						}
					}
				}
			}
		}
	}

	pools, poolConflicts := mergeNamed(sel, canonical, "pools", func(p *policy.Policy) []named {
		out := make([]named, 0, len(p.Pools))
		for _, pl := range p.Pools {
			out = append(out, named{name: pl.Name, pf: pl.PF, ids: pl.VFIDs, value: pl})
		}
		return out
	})
	mirrors, mirrorConflicts := mergeNamed(sel, canonical, "mirrors", func(p *policy.Policy) []named {
		out := make([]named, 0, len(p.Mirrors))
		for _, m := range p.Mirrors {
			out = append(out, named{name: m.Name, pf: m.PF, ids: m.VFIDs, value: m})
		}
		return out
	})
	for _, c := range append(poolConflicts, mirrorConflicts...) {
		conflicts = append(conflicts, c)
		conflicted[canonical(c.PF)] = true
	}

	doc := map[string]any{}
	keys := make([]string, 0, len(pfs))
	for k := range pfs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return pfs[keys[i]].order < pfs[keys[j]].order })
	outPFs := []map[string]any{}
	var conflictedPFs []string
	for _, k := range keys {
		d := pfs[k]
		if conflicted[k] {
			conflictedPFs = append(conflictedPFs, d.ref)
			continue
		}
		outPFs = append(outPFs, d.render())
	}
	doc["pfs"] = outPFs
	keep := func(items []named) []any {
		var out []any
		for _, it := range items {
			if !conflicted[canonical(it.pf)] {
				out = append(out, it.value)
			}
		}
		return out
	}
	if l := keep(pools); len(l) > 0 {
		doc["pools"] = l
	}
	if l := keep(mirrors); len(l) > 0 {
		doc["mirrors"] = l
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(sel))
	for i, s := range sel {
		names[i] = s.Name
	}
	// The union of valid policies can still be invalid as a whole (one sets numVfs 4, another VF 6):
	// the validator says so, naming the policies.
	p, err := policy.Parse("policies "+strings.Join(names, "+"), data)
	if err != nil {
		if pe, ok := err.(*policy.Error); ok {
			pe.Line = 0
		}
		return nil, fmt.Errorf("merged desired state: %w", err)
	}
	sort.Strings(conflictedPFs)
	return &Merged{Policy: p, Conflicts: conflicts, ConflictedPFs: conflictedPFs}, nil
}

// render writes one PF's merged desire as a policy document entry: VFs with the same settings share an
// entry (as a range), except those with a MAC, which is for one VF only.
func (d *pfDesire) render() map[string]any {
	out := map[string]any{}
	switch {
	case d.match != nil:
		out["match"] = d.match
	case strings.Count(d.ref, ":") == 2:
		out["pciAddress"] = d.ref
	default:
		out["name"] = d.ref
	}
	for name, w := range d.fields {
		out[name] = w.raw.Elem().Interface()
	}
	groups := map[string][]int{}
	settings := map[string]map[string]any{}
	var order []string
	ids := make([]int, 0, len(d.vfs))
	for id := range d.vfs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		fields := d.vfs[id]
		if len(fields) == 0 {
			continue
		}
		s := map[string]any{}
		for name, w := range fields {
			s[name] = w.raw.Elem().Interface()
		}
		k, _ := json.Marshal(s) // map keys marshal sorted: a canonical key
		key := string(k)
		if _, hasMAC := fields["mac"]; hasMAC {
			key = fmt.Sprintf("%s#%d", key, id)
		}
		if _, seen := groups[key]; !seen {
			order = append(order, key)
			settings[key] = s
		}
		groups[key] = append(groups[key], id)
	}
	var vfs []map[string]any
	for _, k := range order {
		g := settings[k]
		g["ids"] = policy.FormatIDs(groups[k])
		vfs = append(vfs, g)
	}
	if len(vfs) > 0 {
		out["vfs"] = vfs
	}
	return out
}

// named is a pool or mirror group, for merging by name.
type named struct {
	name  string
	pf    string
	ids   []int
	value any
}

// mergeNamed unions the pools (or mirror groups) of the policies: the same name must mean the same thing,
// and for pools a VF may belong to one pool only.
func mergeNamed(sel []Selected, canonical func(string) string, section string, list func(*policy.Policy) []named) ([]named, []Conflict) {
	type owner struct {
		item   named
		policy string
	}
	byName := map[string]owner{}
	byVF := map[string]owner{}
	var out []named
	var conflicts []Conflict
	for _, s := range sel {
		for _, it := range list(s.Policy) {
			text, _ := json.Marshal(it.value)
			if prev, ok := byName[it.name]; ok {
				prevText, _ := json.Marshal(prev.item.value)
				if string(prevText) != string(text) {
					conflicts = append(conflicts, Conflict{PF: it.pf, VF: -1, Field: fmt.Sprintf("%s[%s]", section, it.name),
						Policies: [2]string{prev.policy, s.Name}, Values: [2]string{string(prevText), string(text)}})
				}
				continue
			}
			byName[it.name] = owner{it, s.Name}
			out = append(out, it)
			if section != "pools" {
				continue
			}
			for _, id := range it.ids {
				k := fmt.Sprintf("%s/%d", canonical(it.pf), id)
				if prev, ok := byVF[k]; ok {
					conflicts = append(conflicts, Conflict{PF: it.pf, VF: id, Field: "pool",
						Policies: [2]string{prev.policy, s.Name}, Values: [2]string{prev.item.name, it.name}})
					continue
				}
				byVF[k] = owner{it, s.Name}
			}
		}
	}
	return out, conflicts
}
