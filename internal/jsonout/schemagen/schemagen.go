// Package schemagen generates the JSON Schemas of the policy file and of every command's --json output
// from the Go types (package jsonout lists the commands). It is kept apart from jsonout, which every
// sriovctl command links, so that the schema reflector and the Go parser it uses for descriptions are
// linked only into the generator and the tests.
package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

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
	if out[jsonout.PolicySchemaFile], err = encodeSchema(ps, jsonout.PolicySchemaFile); err != nil {
		return nil, err
	}
	for _, c := range jsonout.Commands {
		s := reflector(comments, "json").Reflect(c.Type)
		s.Title = "sriovctl " + c.Name + " --json"
		f := jsonout.SchemaFile(c.Name)
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
	s.ID = jsonschema.ID(jsonout.SchemaBaseURL + file)
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
