package policy

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/suggest"
)

// The YAML library is more forgiving than a policy should be: it reads `vlan: 010` as octal 8 and
// `0x10` as 16, truncates `numVfs: 2.5` to 2, and reports an unknown key as "field spoofChk not found in
// type policy.VFGroup". checkShape walks the YAML tree against the Go types before anything is decoded
// and refuses, with the field path and line, every key the policy does not define (with a did-you-mean)
// and every number that is not a plain decimal whole number.

// decimal is a whole number as people write it: no sign other than '-', no leading zeros, no base prefix,
// no underscores, no fraction.

// shapeChecker walks one document.
type shapeChecker struct {
	file string
	// done holds (node, type) pairs already checked: an alias is checked once however often it is
	// used, which keeps the walk linear for alias bombs and finite for alias cycles.
	done map[shapeKey]bool
}

type shapeKey struct {
	n *yaml.Node
	t reflect.Type
}

func (c *shapeChecker) fail(n *yaml.Node, path, format string, args ...any) error {
	return &Error{File: c.file, Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// check reports the first place where n does not fit type t.
func (c *shapeChecker) check(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
		if n == nil {
			return nil // the parser already refused an undefined alias
		}
	}
	k := shapeKey{n, t}
	if c.done[k] {
		return nil
	}
	c.done[k] = true
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // an absent value: the field keeps its default
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return c.fail(n, path, "want a mapping (key: value lines), got %s", describe(n))
		}
		return c.checkMapping(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return c.fail(n, path, "want a list (lines starting with -), got %s", describe(n))
		}
		for i, e := range n.Content {
			if err := c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch {
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" && sriov.IsDecimal(n.Value, 0, true):
			// Too long for a 64-bit integer, YAML reads it as a float: a whole number, out of range.
			return c.fail(n, path, "invalid value %s: out of range", quoteValue(n))
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float":
			return c.fail(n, path, "invalid value %s: want a whole number, e.g. 10 (no fraction)", quoteValue(n))
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && !sriov.IsDecimal(n.Value, 0, true):
			return c.fail(n, path, "invalid value %s: want a whole number in plain decimal, e.g. 10 (YAML reads a leading 0 as octal: 010 is 8)", quoteValue(n))
		case n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int":
			return c.fail(n, path, "invalid value %s: want a whole number, e.g. 10", quoteValue(n))
		}
		if _, err := strconv.ParseInt(n.Value, 10, t.Bits()); err != nil {
			return c.fail(n, path, "invalid value %s: out of range", quoteValue(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return c.fail(n, path, "invalid value %s: want true or false", quoteValue(n))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return c.fail(n, path, "want a single value, got %s", describe(n))
		}
	}
	return nil
}

// checkMapping checks each key of mapping n against the fields of struct t. A YAML merge key (<<) brings
// in the keys of the mappings it names.
func (c *shapeChecker) checkMapping(n *yaml.Node, t reflect.Type, path string) error {
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.Value == "<<" && key.ShortTag() == "!!merge" {
			if err := c.checkMerge(val, t, path); err != nil {
				return err
			}
			continue
		}
		at := key.Value
		if path != "" {
			at = path + "." + key.Value
		}
		ft, ok := fields[key.Value]
		if !ok || key.Kind != yaml.ScalarNode {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			sort.Strings(names)
			if s := suggest.Closest(key.Value, names); s != "" {
				return c.fail(key, at, "unknown key; did you mean %q?", s)
			}
			return c.fail(key, at, "unknown key; allowed here: %s", strings.Join(names, ", "))
		}
		if err := c.check(val, ft, at); err != nil {
			return err
		}
	}
	return nil
}

func (c *shapeChecker) checkMerge(val *yaml.Node, t reflect.Type, path string) error {
	if val.Kind == yaml.AliasNode && val.Alias != nil {
		val = val.Alias
	}
	if val.Kind == yaml.SequenceNode {
		for _, m := range val.Content {
			if err := c.checkMerge(m, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	return c.check(val, t, path)
}

// yamlFields maps the YAML key of each decoded field of struct t to its type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// kindName names a mapping or list node, "" for a scalar.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return ""
}

// describe names what a node holds for a message: "a mapping", "a list" or `the value "x"`.
func describe(n *yaml.Node) string {
	if k := kindName(n); k != "" {
		return k
	}
	return "the value " + strconv.Quote(n.Value)
}

// quoteValue is a node's value quoted, or its kind in parentheses.
func quoteValue(n *yaml.Node) string {
	if k := kindName(n); k != "" {
		return "(" + k + ")"
	}
	return strconv.Quote(n.Value)
}

// isEmptyDocument reports a document with nothing in it: only comments, `~`, or `{}`.
func isEmptyDocument(doc *yaml.Node) bool {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.ShortTag() == "!!null"
	case yaml.MappingNode:
		return len(n.Content) == 0
	}
	return false
}
