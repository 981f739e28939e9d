package jsonout_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/jsonout/jsonouttest"
	"github.com/sriovctl/sriovctl/internal/jsonout/schemagen"
	"github.com/sriovctl/sriovctl/internal/policy"
)

const root = "../.."

// TestSchemasUpToDate fails while the committed schemas/ differ from what the Go types generate.
func TestSchemasUpToDate(t *testing.T) {
	want, err := schemagen.Schemas(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "schemas")
	have, _ := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	var names []string
	for _, f := range have {
		names = append(names, filepath.Base(f))
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("schemas/%s is stale or missing: run `go generate ./internal/jsonout` and commit schemas/", name)
		}
	}
	for _, n := range names {
		if _, ok := want[n]; !ok {
			t.Errorf("schemas/%s belongs to no command: run `go generate ./internal/jsonout`", n)
		}
	}
}

// compile compiles one committed schema.
func compile(t *testing.T, file string) *jsonschema.Schema { return jsonouttest.Schema(t, file) }

// validateYAML validates a YAML document against s, read as YAML 1.2 as the parser and editors read it
// (`on` is a string, not true).
func validateYAML(s *jsonschema.Schema, doc string) error {
	var v any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

var fence = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// policyExamples returns every policy in the documentation: the ```yaml blocks of README.md and docs/*.md
// that are policy files, the policy inside SriovHostPolicy objects, and the files under examples/.
func policyExamples(t *testing.T) map[string]string {
	t.Helper()
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	out := map[string]string{}
	for _, f := range docs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range fence.FindAllStringSubmatch(string(data), -1) {
			var top map[string]any
			if err := yaml.Unmarshal([]byte(m[1]), &top); err != nil {
				t.Errorf("%s: yaml block %d is not YAML: %v", f, i+1, err)
				continue
			}
			name := fmt.Sprintf("%s block %d", filepath.Base(f), i+1)
			if spec, ok := top["spec"].(map[string]any); ok && top["kind"] == "SriovHostPolicy" {
				pol, _ := yaml.Marshal(spec["policy"])
				out[name+" spec.policy"] = string(pol)
				continue
			}
			if isPolicy(top) {
				out[name] = m[1]
			}
		}
	}
	ex, _ := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	for _, f := range ex {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(data)
	}
	return out
}

func isPolicy(top map[string]any) bool {
	if len(top) == 0 {
		return false
	}
	for k := range top {
		if k != "pfs" && k != "pools" && k != "mirrors" {
			return false
		}
	}
	return true
}

// TestPolicyExamplesMatchSchema validates every policy example of the documentation against the policy
// schema, and checks that the parser accepts it too.
func TestPolicyExamplesMatchSchema(t *testing.T) {
	s := compile(t, jsonout.PolicySchemaFile)
	ex := policyExamples(t)
	if len(ex) < 5 {
		t.Fatalf("found only %d policy examples in the docs; the extraction is broken", len(ex))
	}
	names := make([]string, 0, len(ex))
	for n := range ex {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			if err := validateYAML(s, ex[n]); err != nil {
				t.Errorf("not valid for schemas/%s: %v\n%s", jsonout.PolicySchemaFile, err, ex[n])
			}
			if _, err := policy.Parse(n, []byte(ex[n])); err != nil {
				t.Errorf("the parser refuses it: %v", err)
			}
		})
	}
}

