package jsonout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Command names a command whose --json output has a schema, and the Go type it prints.
type Command struct {
	// Name is the command as typed ("vf set").
	Name string
	// Type is a zero value of what it prints.
	Type any
}

// Commands lists every command that prints JSON, with its type: the schemas are generated from it and
// the tests run each command and validate its output.
var Commands = []Command{
	{"show", Show{}},
	{"plan", Plan{}},
	{"apply", Apply{}},
	{"restore", Apply{}},
	{"status", Status{}},
	{"recover", Recover{}},
	{"forget", Forget{}},
	{"pf set", PFSet{}},
	{"vf set", Direct{}},
	{"vf bind", VFBind{}},
	{"pool list", PoolList{}},
	{"assign", Assign{}},
	{"release", Release{}},
	{"assignments", Assignments{}},
	{"trace", Trace{}},
	{"mirror create", MirrorChange{}},
	{"mirror delete", MirrorChange{}},
	{"mirror list", MirrorList{}},
	{"lab init", Show{}},
	{"lab reboot", LabChange{}},
	{"lab reset", LabChange{}},
	{"lab eswitch", LabChange{}},
	{"lab fault", LabFault{}},
	{"lab traffic", LabTraffic{}},
	{"ledger restore-backup", LedgerRestore{}},
	{"openstack render", OpenStackRender{}},
	{"openstack check", OpenStackCheck{}},
	{"version", Version{}},
	{"export", PolicyDoc{}},
	{"import netplan", PolicyDoc{}},
	{"import networkd", PolicyDoc{}},
	{"pool libvirt-network", LibvirtNetwork{}},
}

// SchemaBaseURL is where the published schemas live; each schema's $id is this plus its file name.
const SchemaBaseURL = "https://raw.githubusercontent.com/sriovctl/sriovctl/main/schemas/"

// PolicySchemaFile is the policy file's schema (also for YAML editors through yaml-language-server).
const PolicySchemaFile = "policy.schema.json"

// SchemaFile is the file name of a command's output schema: "vf set" is vf-set.output.schema.json.
func SchemaFile(command string) string {
	return strings.ReplaceAll(command, " ", "-") + ".output.schema.json"
}

const modulePath = "github.com/sriovctl/sriovctl"

// Schemas generates every schema, keyed by file name. root is the repository root (relative to the
// working directory or absolute): descriptions come from the Go comments of the types under root/internal.
func Schemas(root string) (map[string][]byte, error) {
	comments, err := goComments(root)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	pr := reflector(comments, "yaml")
	ps := pr.Reflect(&policy.Policy{})
	ps.Title = "sriovctl policy file"
	ps.Description = "The desired VF counts and VF settings per PF, the mirror groups and the VF pools (sriovctl plan/apply -f FILE)."
	policyQuirks(ps)
	if out[PolicySchemaFile], err = encodeSchema(ps, PolicySchemaFile); err != nil {
		return nil, err
	}
	for _, c := range Commands {
		s := reflector(comments, "json").Reflect(c.Type)
		s.Title = "sriovctl " + c.Name + " --json"
		f := SchemaFile(c.Name)
		if out[f], err = encodeSchema(s, f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteSchemas writes every schema into dir, removing schemas of commands that no longer print JSON.
func WriteSchemas(root, dir string) error {
	all, err := Schemas(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	for _, f := range old {
		if _, ok := all[filepath.Base(f)]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, data := range all {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func reflector(comments map[string]string, tag string) *jsonschema.Reflector {
	return &jsonschema.Reflector{
		FieldNameTag: tag,
		Anonymous:    true,
		CommentMap:   comments,
		// Two packages may both have a PF: name definitions by package too (sriov.PF, policy.PF).
		Namer: func(t reflect.Type) string {
			if t.Name() == "" {
				return ""
			}
			pkg := t.PkgPath()
			return pkg[strings.LastIndex(pkg, "/")+1:] + "." + t.Name()
		},
		Mapper: enums,
	}
}

// enums gives the string types with a fixed set of values their enum.
func enums(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeOf(sriov.VLANProto("")):
		// The parser takes either case (802.1q); the output is always 802.1Q or 802.1ad.
		return &jsonschema.Schema{Type: "string", Pattern: `^802\.1([qQ]|[aA][dD])$`, Description: "802.1Q or 802.1ad"}
	case reflect.TypeOf(sriov.LinkState("")):
		return &jsonschema.Schema{Type: "string", Enum: []any{string(sriov.LinkStateAuto), string(sriov.LinkStateEnable), string(sriov.LinkStateDisable)}}
	}
	return nil
}

// policyQuirks makes the policy schema accept what the parser accepts where the Go types alone say less:
// a policy may leave out pfs: (pools or mirrors only), and YAML reads an id list of one VF (ids: 4) as a
// number, which the parser takes as the string "4".
func policyQuirks(s *jsonschema.Schema) {
	top := s
	if s.Ref != "" {
		top = s.Definitions[strings.TrimPrefix(s.Ref, "#/$defs/")]
	}
	for i, r := range top.Required {
		if r == "pfs" {
			top.Required = append(top.Required[:i], top.Required[i+1:]...)
			break
		}
	}
	for _, d := range s.Definitions {
		for _, key := range []string{"ids", "vfs"} {
			if p, ok := d.Properties.Get(key); ok && p.Type == "string" {
				p.Type = ""
				p.AnyOf = []*jsonschema.Schema{{Type: "string"}, {Type: "integer", Minimum: json.Number("0")}}
			}
		}
	}
}

func encodeSchema(s *jsonschema.Schema, file string) ([]byte, error) {
	s.ID = jsonschema.ID(SchemaBaseURL + file)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	return buf.Bytes(), nil
}

// goComments reads the doc comments of the types under root/internal, keyed as the reflector looks
// them up (import path, type, field).
func goComments(root string) (map[string]string, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	// AddGoComments names packages by joining base with each file's directory as walked (relative to
	// the working directory), so base is the working directory's import path.
	rel, err := filepath.Rel(absRoot, wd)
	if err != nil {
		return nil, err
	}
	base := modulePath
	if rel != "." {
		base += "/" + filepath.ToSlash(rel)
	}
	dir, err := filepath.Rel(wd, filepath.Join(absRoot, "internal"))
	if err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{}
	if err := r.AddGoComments(base, dir); err != nil {
		return nil, fmt.Errorf("reading Go comments: %w", err)
	}
	return r.CommentMap, nil
}
