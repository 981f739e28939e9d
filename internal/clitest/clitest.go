// Package clitest builds the sriovctl binary once per test process and runs it as a user would, so that
// tests assert exit codes, stdout and stderr of the real program.
package clitest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a freshly built sriovctl (built once per test binary).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "sriovctl-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sriovctl")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sriovctl")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	if buildErr != nil {
		t.Fatalf("building sriovctl: %v", buildErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Result is one run of the binary.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs sriovctl with args and no stdin, with SRIOVCTL_LAB cleared so tests choose their lab.
func Run(t testing.TB, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(filteredEnv(), "SRIOVCTL_LAB=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running sriovctl %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// MustRun runs sriovctl and fails the test unless it exits 0.
func MustRun(t testing.TB, args ...string) Result {
	t.Helper()
	r := Run(t, args...)
	if r.Code != 0 {
		t.Fatalf("sriovctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// NewLab creates a lab in a temporary directory with the given --nic specs (default lab when none).
func NewLab(t testing.TB, nics ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lab")
	args := []string{"lab", "init", dir}
	for _, n := range nics {
		args = append(args, "--nic", n)
	}
	MustRun(t, args...)
	return dir
}

func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SRIOVCTL_") {
			env = append(env, kv)
		}
	}
	return env
}
