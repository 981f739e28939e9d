package agent_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// basePolicy: 4 VFs on the igb PF, VLAN 100 on 0-1, VF 3 on vfio-pci, VFs 2-3 a pool.
const basePolicy = `pfs:
  - name: igb0
    numVfs: 4
    vfs:
      - ids: "0-1"
        vlan: 100
      - ids: "3"
        driver: vfio-pci
pools:
  - name: vms
    pf: igb0
    ids: "2"
    driver: vfio-pci
`

// env is a lab host with an applied policy and an agent on it.
type env struct {
	t             testing.TB
	labDir, state string
	lab           *lab.Lab
	agent         *agent.Agent
}

// sctl runs a sriovctl command line on the env's lab, in process, and fails the test unless it exits 0.
func (e *env) sctl(args ...string) string {
	e.t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), append([]string{"--lab", e.labDir}, args...), nil, &out, &errb); code != 0 {
		e.t.Fatalf("sriovctl %s: exit %d: %s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

func newEnv(t testing.TB, policy string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, labDir: filepath.Join(dir, "lab"), state: filepath.Join(dir, "lab", "state")}
	l, err := lab.Init(e.labDir, []lab.NIC{{Name: "igb0", Profile: "igb"}, {Name: "ice0", Profile: "ice", TotalVFs: 8}})
	if err != nil {
		t.Fatal(err)
	}
	e.lab = l
	if policy != "" {
		p := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(p, []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
		e.sctl("apply", "-f", p, "--yes")
	}
	return e
}

func (e *env) config(mut func(c *agent.Config)) agent.Config {
	c := agent.Config{
		Engine: &agent.LocalEngine{Host: e.lab, StateDir: e.state}, Source: agent.StoredSource{StateDir: e.state},
		Watchers: []agent.Watcher{agent.FilePoller{Path: filepath.Join(e.labDir, "lab.json"), Interval: 10 * time.Millisecond}},
		Quiet:    10 * time.Millisecond, MaxDelay: 100 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond,
	}
	if mut != nil {
		mut(&c)
	}
	return c
}

// start runs an agent on the env until the test ends.
func (e *env) start(c agent.Config) *agent.Agent {
	e.t.Helper()
	e.agent = run(e.t, c)
	e.waitEvent(agent.EventStart)
	e.waitFor("the first observation", func() bool { return e.agent.Observations() > 0 && e.agent.Snapshot().Drift != nil })
	return e.agent
}

// run runs an agent until the test ends.
func run(tb testing.TB, c agent.Config) *agent.Agent {
	a := agent.New(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	return a
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; events:\n%s", what, e.eventLog())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) waitEvent(kind string) agent.Event {
	e.t.Helper()
	var got agent.Event
	e.waitFor("a "+kind+" event", func() bool {
		for _, ev := range e.agent.Events().Since(0) {
			if ev.Kind == kind {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

func (e *env) count(kind string) int {
	n := 0
	for _, ev := range e.agent.Events().Since(0) {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func (e *env) eventLog() string {
	if e.agent == nil {
		return ""
	}
	var b strings.Builder
	for _, ev := range e.agent.Events().Since(0) {
		b.WriteString(ev.Kind + ": " + ev.Message + "\n")
	}
	return b.String()
}

func (e *env) vf(pf string, id int) sriov.VF {
	e.t.Helper()
	st, err := e.lab.Observe(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	p := st.FindPF(pf)
	if p == nil || p.VF(id) == nil {
		return sriov.VF{ID: -1}
	}
	return *p.VF(id)
}

func (e *env) numVFs(pf string) int {
	st, _ := e.lab.Observe(context.Background())
	return st.FindPF(pf).NumVFs
}

func (e *env) writes() uint64 {
	n, err := e.lab.MutatingOps()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) inSync() bool {
	d := e.agent.Snapshot().Drift
	return d != nil && d.InSync()
}

// TestRepairsEachKindOfDrift: every kind of drift the issue names is repaired by an agent in auto mode,
// and an assigned VF gets its owner's settings back, not the policy's.
func TestRepairsEachKindOfDrift(t *testing.T) {
	cases := []struct {
		name  string
		drift func(e *env)
		check func(e *env) string // "" when the host is as desired
	}{
		{"attribute changed by hand", func(e *env) { e.sctl("vf", "set", "igb0", "1", "--vlan", "7", "--qos", "2") }, func(e *env) string {
			if v := e.vf("igb0", 1); v.VLAN != 100 || v.QoS != 0 {
				return "vf 1 not back at vlan 100 qos 0"
			}
			return ""
		}},
		{"wrong driver", func(e *env) { e.sctl("vf", "bind", "igb0", "3", "default") }, func(e *env) string {
			if v := e.vf("igb0", 3); v.Driver != "vfio-pci" {
				return "vf 3 driver " + v.Driver
			}
			return ""
		}},
		{"VFs missing after a reset", func(e *env) {
			if err := e.lab.Reboot(); err != nil {
				e.t.Fatal(err)
			}
		}, func(e *env) string {
			if e.numVFs("igb0") != 4 || e.vf("igb0", 0).VLAN != 100 || e.vf("igb0", 3).Driver != "vfio-pci" {
				return "igb0 not back at 4 VFs with their settings"
			}
			if v := e.vf("igb0", 2); v.VLAN != 42 || v.Driver != "vfio-pci" || v.MAC != "52:54:00:00:00:01" {
				return "assigned vf 2 not back at its owner's settings"
			}
			return ""
		}},
		{"assigned VF changed by hand", func(e *env) { e.sctl("vf", "set", "igb0", "2", "--vlan", "5", "--force") }, func(e *env) string {
			if v := e.vf("igb0", 2); v.VLAN != 42 {
				return "assigned vf 2 not back at its owner's vlan 42"
			}
			return ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, basePolicy)
			e.sctl("assign", "--pool", "vms", "--owner", "web1", "--vlan", "42", "--mac", "52:54:00:00:00:01")
			e.start(e.config(nil))
			if !e.inSync() {
				t.Fatalf("not in sync at start:\n%s", e.eventLog())
			}
			tc.drift(e)
			if tc.check(e) == "" {
				t.Fatal("the drift did not change the host")
			}
			e.waitEvent(agent.EventRepair)
			e.waitFor("in sync", e.inSync)
			if msg := tc.check(e); msg != "" {
				t.Fatalf("%s\n%s", msg, e.eventLog())
			}
			if _, err := os.Stat(filepath.Join(e.state, apply.JournalFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("journal left behind: %v", err)
			}
		})
	}
}

// TestReportModeWritesNothing: with --repair report drift is reported and the host is not written; a
// repair asked through the API is refused.
func TestReportModeWritesNothing(t *testing.T) {
	e := newEnv(t, basePolicy)
	e.start(e.config(func(c *agent.Config) { c.Mode = agent.RepairReport }))
	e.sctl("vf", "set", "igb0", "0", "--vlan", "9")
	before := e.writes()
	ev := e.waitEvent(agent.EventDrift)
	if !strings.Contains(strings.Join(ev.Ops, ";"), "igb0 vf 0: vlan 9 -> 100") {
		t.Fatalf("drift event does not name the write: %+v", ev)
	}
	e.waitEvent(agent.EventReportOnly)
	if _, err := e.agent.RepairNow(context.Background()); !errors.Is(err, agent.ErrReportMode) {
		t.Fatalf("RepairNow in report mode: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := e.writes(); n != before {
		t.Fatalf("report mode wrote the host: %d writes", n-before)
	}
	if v := e.vf("igb0", 0); v.VLAN != 9 {
		t.Fatalf("vlan %d", v.VLAN)
	}
	if s := e.agent.Snapshot(); s.Pending != "report only" || s.Drift.InSync() {
		t.Fatalf("snapshot: pending %q in sync %v", s.Pending, s.Drift.InSync())
	}
}

// TestDisruptiveDriftNeedsTheFlag: a PF at another non-zero VF count is only reported, unless the agent
// may repair disruptively.
func TestDisruptiveDriftNeedsTheFlag(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "reported", true: "repaired"}[allow], func(t *testing.T) {
			e := newEnv(t, basePolicy)
			e.start(e.config(func(c *agent.Config) { c.AllowDisruptive = allow }))
			e.sctl("pf", "set", "igb0", "--numvfs", "2", "--force")
			if !allow {
				before := e.writes()
				e.waitEvent(agent.EventDisruptive)
				if _, err := e.agent.RepairNow(context.Background()); !errors.Is(err, agent.ErrDisruptive) {
					t.Fatalf("RepairNow: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
				if n := e.writes(); n != before || e.numVFs("igb0") != 2 {
					t.Fatalf("wrote %d times; numvfs %d", n-before, e.numVFs("igb0"))
				}
				return
			}
			e.waitEvent(agent.EventRepair)
			e.waitFor("in sync", e.inSync)
			if e.numVFs("igb0") != 4 || e.vf("igb0", 3).Driver != "vfio-pci" {
				t.Fatalf("not repaired:\n%s", e.eventLog())
			}
		})
	}
}

// TestAdmitDecidesDisruptiveRepairs: the fleet mode's hook says whether a disruptive repair may run now
// (a rollout slot); while it says no the drift is reported with its reason, once it says yes it is
// repaired. Every observation reaches the Observed hook.
func TestAdmitDecidesDisruptiveRepairs(t *testing.T) {
	e := newEnv(t, basePolicy)
	var slot atomic.Bool
	var observed atomic.Int64
	e.start(e.config(func(c *agent.Config) {
		c.Admit = func(ctx context.Context, d *agent.Drift) (bool, string) {
			if d.Plan.Disruptive() == 0 {
				t.Error("Admit asked about a non-disruptive plan")
			}
			return slot.Load(), "no rollout slot free"
		}
		c.Observed = func(d *agent.Drift) { observed.Add(1) }
	}))
	e.sctl("pf", "set", "igb0", "--numvfs", "2", "--force")
	ev := e.waitEvent(agent.EventDisruptive)
	if !strings.Contains(ev.Message, "no rollout slot free") {
		t.Fatalf("event %q", ev.Message)
	}
	if e.numVFs("igb0") != 2 {
		t.Fatal("repaired without a slot")
	}
	slot.Store(true)
	e.agent.Kick()
	e.waitEvent(agent.EventRepair)
	e.waitFor("in sync", e.inSync)
	if e.numVFs("igb0") != 4 {
		t.Fatalf("numvfs %d", e.numVFs("igb0"))
	}
	if n := observed.Load(); n < 3 || uint64(n) > e.agent.Observations()+1 {
		t.Fatalf("Observed called %d times for %d observations", n, e.agent.Observations())
	}
}

// TestWaitsForTheLockAndRereads: while a CLI command holds the apply lock the agent writes nothing; when
// the command stores a new desired state, the agent takes that as desired, not as drift to undo.
func TestWaitsForTheLockAndRereads(t *testing.T) {
	e := newEnv(t, basePolicy)
	e.start(e.config(nil))
	lock, err := apply.Acquire(e.state, true)
	if err != nil {
		t.Fatal(err)
	}
	// A hand-typed `ip link set`: no sriovctl lock.
	if err := e.lab.SetVFVLAN(context.Background(), "igb0", 0, 9, 0, sriov.VLANProto8021Q); err != nil {
		t.Fatal(err)
	}
	before := e.writes()
	e.waitEvent(agent.EventWaiting)
	time.Sleep(150 * time.Millisecond)
	if n := e.writes(); n != before {
		t.Fatalf("the agent wrote %d times while the lock was held", n-before)
	}
	// The "CLI command" makes VF 0's VLAN 9 desired, then lets go.
	newPolicy := strings.Replace(basePolicy, `      - ids: "0-1"
        vlan: 100`, `      - ids: "0"
        vlan: 9
      - ids: "1"
        vlan: 100`, 1)
	if err := apply.StoreDesired(e.state, []byte(newPolicy)); err != nil {
		t.Fatal(err)
	}
	lock.Release()
	e.waitFor("in sync", e.inSync)
	e.waitEvent(agent.EventApply)
	if n := e.writes(); n != before {
		t.Fatalf("the agent undid the new desired state: %d writes\n%s", n-before, e.eventLog())
	}
	if e.vf("igb0", 0).VLAN != 9 || e.count(agent.EventRepair) != 0 {
		t.Fatalf("vf 0 vlan %d, repairs %d", e.vf("igb0", 0).VLAN, e.count(agent.EventRepair))
	}
}

// refusingHost refuses every VLAN write with EBUSY and counts the attempts.
type refusingHost struct {
	host.Host
	attempts atomic.Int64
}

func (h *refusingHost) SetVFVLAN(ctx context.Context, pf string, vf int, vlan, qos int, proto sriov.VLANProto) error {
	h.attempts.Add(1)
	return host.Errorf("set vf vlan", syscall.EBUSY, "refused by the test")
}

type repairLog struct {
	mu      sync.Mutex
	reasons []string
}

func (r *repairLog) ObserveRepair(d time.Duration, writes int, reason string) {
	r.mu.Lock()
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
}

// TestRefusedRepairBacksOff: a repair the host refuses is retried with doubling delays up to the cap,
// even when observations come every few milliseconds, and each refusal is reported with its reason.
func TestRefusedRepairBacksOff(t *testing.T) {
	e := newEnv(t, basePolicy)
	rh := &refusingHost{Host: e.lab}
	rl := &repairLog{}
	e.start(e.config(func(c *agent.Config) {
		c.Engine = &agent.LocalEngine{Host: rh, StateDir: e.state}
		c.Resync = 2 * time.Millisecond // an observation every 2ms: without backoff, hundreds of attempts
		c.Metrics = rl
	}))
	e.sctl("vf", "set", "igb0", "0", "--vlan", "9")
	e.waitEvent(agent.EventRefused)
	time.Sleep(500 * time.Millisecond)
	n := rh.attempts.Load()
	// 20, 40, 80, 80, ... ms apart: about 8 attempts in 500ms.
	if n < 3 || n > 14 {
		t.Fatalf("%d attempts in 500ms\n%s", n, e.eventLog())
	}
	var delays []string
	for _, ev := range e.agent.Events().Since(0) {
		if ev.Kind == agent.EventRefused {
			_, d, _ := strings.Cut(ev.Message, "retrying in ")
			delays = append(delays, d)
		}
	}
	if len(delays) < 4 || delays[0] != "20ms" || delays[1] != "40ms" || delays[2] != "80ms" || delays[3] != "80ms" {
		t.Fatalf("delays %v", delays)
	}
	if v := e.vf("igb0", 0); v.VLAN != 9 {
		t.Fatalf("vlan %d", v.VLAN)
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.reasons) == 0 || rl.reasons[0] != "host_busy" {
		t.Fatalf("reasons %v", rl.reasons)
	}
	if s := e.agent.Snapshot(); !strings.HasPrefix(s.Pending, "refused") || s.Failures < 3 {
		t.Fatalf("snapshot pending %q failures %d", s.Pending, s.Failures)
	}
}

// countingEngine is an Engine that counts observations and never drifts.
type countingEngine struct{ drifts atomic.Int64 }

func (c *countingEngine) Drift(ctx context.Context, d *agent.Desired) (*agent.Drift, error) {
	c.drifts.Add(1)
	return &agent.Drift{Observed: &sriov.Host{}, Desired: d, At: time.Now()}, nil
}

func (c *countingEngine) Repair(ctx context.Context, src agent.Source, o agent.RepairOptions) (*agent.Repair, error) {
	return nil, errors.New("countingEngine never repairs")
}

type noSource struct{}

func (noSource) Name() string { return "none" }
func (noSource) Load(ctx context.Context) (*agent.Desired, error) {
	return &agent.Desired{Origin: "none"}, nil
}

// TestBurstIsOneObservation: 4096 change notifications in a burst cost one observation.
func TestBurstIsOneObservation(t *testing.T) {
	eng := &countingEngine{}
	a := run(t, agent.Config{Engine: eng, Source: noSource{}, Quiet: 30 * time.Millisecond, MaxDelay: 5 * time.Second})
	for eng.drifts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	before := eng.drifts.Load()
	for range 4096 {
		a.Kick()
	}
	time.Sleep(200 * time.Millisecond)
	if got := eng.drifts.Load() - before; got != 1 {
		t.Fatalf("%d observations for one burst of 4096 events", got)
	}
}
