package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWritesManPagesAndCompletions(t *testing.T) {
	out := t.TempDir()
	if err := run(out, "v9.8.7", "2026-11-30"); err != nil {
		t.Fatal(err)
	}
	pages := []struct{ file, want string }{
		{"sriovctl.1", `.TH "SRIOVCTL" "1" "Nov 2026" "sriovctl v9.8.7" "sriovctl manual"`},
		{"sriovctl-vf-set.1", `.TH "SRIOVCTL-VF-SET" "1"`},
		{"sriovctl-vf-set.1", `\fB--vlan\fP`},
		{"sriovctl-apply.1", `\fB--file\fP`},
		{"sriovctl-completion.1", "bash"},
		{"sriovctl-version.1", "version"},
	}
	for _, p := range pages {
		data, err := os.ReadFile(filepath.Join(out, "man", "man1", p.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), p.want) {
			t.Errorf("%s lacks %q:\n%.400s", p.file, p.want, data)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "man", "man1", "sriovctl-__complete.1")); err == nil {
		t.Error("a man page for the hidden __complete command")
	}
	for shell, name := range completionFiles {
		data, err := os.ReadFile(filepath.Join(out, "completion", name))
		if err != nil || !strings.Contains(string(data), "sriovctl") {
			t.Errorf("%s completion %s: %v", shell, name, err)
		}
	}
	// Same inputs, same bytes: the package is reproducible.
	again := t.TempDir()
	if err := run(again, "v9.8.7", "2026-11-30"); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(out, "man", "man1", "sriovctl-vf-set.1"))
	b, _ := os.ReadFile(filepath.Join(again, "man", "man1", "sriovctl-vf-set.1"))
	if string(a) != string(b) {
		t.Error("two runs wrote different man pages")
	}
	if err := run(t.TempDir(), "", "30.11.2026"); err == nil || !strings.Contains(err.Error(), "-date") {
		t.Errorf("bad -date: %v", err)
	}
}