// TestPolicySchemaAgreesWithParser: what the parser refuses for its shape (unknown keys, wrong types) the
// schema refuses too, and what it accepts the schema accepts, so an editor flags the same mistakes.
func TestPolicySchemaAgreesWithParser(t *testing.T) {
	s := compile(t, jsonout.PolicySchemaFile)
	cases := []struct {
		name, doc string
		valid     bool
	}{
		{"full", "pfs:\n  - name: ens2f0\n    numVfs: 8\n    eswitchMode: switchdev\n    vfs:\n      - ids: \"0-3\"\n        vlan: 100\n        vlanProto: 802.1ad\n        spoofchk: true\n        linkState: auto\n        maxTxRateMbps: 1000\n        driver: vfio-pci\n", true},
		{"pools only", "pools:\n  - {name: vms, pf: ens2f0, ids: \"0-3\", driver: vfio-pci}\n", true},
		{"one id as a number", "pfs:\n  - name: ens2f0\n    vfs:\n      - ids: 4\n        vlan: 5\n", true},
		{"pci address", "pfs:\n  - pciAddress: \"0000:3b:00.0\"\n    numVfs: 2\n", true},
		{"mirror", "mirrors:\n  - {name: probe, pf: ens5f0, vfs: \"0,1\", strategy: same-mac}\n", true},
		{"unknown key", "pfs:\n  - name: ens2f0\n    vfs:\n      - ids: \"0\"\n        spoofChk: true\n", false},
		{"unknown top key", "pf:\n  - name: ens2f0\n", false},
		{"numVfs as string", "pfs:\n  - name: ens2f0\n    numVfs: \"4\"\n", false},
		{"numVfs fraction", "pfs:\n  - name: ens2f0\n    numVfs: 2.5\n", false},
		{"vlan as word", "pfs:\n  - name: ens2f0\n    vfs:\n      - {ids: \"0\", vlan: ten}\n", false},
		{"spoofchk as on", "pfs:\n  - name: ens2f0\n    vfs:\n      - {ids: \"0\", spoofchk: on}\n", false},
		{"link state", "pfs:\n  - name: ens2f0\n    vfs:\n      - {ids: \"0\", linkState: up}\n", false},
		{"group without ids", "pfs:\n  - name: ens2f0\n    vfs:\n      - {vlan: 5}\n", false},
		{"pool without pf", "pools:\n  - {name: vms, ids: \"0\"}\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateYAML(s, tc.doc)
			if (err == nil) != tc.valid {
				t.Errorf("schema valid = %v, want %v (%v)", err == nil, tc.valid, err)
			}
			if _, perr := policy.Parse("p.yaml", []byte(tc.doc)); tc.valid && perr != nil {
				t.Errorf("the parser refuses what the schema accepts: %v", perr)
			} else if !tc.valid && perr == nil {
				t.Errorf("the parser accepts what the schema refuses")
			}
		})
	}
}

// TestEveryCommandHasASchema: each registered command's schema file exists and compiles.
func TestEveryCommandHasASchema(t *testing.T) {
	for _, c := range jsonout.Commands {
		compile(t, jsonout.SchemaFile(c.Name))
	}
}

// TestWriteEscapesNoHTML: "->" and "<interface>" stay as they are.
func TestWriteEscapesNoHTML(t *testing.T) {
	var b bytes.Buffer
	if err := jsonout.Write(&b, map[string]string{"d": "vlan 0 -> 5 <x> & y"}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"d\": \"vlan 0 -> 5 <x> & y\"\n}\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

var jsonExample = regexp.MustCompile("(?s)(?:<!-- schema: ([a-z -]+) -->\n)?```json\n(.*?)```")

// TestDocJSONExamplesMatchSchemas validates every JSON example of the README and docs/ marked with
// `<!-- schema: COMMAND -->` against that command's schema; in docs/json.md every example is marked.
func TestDocJSONExamplesMatchSchemas(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	n := 0
	for _, f := range docs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range jsonExample.FindAllStringSubmatch(string(data), -1) {
			if m[1] == "" {
				if filepath.Base(f) == "json.md" {
					t.Errorf("%s: JSON example %d has no <!-- schema: COMMAND --> line", f, i+1)
				}
				continue
			}
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(m[2]))
			if err != nil {
				t.Errorf("%s: JSON example %d (%s) is not JSON: %v", f, i+1, m[1], err)
				continue
			}
			if err := compile(t, jsonout.SchemaFile(m[1])).Validate(inst); err != nil {
				t.Errorf("%s: JSON example %d does not match schemas/%s: %v", f, i+1, jsonout.SchemaFile(m[1]), err)
			}
			n++
		}
	}
	if n < 6 {
		t.Errorf("only %d marked JSON examples found", n)
	}
}
