package apply_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
)

// benchPolicy names every VF of every PF: 240 VFs in one entry with settings at their defaults (the
// planner does the same work whether a value differs or not), and 16 VFs each with its own MAC and VLAN.
func benchPolicy(pfs int) []byte {
	var b strings.Builder
	b.WriteString("pfs:\n")
	for p := range pfs {
		fmt.Fprintf(&b, "  - name: ice%d\n    numVfs: 256\n    vfs:\n      - ids: \"0-239\"\n        vlan: 0\n        spoofchk: true\n        trust: false\n        linkState: auto\n        maxTxRateMbps: 0\n", p)
		for id := 240; id < 256; id++ {
			fmt.Fprintf(&b, "      - ids: \"%d\"\n        mac: \"02:00:00:%02x:%02x:%02x\"\n        vlan: %d\n", id, p, id>>8, id&0xff, 100+id)
		}
	}
	return []byte(b.String())
}

// benchLabs caches one lab per size for the whole test binary: setting up 4096 VFs takes a while.
var (
	benchMu   sync.Mutex
	benchLabs = map[int]string{}
	benchDirs []string
)

// benchLab returns a lab of pfs ice PFs with 256 VFs each, at benchPolicy, and its state dir.
func benchLab(b *testing.B, pfs int) (*lab.Lab, string, []byte) {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	y := benchPolicy(pfs)
	if dir, ok := benchLabs[pfs]; ok {
		l, err := lab.Open(filepath.Join(dir, "lab"))
		if err != nil {
			b.Fatal(err)
		}
		return l, filepath.Join(dir, "state"), y
	}
	dir, err := os.MkdirTemp("", "sriovctl-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	var nics []lab.NIC
	for p := range pfs {
		nics = append(nics, lab.NIC{Name: fmt.Sprintf("ice%d", p), Profile: "ice", TotalVFs: 256})
	}
	l, err := lab.Init(filepath.Join(dir, "lab"), nics)
	if err != nil {
		b.Fatal(err)
	}
	pol, err := policy.Parse("bench.yaml", y)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, err := l.Observe(ctx)
	if err != nil {
		b.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if _, err := apply.Run(ctx, l, st, plan.Build(st, pol, plan.Options{}), y, state, "apply"); err != nil {
		b.Fatal(err)
	}
	benchLabs[pfs] = dir
	return l, state, y
}

var benchSizes = []int{1, 4, 16}

// BenchmarkPlan is `sriovctl plan` without the process: parse the policy, observe the host, plan.
func BenchmarkPlan(b *testing.B) {
	for _, pfs := range benchSizes {
		b.Run(fmt.Sprintf("pfs=%d/vfs=%d", pfs, pfs*256), func(b *testing.B) {
			l, _, y := benchLab(b, pfs)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				pol, err := policy.Parse("bench.yaml", y)
				if err != nil {
					b.Fatal(err)
				}
				st, err := l.Observe(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if p := plan.Build(st, pol, plan.Options{}); len(p.Ops) != 0 || len(p.Problems) != 0 {
					b.Fatalf("plan: %s %v", p.Summary(), p.Problems)
				}
			}
		})
	}
}

// BenchmarkPlanBuild is the planner alone (a pure function of the observed state and the policy).
func BenchmarkPlanBuild(b *testing.B) {
	for _, pfs := range benchSizes {
		b.Run(fmt.Sprintf("pfs=%d/vfs=%d", pfs, pfs*256), func(b *testing.B) {
			l, _, y := benchLab(b, pfs)
			pol, _ := policy.Parse("bench.yaml", y)
			st, _ := l.Observe(context.Background())
			b.ResetTimer()
			for range b.N {
				plan.Build(st, pol, plan.Options{})
			}
		})
	}
}

// BenchmarkNoopApply is `sriovctl apply` on a host that already matches: lock, recovery check, parse,
// observe, plan, run (0 writes; the stored desired state is compared and left alone).
func BenchmarkNoopApply(b *testing.B) {
	for _, pfs := range benchSizes {
		b.Run(fmt.Sprintf("pfs=%d/vfs=%d", pfs, pfs*256), func(b *testing.B) {
			l, state, y := benchLab(b, pfs)
			ctx := context.Background()
			before, _ := l.MutatingOps()
			b.ResetTimer()
			for range b.N {
				lock, err := apply.Acquire(state, true)
				if err != nil {
					b.Fatal(err)
				}
				if rec, err := apply.Recover(ctx, l, state); rec != nil || err != nil {
					b.Fatal(rec, err)
				}
				pol, err := policy.Parse("bench.yaml", y)
				if err != nil {
					b.Fatal(err)
				}
				st, err := l.Observe(ctx)
				if err != nil {
					b.Fatal(err)
				}
				res, err := apply.Run(ctx, l, st, plan.Build(st, pol, plan.Options{}), y, state, "apply")
				if err != nil || res.Writes != 0 {
					b.Fatal(res, err)
				}
				lock.Release()
			}
			b.StopTimer()
			if after, _ := l.MutatingOps(); after != before {
				b.Fatalf("no-op apply made %d host writes", after-before)
			}
		})
	}
}
