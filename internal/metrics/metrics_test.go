package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/agenttest"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/metrics"
)

// view is a fixed agent view with fake counters: VF 2 has none (held by vfio-pci without VF stats).
type view struct {
	snap  agent.Snapshot
	stats host.StatsReader
}

func (v view) Snapshot() agent.Snapshot { return v.snap }
func (v view) Stats() host.StatsReader  { return v.stats }

type fakeStats map[string]map[int]host.VFStats

func (f fakeStats) VFStats(ctx context.Context, pf string) (map[int]host.VFStats, error) {
	return f[pf], nil
}

// scrape builds the metrics of a lab with a policy, a pool, an assigned VF and a drifted VF.
func scrape(t *testing.T, stats host.StatsReader) string {
	t.Helper()
	_, d := agenttest.Drifted(t)
	m := metrics.New(view{snap: agent.Snapshot{Drift: d, Observations: 3}, stats: stats})
	m.ObserveRepair(30*time.Millisecond, 2, "")
	m.ObserveRepair(time.Second, 0, "host_busy")
	srv := httptest.NewServer(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetrics(t *testing.T) {
	stats := fakeStats{"igb0": {
		0: {RxBytes: 1000, TxBytes: 2000, RxPackets: 10, TxPackets: 20, Broadcast: 1, Multicast: 2, Source: "netdev"},
		2: {RxBytes: 64, RxPackets: 1, Source: "vf_stats"},
	}}
	out := scrape(t, stats)
	for _, want := range []string{
		`sriovctl_vf_receive_bytes_total{owner="",pci_address="0000:01:10.0",pf="igb0",pool="",source="netdev",vf="0"} 1000`,
		`sriovctl_vf_receive_bytes_total{owner="web1",pci_address="0000:01:10.4",pf="igb0",pool="vms",source="vf_stats",vf="2"} 64`,
		`sriovctl_vf_transmit_packets_total{owner="",pci_address="0000:01:10.0",pf="igb0",pool="",source="netdev",vf="0"} 20`,
		`sriovctl_vf_info{driver="vfio-pci",mac="52:54:00:00:00:01",owner="web1",pci_address="0000:01:10.4",pf="igb0",pool="vms",spoofchk="on",trust="off",vf="2",vlan="0"} 1`,
		`sriovctl_pf_numvfs{pci_address="0000:01:00.0",pf="igb0"} 4`,
		`sriovctl_pf_totalvfs{pci_address="0000:01:00.0",pf="igb0"} 7`,
		`sriovctl_pf_drifted{pci_address="0000:01:00.0",pf="igb0"} 1`,
		`sriovctl_pf_vfs_in_use{pci_address="0000:01:00.0",pf="igb0"} 1`,
		`sriovctl_pf_vfs_free{pci_address="0000:01:00.0",pf="igb0"} 3`,
		`sriovctl_pool_vfs_in_use{pf="igb0",pool="vms"} 1`,
		`sriovctl_pool_vfs_free{pf="igb0",pool="vms"} 1`,
		`sriovctl_repairs_total 1`,
		`sriovctl_repair_failures_total{reason="host_busy"} 1`,
		`sriovctl_repair_duration_seconds_count{result="ok"} 1`,
		`sriovctl_agent_in_sync 0`,
		`sriovctl_build_info{`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	// VFs without counters are absent, not zero.
	if strings.Contains(out, `sriovctl_vf_receive_bytes_total{owner="",pci_address="0000:01:10.2"`) {
		t.Error("vf 1 has no counters but is exported")
	}
	if t.Failed() {
		t.Log(out)
	}
	promtool(t, out)
}

// TestMetricsWithoutStatsReader: a backend without counters exports everything else.
func TestMetricsWithoutStatsReader(t *testing.T) {
	out := scrape(t, nil)
	if strings.Contains(out, "sriovctl_vf_receive_bytes_total{") || !strings.Contains(out, "sriovctl_vf_info{") {
		t.Fatal(out)
	}
	promtool(t, out)
}

// promtool runs `promtool check metrics` (Debian's prometheus package) on a real scrape: it checks the
// exposition format and the naming conventions (units, _total on counters).
func promtool(t *testing.T, out string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SRIOVCTL_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool not installed (apt-get install prometheus)")
		}
		t.Skip("promtool not installed; set SRIOVCTL_REQUIRE_PROMTOOL=1 to fail instead")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(out)
	if res, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(res)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, res)
	}
}
