package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/client"
	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/clitest"
)

// agentProc is a running `sriovctl agent`.
type agentProc struct {
	cmd    *exec.Cmd
	socket string
	stderr *os.File
	done   chan error
}

func startAgent(t *testing.T, labDir, socket string, env []string, args ...string) *agentProc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "agent-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clitest.Binary(t), append([]string{"--lab", labDir, "agent", "--socket", socket, "--metrics", "", "--lab-poll", "20ms"}, args...)...)
	cmd.Env = append(append(os.Environ(), "SRIOVCTL_LAB="), env...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, socket: socket, stderr: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *agentProc) log() string {
	b, _ := os.ReadFile(p.stderr.Name())
	return string(b)
}

// waitUp waits until the agent answers on its socket and has observed the host.
func (p *agentProc) waitUp(t *testing.T) *client.Client {
	t.Helper()
	c := client.New(p.socket)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil && st.Agent.Observations > 0 && st.Desired != nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not up: %v\n%s", err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *agentProc) term(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("agent did not stop on SIGTERM\n%s", p.log())
	}
	return p.cmd.ProcessState.ExitCode()
}

func waitEvent(t *testing.T, c *client.Client, kind string) agent.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ev, _ := c.Events(context.Background(), 0)
		for _, e := range ev {
			if e.Kind == kind {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event", kind)
	return agent.Event{}
}

func TestAgentFlagsAreValidated(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--repair", "sometimes"}, "--repair: invalid value \"sometimes\": allowed auto or report"},
		{[]string{"--log-format", "xml"}, "--log-format: invalid value \"xml\": allowed text or json"},
		{[]string{"--resync", "1ms"}, "--resync: invalid value \"1ms\": allowed 0 (off) or at least 100ms"},
		{[]string{"--repair", "report", "--repair-disruptive"}, "--repair-disruptive: needs --repair auto"},
		{[]string{"--metrics", "9860"}, "--metrics: invalid value \"9860\": want HOST:PORT"},
	} {
		sock := filepath.Join(t.TempDir(), "a.sock")
		r := clitest.Run(t, append([]string{"--lab", labDir, "agent", "--socket", sock}, tc.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
		if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: a refused start created the socket", tc.args)
		}
	}
}

// TestAgentProcess: the agent tells systemd it is ready and stopping, a second agent on the same socket
// is refused, a drift is repaired, and SIGTERM stops it cleanly (exit 0, socket removed).
func TestAgentProcess(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb")
	pol := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pol, []byte("pfs:\n  - name: igb0\n    numVfs: 2\n    vfs:\n      - ids: \"0-1\"\n        vlan: 10\n"), 0o644)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	notify := filepath.Join(t.TempDir(), "notify.sock")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	msgs := make(chan string, 10)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := nl.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	sock := filepath.Join(t.TempDir(), "run", "agent.sock")
	p := startAgent(t, labDir, sock, []string{"NOTIFY_SOCKET=" + notify}, "--log-format", "json")
	c := p.waitUp(t)
	expect := func(want string) {
		t.Helper()
		select {
		case m := <-msgs:
			if !strings.Contains(m, want) {
				t.Fatalf("sd_notify %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no sd_notify %s", want)
		}
	}
	expect("READY=1")

	r := clitest.Run(t, "--lab", labDir, "agent", "--socket", sock, "--metrics", "")
	if r.Code != 1 || !strings.Contains(r.Stderr, "another agent is running on "+sock) {
		t.Fatalf("second agent: exit %d %s", r.Code, r.Stderr)
	}

	clitest.MustRun(t, "--lab", labDir, "vf", "set", "igb0", "1", "--vlan", "77")
	waitEvent(t, c, agent.EventRepair)
	if out := clitest.MustRun(t, "--lab", labDir, "status").Stdout; !strings.Contains(out, "in sync") || !strings.Contains(out, "agent: not running (no agent on "+filepath.Join(labDir, "agent.sock")) {
		t.Fatalf("after the repair: %s", out)
	}
	// status shows the view of the agent on the socket it is given: up, its last repair, nothing pending.
	out := clitest.MustRun(t, "--lab", labDir, "status", "--agent-socket", sock).Stdout
	for _, want := range []string{"agent: running on " + sock, "repair auto", "last observation", "in sync", "last repair", "1 change (0 disruptive), 1 write"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status does not say %q:\n%s", want, out)
		}
	}
	var js struct {
		Agent struct {
			Running bool
			Status  struct{ InSync bool }
		}
	}
	if err := json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "--json", "status", "--agent-socket", sock).Stdout), &js); err != nil || !js.Agent.Running || !js.Agent.Status.InSync {
		t.Fatalf("status --json: %v %+v", err, js)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.log())
	}
	expect("STOPPING=1")
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after a clean stop: %v", err)
	}
	// --log-format json: every line is a JSON object.
	sc := bufio.NewScanner(strings.NewReader(p.log()))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			t.Fatalf("not JSON: %s", sc.Text())
		}
	}
}

// TestAgentSIGTERMMidRepair: SIGTERM while a slow repair runs leaves the apply journal, and the next start
// recovers it first, then repairs.
func TestAgentSIGTERMMidRepair(t *testing.T) {
	labDir := clitest.NewLab(t, "igb0=igb")
	pol := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pol, []byte("pfs:\n  - name: igb0\n    numVfs: 4\n    vfs:\n      - ids: \"0-3\"\n        vlan: 10\n        trust: true\n"), 0o644)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	clitest.MustRun(t, "--lab", labDir, "lab", "reboot") // 7 writes to repair
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "300ms")
	state := filepath.Join(labDir, "state")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	p := startAgent(t, labDir, sock, nil, "--stop-grace", "50ms")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if j, _ := apply.LoadJournal(state); j != nil && j.Next >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the repair never started\n%s", p.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.log())
	}
	if j, _ := apply.LoadJournal(state); j == nil {
		t.Fatalf("no journal after SIGTERM mid-repair\n%s", p.log())
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
	p2 := startAgent(t, labDir, sock, nil)
	c := p2.waitUp(t)
	rec := waitEvent(t, c, agent.EventRecovered)
	if !strings.Contains(rec.Message, "agent repair") {
		t.Fatalf("recovered %q", rec.Message)
	}
	waitEvent(t, c, agent.EventRepair)
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(clitest.MustRun(t, "--lab", labDir, "status").Stdout, "in sync") {
		if time.Now().After(deadline) {
			t.Fatalf("not in sync\n%s", p2.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if j, _ := apply.LoadJournal(state); j != nil {
		t.Fatal("journal left after recovery")
	}
	p2.term(t)
}

// TestAgentUnitVerifies: systemd-analyze accepts dist/systemd/sriovctl-agent.service (with ExecStart
// pointed at a binary that exists here).
func TestAgentUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("../../dist/systemd/sriovctl-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "Type=notify") {
		t.Fatal("the unit must be Type=notify")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sriovctl-agent.service")
	// The unit names the installed binary (/usr/bin from the package, /usr/local/bin by hand): the test's.
	bin := clitest.Binary(t)
	os.WriteFile(path, []byte(strings.NewReplacer("/usr/local/bin/sriovctl", bin, "/usr/bin/sriovctl", bin).Replace(string(unit))), 0o644)
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	// Messages about units it references that this machine lacks are no fault of ours.
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "sriovctl-restore.service") {
			bad = append(bad, line)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
