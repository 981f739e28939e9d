package nodeagent_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host/lab"
)

// counter counts the HTTP requests of every agent (watches count once, when they start).
type counter struct {
	n      atomic.Int64
	mu     sync.Mutex
	byKind map[string]int
}

func (c *counter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.n.Add(1)
		kind := r.Method + " " + resourceOf(r.URL.Path)
		c.mu.Lock()
		if c.byKind == nil {
			c.byKind = map[string]int{}
		}
		c.byKind[kind]++
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

// resourceOf is the resource (and subresource) of an API path: /apis/G/V/R/NAME/SUB -> R/SUB.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) > 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) > 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "discovery"
	}
	if len(parts) > 1 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return "discovery"
	case 1, 2:
		return parts[0]
	}
	return parts[0] + "/" + parts[2]
}

// reset zeroes the counts and returns those so far, per method and resource.
func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.byKind
	c.byKind = map[string]int{}
	c.n.Store(0)
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkNonDisruptiveRollout: how long a non-disruptive change (a VLAN on all 256 VFs of every node)
// takes to reach every node of a fleet, from the policy update until every node state says Converged at
// the new generation, and how many API requests each node's agent makes for it. 50 nodes (-short: 8),
// each on a lab host with one 256-VF PF, with the agents' production timings (resync 30s, status delay
// 500ms). Reported: ms/rollout (wall time per change), req/node (requests per node per change) and
// req/reconcile (requests per observation the agents made meanwhile).
func BenchmarkNonDisruptiveRollout(b *testing.B) {
	nodes := 50
	if testing.Short() {
		nodes = 8
	}
	e := startEnv(b)
	var c counter
	f := e.fleet(b, "bench", nodes, options{nics: []lab.NIC{{Name: "ens1f0", Profile: "ice", TotalVFs: 256}},
		resync: 30 * time.Second, statusDelay: 500 * time.Millisecond, wrap: c.wrap})
	gen := f.policy("bench", `policy: {pfs: [{name: ens1f0, numVfs: 256}]}`)
	f.converged("bench", gen, 5*time.Minute)
	observations := func() uint64 {
		var n uint64
		for _, nd := range f.nodes {
			n += nd.agent.Observations()
		}
		return n
	}
	b.ResetTimer()
	var total time.Duration
	var reqs int64
	var obs uint64
	for i := 0; i < b.N; i++ {
		time.Sleep(2 * time.Second) // let the previous change's status writes settle before counting
		c.reset()
		o0 := observations()
		start := time.Now()
		gen = f.policy("bench", fmt.Sprintf(`policy: {pfs: [{name: ens1f0, numVfs: 256, vfs: [{ids: "0-255", vlan: %d}]}]}`, 100+i))
		f.converged("bench", gen, 5*time.Minute)
		total += time.Since(start)
		reqs += c.n.Load()
		obs += observations() - o0
		b.Logf("requests for change %d, per method and resource: %v", i, c.reset())
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/rollout")
	b.ReportMetric(float64(reqs)/float64(b.N*nodes), "req/node")
	if obs > 0 {
		b.ReportMetric(float64(reqs)/float64(obs), "req/reconcile")
	}
	b.ReportMetric(0, "ns/op")
}
