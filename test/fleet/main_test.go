package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/test/k8s"
)

// TestPlayground runs the program as a person would (two nodes), reads what it prints, runs the
// `sriovctl fleet status` it suggests, and stops it with SIGTERM: every agent it started must be gone.
// With the agent's Kubernetes mode, each node's agent must publish its SriovNodeState.
func TestPlayground(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv(k8s.RequireEnv) == "1" {
			t.Fatal("KUBEBUILDER_ASSETS is unset (" + k8s.RequireEnv + "=1)")
		}
		t.Skip("KUBEBUILDER_ASSETS is unset: run `export KUBEBUILDER_ASSETS=\"$(test/k8s/build.sh)\"`")
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "fleet")
	if out, err := exec.Command("go", "build", "-o", prog, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	cmd := exec.Command(prog, "-nodes", "2", "-dir", work)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	printed := make(chan string, 1)
	go func() {
		var b strings.Builder
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			b.WriteString(s.Text() + "\n")
			if strings.HasPrefix(s.Text(), "Ctrl-C stops") {
				printed <- b.String()
			}
		}
		exited <- cmd.Wait()
	}()
	var out string
	select {
	case out = <-printed:
	case err := <-exited:
		t.Fatalf("exited before it was ready: %v\n%s", err, stderr.String())
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("not ready after 4 minutes; stderr:\n%s", stderr.String())
	}
	kubeconfig := filepath.Join(work, "kubeconfig")
	for _, want := range []string{"export KUBECONFIG=" + kubeconfig, "sriovctl fleet status", "kubectl apply -f "} {
		if !strings.Contains(out, want) {
			t.Errorf("the instructions lack %q:\n%s", want, out)
		}
	}
	agents := strings.Contains(out, "agents run (sriovctl agent --kubernetes)")
	if !agents && !strings.Contains(out, "has no --kubernetes mode yet") {
		t.Errorf("the instructions say neither that agents run nor why not:\n%s", out)
	}

	// What `sriovctl fleet status` shows: both nodes; with agents, each has reported (not Unknown).
	var status struct {
		Nodes []struct{ Node, Phase string } `json:"nodes"`
	}
	fs := exec.Command(filepath.Join(work, "bin", "sriovctl"), "fleet", "status", "--json")
	fs.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	js, err := fs.Output()
	if err != nil || json.Unmarshal(js, &status) != nil {
		t.Fatalf("fleet status: %v\n%s", err, js)
	}
	if agents {
		if len(status.Nodes) != 2 {
			t.Errorf("fleet status nodes = %+v, want node-1 and node-2", status.Nodes)
		}
		for _, n := range status.Nodes {
			if n.Phase == "Unknown" || n.Phase == "" {
				t.Errorf("node %s has phase %q after its agent started", n.Node, n.Phase)
			}
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("still running a minute after SIGTERM")
	}
	if left := processesMentioning(work); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}

// processesMentioning lists the command lines of running processes that name path.
func processesMentioning(path string) []string {
	var out []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), path) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
