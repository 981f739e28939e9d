package cli_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionCommandAndFlag(t *testing.T) {
	code, out, stderr := runInProcess(t, "version")
	if code != 0 || stderr != "" || !strings.HasPrefix(out, "sriovctl ") || !strings.Contains(out, "go:         "+runtime.Version()) {
		t.Fatalf("version: exit %d, out %q, err %q", code, out, stderr)
	}
	code, flagOut, _ := runInProcess(t, "--version")
	if code != 0 || flagOut != out {
		t.Fatalf("--version printed %q, version printed %q", flagOut, out)
	}
	code, js, _ := runInProcess(t, "version", "--json")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(js), &v) != nil {
		t.Fatalf("version --json: %d %q", code, js)
	}
	for _, k := range []string{"version", "commit", "modified", "buildDate", "goVersion", "platform"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version --json lacks %q: %s", k, js)
		}
	}
	if code, _, stderr := runInProcess(t, "version", "extra"); code != 2 || !strings.Contains(stderr, "version: takes no arguments; got \"extra\"") {
		t.Fatalf("version extra: %d %q", code, stderr)
	}
}
