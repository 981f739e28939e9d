package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlocks returns the ```sh blocks of the project's README, with the heading each one is under.
func readmeBlocks(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string][]string{}
	heading, in := "", false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#") && !in:
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case line == "```sh":
			in = true
		case line == "```":
			in = false
		case in:
			blocks[heading] = append(blocks[heading], line)
		}
	}
	return blocks
}

// TestReadmeCommandsParse: every sriovctl command line in the README's shell blocks names a command that
// exists, with flags it has.
func TestReadmeCommandsParse(t *testing.T) {
	n := 0
	for heading, lines := range readmeBlocks(t) {
		for _, line := range lines {
			for _, part := range strings.Split(line, "&&") {
				args := exampleArgs(strings.TrimPrefix(strings.TrimSpace(part), "sudo "))
				if args == nil {
					continue
				}
				n++
				if err := parseCommandLine(args, false); err != nil {
					t.Errorf("README, %s: %q: %v", heading, line, err)
				}
			}
		}
	}
	if n < 15 {
		t.Fatalf("found only %d sriovctl command lines in the README", n)
	}
}

// TestReadmeLabQuickStart runs the README's lab quick start as written, in a temporary directory.
func TestReadmeLabQuickStart(t *testing.T) {
	lines := readmeBlocks(t)["Quick start on the lab"]
	if len(lines) < 5 {
		t.Fatalf("no lab quick start in the README: %q", lines)
	}
	lab := filepath.Join(t.TempDir(), "lab")
	t.Setenv(labEnvVar, "")
	for _, line := range lines {
		line = strings.ReplaceAll(line, "/tmp/lab", lab)
		if strings.HasPrefix(line, "export "+labEnvVar+"=") {
			t.Setenv(labEnvVar, lab)
			continue
		}
		args := exampleArgs(line)
		if args == nil {
			t.Fatalf("a line the test cannot run: %q", line)
		}
		if code, out, stderr := run(t, args...); code != 0 {
			t.Fatalf("%q: exit %d\n%s%s", line, code, out, stderr)
		}
	}
	code, out, _ := run(t, "--lab", lab, "show", "ens5f0")
	if code != 0 || !strings.Contains(out, "VFs 2/") {
		t.Fatalf("after the quick start: exit %d\n%s", code, out)
	}
}
