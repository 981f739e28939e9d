package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// BenchmarkEventStorm: the cost of one storm of 4096 VF change notifications, and how many observations
// it causes (observations/storm must stay 1: O(1) per burst, not per VF).
func BenchmarkEventStorm(b *testing.B) {
	eng := &countingEngine{}
	a := run(b, agent.Config{Engine: eng, Source: noSource{}, Quiet: time.Millisecond, MaxDelay: time.Second})
	for eng.drifts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := eng.drifts.Load()
	b.ResetTimer()
	for range b.N {
		before := eng.drifts.Load()
		for range 4096 {
			a.Kick()
		}
		for eng.drifts.Load() == before {
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	time.Sleep(20 * time.Millisecond) // a storm split in two would show a late second observation
	b.ReportMetric(float64(eng.drifts.Load()-start)/float64(b.N), "observations/storm")
}

// BenchmarkDriftToRepaired: from a hand-made VLAN change on the lab to the agent having put it back.
func BenchmarkDriftToRepaired(b *testing.B) {
	e := newEnv(b, basePolicy)
	l := e.lab
	run(b, e.config(func(c *agent.Config) {
		c.Watchers = []agent.Watcher{agent.FilePoller{Path: filepath.Join(e.labDir, "lab.json"), Interval: 5 * time.Millisecond}}
		c.Quiet = 5 * time.Millisecond
	}))
	vlan := func() int {
		st, _ := l.Observe(context.Background())
		return st.FindPF("igb0").VF(1).VLAN
	}
	b.ResetTimer()
	for i := range b.N {
		if err := l.SetVFVLAN(context.Background(), "igb0", 1, 200+i%100, 0, sriov.VLANProto8021Q); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for vlan() != 100 {
			if time.Now().After(deadline) {
				b.Fatal("not repaired in 10s")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// BenchmarkIdle16x256: CPU the agent uses while nothing changes, on a lab of 16 PFs with 256 VFs each
// (SRIOVCTL_BENCH_IDLE sets the window, default 5s; the issue asks for a minute). Reported as CPU
// milliseconds per second of wall time.
func BenchmarkIdle16x256(b *testing.B) {
	window := 5 * time.Second
	if s := os.Getenv("SRIOVCTL_BENCH_IDLE"); s != "" {
		var err error
		if window, err = time.ParseDuration(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	labDir := filepath.Join(dir, "lab")
	var nics []lab.NIC
	pol := "pfs:\n"
	for i := range 16 {
		name := fmt.Sprintf("ice%d", i)
		nics = append(nics, lab.NIC{Name: name, Profile: "ice", TotalVFs: 256})
		// VF counts only: each lab write rewrites the whole lab, so 4096 VF settings would take minutes to
		// apply; the agent's idle cost depends on the number of VFs it observes, not on their settings.
		pol += fmt.Sprintf("  - name: %s\n    numVfs: 256\n", name)
	}
	l, err := lab.Init(labDir, nics)
	if err != nil {
		b.Fatal(err)
	}
	e := &env{t: b, labDir: labDir, state: filepath.Join(labDir, "state"), lab: l}
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(pol), 0o644)
	e.sctl("apply", "-f", filepath.Join(dir, "p.yaml"))
	a := run(b, agent.Config{Engine: &agent.LocalEngine{Host: l, StateDir: e.state}, Source: agent.StoredSource{StateDir: e.state},
		Resync: 30 * time.Second, Watchers: []agent.Watcher{agent.FilePoller{Path: filepath.Join(labDir, "lab.json")}}})
	for a.Snapshot().Drift == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if !a.Snapshot().Drift.InSync() {
		b.Fatal("not in sync at start")
	}
	b.ResetTimer()
	for range b.N {
		c0 := cpuTime()
		t0 := time.Now()
		time.Sleep(window)
		b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/time.Since(t0).Seconds(), "cpu-ms/s")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
