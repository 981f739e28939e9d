package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// terminal is a pseudo-terminal: what the command writes to tty, the test reads from the master side.
type terminal struct {
	tty  *os.File
	out  syncBuffer
	done chan struct{}
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{tty: tty, done: make(chan struct{})}
	go func() {
		defer close(term.done)
		io.Copy(&term.out, ptmx) // ends with EIO once the tty side is closed and drained
	}()
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	return term
}

// output closes the terminal's tty side and returns everything written to it.
func (term *terminal) output(t *testing.T) string {
	t.Helper()
	term.tty.Close()
	select {
	case <-term.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	return term.out.String()
}

// runOn runs the CLI in this process with stderr going to w.
func runOn(t *testing.T, stderr io.Writer, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, args, strings.NewReader(""), &out, stderr)
	return code, out.String()
}

// progressLab makes a lab whose ens5f0 (igb) has 4 VFs, and a policy setting VLAN 42 on all of them.
func progressLab(t *testing.T) (lab, policy string) {
	t.Helper()
	dir, lab, _ := poolPolicy(t)
	for _, args := range [][]string{{"lab", "init", lab}, {"--lab", lab, "pf", "set", "ens5f0", "--numvfs", "4"}} {
		if code, _, stderr := run(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	policy = filepath.Join(dir, "vlans.yaml")
	if err := os.WriteFile(policy, []byte("pfs:\n  - name: ens5f0\n    vfs:\n      - ids: \"0-3\"\n        vlan: 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return lab, policy
}

const eraseLine = "\r\x1b[K"

// TestProgressOnTerminal: on a terminal each write is one status line, rewritten in place and erased
// before the command's own output; a slow VF count write on the lab says it waits for the VFs.
func TestProgressOnTerminal(t *testing.T) {
	lab, policy := progressLab(t)

	term := newTerminal(t)
	code, out := runOn(t, term.tty, "--lab", lab, "apply", "-f", policy)
	stderr := term.output(t)
	if code != 0 || !strings.Contains(out, "apply: done: 4 writes") {
		t.Fatalf("apply: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for i := 0; i < 4; i++ {
		want := fmt.Sprintf("%s[%d/4] ens5f0 vf %d: vlan 0 (flat) -> 42", eraseLine, i+1, i)
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks the status line %q", stderr, want)
		}
	}
	if strings.ContainsAny(stderr, "\n") || !strings.HasSuffix(stderr, eraseLine) {
		t.Errorf("status lines must be rewritten in place and erased at the end; stderr %q", stderr)
	}

	if code, _, stderr := run(t, "--lab", lab, "lab", "fault", "--delay", "700ms"); code != 0 {
		t.Fatal(stderr)
	}
	term = newTerminal(t)
	code, out = runOn(t, term.tty, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "0", "--force")
	stderr = term.output(t)
	if code != 0 {
		t.Fatalf("pf set 0: exit %d, %q %q", code, out, stderr)
	}
	term = newTerminal(t)
	code, out = runOn(t, term.tty, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "3")
	stderr = term.output(t)
	wait := regexp.MustCompile(`\r\x1b\[K\[1/1\] ens5f0: numvfs 0 -> 3: waiting for VFs 0/3 \([0-9.]+s\)`)
	if code != 0 || out != "ens5f0: numvfs 0 -> 3\n" || !wait.MatchString(stderr) || strings.Contains(stderr, "\n") || !strings.HasSuffix(stderr, eraseLine) {
		t.Fatalf("slow numvfs on a terminal: exit %d, stdout %q, stderr %q; want a status line matching %s, erased", code, out, stderr, wait)
	}

	// -q: nothing at all on the terminal.
	term = newTerminal(t)
	code, _ = runOn(t, term.tty, "--lab", lab, "vf", "set", "ens5f0", "0", "--vlan", "5", "-q")
	if stderr := term.output(t); code != 0 || stderr != "" {
		t.Fatalf("vf set -q: exit %d, stderr %q; want nothing", code, stderr)
	}
}

// TestProgressNotTerminal: elsewhere nothing is printed per write, unless -v asks for one line per write;
// never a carriage return.
func TestProgressNotTerminal(t *testing.T) {
	lab, policy := progressLab(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if code, out := runOn(t, f, "--lab", lab, "apply", "-f", policy); code != 0 || !strings.Contains(out, "4 writes") {
		t.Fatalf("apply: exit %d, %q", code, out)
	}
	if b, _ := os.ReadFile(f.Name()); len(b) != 0 {
		t.Fatalf("apply into a file printed progress: %q", b)
	}

	var stderr syncBuffer
	policy0 := strings.Replace(policy, "vlans.yaml", "flat.yaml", 1)
	if err := os.WriteFile(policy0, []byte("pfs:\n  - name: ens5f0\n    vfs:\n      - ids: \"1-2\"\n        vlan: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runOn(t, &stderr, "--lab", lab, "apply", "-f", policy0, "-v")
	want := "[1/2] ens5f0 vf 1: vlan 42 -> 0 (flat)\n[2/2] ens5f0 vf 2: vlan 42 -> 0 (flat)\n"
	if code != 0 || !strings.Contains(out, "2 writes") || stderr.String() != want {
		t.Fatalf("apply -v: exit %d, stdout %q, stderr %q; want stderr %q", code, out, stderr.String(), want)
	}
}

// TestLockWaitSaysWhom: a writer that finds the state lock held says once that it waits, with the
// holder's pid and command line (on a terminal, or with -v), then goes on when the lock is free.
func TestLockWaitSaysWhom(t *testing.T) {
	lab, _ := progressLab(t)
	lock, err := statefile.AcquireLock(context.Background(), filepath.Join(lab, "state", apply.LockFile),
		statefile.LockOptions{Exclusive: true, WritePID: true})
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			lock.Release()
		}
	}()
	var stderr syncBuffer
	type result struct {
		code int
		out  string
	}
	done := make(chan result, 1)
	go func() {
		var out bytes.Buffer
		code := Run(context.Background(), []string{"--lab", lab, "vf", "set", "ens5f0", "0", "--vlan", "9", "-v"}, strings.NewReader(""), &out, &stderr)
		done <- result{code, out.String()}
	}()
	want := fmt.Sprintf("waiting for pid %d (%s", os.Getpid(), filepath.Base(os.Args[0]))
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on stderr: %q", want, stderr.String())
		}
	}
	select {
	case r := <-done:
		t.Fatalf("vf set did not wait for the lock: exit %d, %q", r.code, r.out)
	case <-time.After(100 * time.Millisecond):
	}
	lock.Release()
	released = true
	r := <-done
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if r.code != 0 || r.out != "ens5f0 vf 0: vlan 0 (flat) -> 9\n" || len(lines) != 2 || lines[1] != "[1/1] ens5f0 vf 0: vlan 0 (flat) -> 9" {
		t.Fatalf("vf set after the wait: exit %d, stdout %q, stderr %q", r.code, r.out, stderr.String())
	}
	if !strings.Contains(lines[0], "it holds the lock "+filepath.Join(lab, "state", apply.LockFile)) {
		t.Fatalf("the wait does not name the lock: %q", lines[0])
	}

	// Without -v and not on a terminal, the wait says nothing: a script's stderr stays errors only.
	lock, err = statefile.AcquireLock(context.Background(), filepath.Join(lab, "state", apply.LockFile),
		statefile.LockOptions{Exclusive: true, WritePID: true})
	if err != nil {
		t.Fatal(err)
	}
	var quiet syncBuffer
	go func() {
		var out bytes.Buffer
		code := Run(context.Background(), []string{"--lab", lab, "vf", "set", "ens5f0", "0", "--vlan", "10"}, strings.NewReader(""), &out, &quiet)
		done <- result{code, out.String()}
	}()
	time.Sleep(300 * time.Millisecond)
	lock.Release()
	if r := <-done; r.code != 0 || quiet.String() != "" {
		t.Fatalf("vf set: exit %d, stderr %q; want no output on stderr", r.code, quiet.String())
	}
}
