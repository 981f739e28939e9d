package k8s_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/test/k8s"
)

// TestBuildScript: with the binaries in the cache build.sh prints their folder and builds nothing;
// a wrong argument is a usage error.
func TestBuildScript(t *testing.T) {
	cache := t.TempDir()
	script := filepath.Join(k8s.Dir(), "build.sh")

	// The folder name carries both pinned versions, so a version bump misses the cache.
	dir := filepath.Join(cache, "kube-apiserver-v1.37.2-etcd-v3.7.3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fakeGo := t.TempDir()
	if err := os.WriteFile(filepath.Join(fakeGo, "go"), []byte("#!/bin/sh\necho 'go must not run' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
		wantErr  string
	}{
		{"cached", nil, dir + "\n", 0, ""},
		{"usage", []string{"--bogus"}, "", 2, "usage: build.sh [--kubectl]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(script, tt.args...)
			// A go command that fails: a build attempt would show as an error.
			cmd.Env = append(os.Environ(), "SRIOVCTL_K8S_CACHE="+cache, "PATH="+fakeGo+":"+os.Getenv("PATH"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || string(out) != tt.wantOut || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("build.sh %v: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
					tt.args, code, out, stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}
