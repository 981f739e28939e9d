package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesAreCurrent runs this package's `go generate` (controller-gen, pinned in doc.go) on a
// copy of the module and fails when the committed CRDs or deepcopy code differ from what it produces:
// someone changed a type and forgot `go generate ./api/...`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen (builds it on first use)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run controller-gen: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(tmp, f))
	}
	apiDir := filepath.Join(tmp, "api", "v1alpha1")
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		// The generated file is left out so that the copy is generated from the types alone.
		if e.Type().IsRegular() && filepath.Ext(e.Name()) == ".go" && e.Name() != "zz_generated.deepcopy.go" {
			copyFile(t, e.Name(), filepath.Join(apiDir, e.Name()))
		}
	}
	crdDir := filepath.Join(tmp, "deploy", "kubernetes", "crd")
	if err := os.MkdirAll(crdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "generate", ".")
	cmd.Dir = apiDir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go generate failed: %v\n%s", err, out)
	}

	want := map[string]string{filepath.Join(apiDir, "zz_generated.deepcopy.go"): "zz_generated.deepcopy.go"}
	generated, err := os.ReadDir(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "crd", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) != len(committed) {
		t.Errorf("controller-gen makes %d CRDs, deploy/kubernetes/crd holds %d: run go generate ./api/...", len(generated), len(committed))
	}
	for _, g := range generated {
		want[filepath.Join(crdDir, g.Name())] = filepath.Join(root, "deploy", "kubernetes", "crd", g.Name())
	}
	for gen, have := range want {
		a, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(have)
		if err != nil {
			t.Errorf("%s is missing: run go generate ./api/...", have)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is stale: run go generate ./api/...", have)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
