// Package jsonouttest validates JSON against the committed schemas in schemas/, for tests of commands'
// --json output and of documentation examples.
package jsonouttest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sriovctl/sriovctl/internal/jsonout"
)

var (
	mu       sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Schema compiles (once) the committed schema file, e.g. jsonout.SchemaFile("vf set").
func Schema(t testing.TB, file string) *jsonschema.Schema {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if s := compiled[file]; s != nil {
		return s
	}
	data, err := os.ReadFile(filepath.Join(Root(), "schemas", file))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(jsonout.SchemaBaseURL+file, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(jsonout.SchemaBaseURL + file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	compiled[file] = s
	return s
}

// Validate checks that doc is one JSON document matching the output schema of command ("vf set").
func Validate(t testing.TB, command, doc string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Errorf("%s --json: not one JSON document: %v\n%s", command, err, doc)
		return
	}
	if err := Schema(t, jsonout.SchemaFile(command)).Validate(inst); err != nil {
		t.Errorf("%s --json does not match schemas/%s: %v\n%s", command, jsonout.SchemaFile(command), err, doc)
	}
}
