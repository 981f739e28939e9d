package api_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/api"
	"github.com/sriovctl/sriovctl/internal/agent/client"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestListenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "sriovctl", "agent.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
	if fi, _ := os.Lstat(path); fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("%s is no socket", path)
	}
}

func TestListenRefusesAndTakesOver(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string) func()
		wantErr string
	}{
		{"a regular file", func(t *testing.T, path string) func() {
			os.WriteFile(path, []byte("mine"), 0o644)
			return func() {
				if b, _ := os.ReadFile(path); string(b) != "mine" {
					t.Error("the file was replaced")
				}
			}
		}, "exists and is not a socket"},
		{"a directory", func(t *testing.T, path string) func() { os.Mkdir(path, 0o700); return func() {} }, "exists and is not a socket"},
		{"a live agent", func(t *testing.T, path string) func() {
			ln, err := api.Listen(path)
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, "another agent is running"},
		{"a socket someone answers on, without the lock", func(t *testing.T, path string) func() {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, "another agent answers"},
		{"a dead agent's socket", func(t *testing.T, path string) func() {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close() // the socket file stays, nobody listens: what a kill -9 leaves
			return func() {}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.sock")
			after := tc.prepare(t, path)
			defer after()
			ln, err := api.Listen(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("stale socket not taken over: %v", err)
				}
				ln.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				if ln != nil {
					ln.Close()
				}
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// driftEngine reports a VLAN drift on vf 0 and repairs it (counting repairs).
type driftEngine struct{ repairs atomic.Int64 }

func (e *driftEngine) Drift(ctx context.Context, d *agent.Desired) (*agent.Drift, error) {
	pf := sriov.PF{Name: "igb0", PCIAddress: "0000:01:00.0", NumVFs: 1, TotalVFs: 7, VFs: []sriov.VF{{ID: 0, VFConfig: sriov.DefaultVFConfig()}}}
	return &agent.Drift{Observed: &sriov.Host{PFs: []sriov.PF{pf}}, Desired: d, At: time.Now(),
		Plan: &plan.Plan{Ops: nil}}, nil
}

func (e *driftEngine) Repair(ctx context.Context, src agent.Source, o agent.RepairOptions) (*agent.Repair, error) {
	e.repairs.Add(1)
	return &agent.Repair{Skipped: "in sync"}, nil
}

type src struct{}

func (src) Name() string { return "test" }
func (src) Load(ctx context.Context) (*agent.Desired, error) {
	return &agent.Desired{Origin: "test"}, nil
}

func serve(t *testing.T, mode string) (*client.Client, *agent.Agent) {
	t.Helper()
	a := agent.New(agent.Config{Engine: &driftEngine{}, Source: src{}, Mode: mode, Quiet: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { a.Run(ctx); done <- struct{}{} }()
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { api.Serve(ctx, ln, api.Handler(a)); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; ln.Close() })
	c := client.New(path)
	deadline := time.Now().Add(5 * time.Second)
	for a.Snapshot().Drift == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return c, a
}

func TestAPI(t *testing.T) {
	c, _ := serve(t, agent.RepairAuto)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.InSync || st.Agent.Mode != "auto" || st.Desired == nil || st.Desired.Origin != "test" || st.Agent.Observations == 0 {
		t.Fatalf("status %+v", st)
	}
	var h sriov.Host
	if err := c.Get(ctx, "/v1/host", &h); err != nil || len(h.PFs) != 1 || h.PFs[0].Name != "igb0" {
		t.Fatalf("host %+v %v", h, err)
	}
	var as []agent.Assignment
	if err := c.Get(ctx, "/v1/assignments", &as); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(ctx, 0)
	if err != nil || len(ev) == 0 || ev[0].Kind != agent.EventStart {
		t.Fatalf("events %+v %v", ev, err)
	}
	if later, err := c.Events(ctx, ev[len(ev)-1].Seq); err != nil || len(later) != 0 {
		t.Fatalf("events since the last: %+v %v", later, err)
	}
	if err := c.Get(ctx, "/v1/events?since=yesterday", &ev); err == nil || !strings.Contains(err.Error(), "since") {
		t.Fatalf("bad since: %v", err)
	}
	r, err := c.Repair(ctx)
	if err != nil || r.Repair == nil || r.Repair.Skipped != "in sync" {
		t.Fatalf("repair %+v %v", r, err)
	}
	if err := c.Get(ctx, "/v1/nothing", &ev); err == nil {
		t.Fatal("unknown path answered")
	}
}

func TestClientWithoutAgent(t *testing.T) {
	c := client.New(filepath.Join(t.TempDir(), "agent.sock"))
	if _, err := c.Status(context.Background()); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("err %v", err)
	}
}
