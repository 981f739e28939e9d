// Package metrics exports the agent's view as Prometheus metrics: per-VF traffic counters labelled with
// the VF's owner and pool while it is assigned, a per-VF info metric, per-PF VF counts and drift, per-PF
// and per-pool VFs in use and free, repair counts and durations, and build info.
//
// Host state comes from the agent's latest observation (no extra host reads at scrape time); counters are
// read at scrape time from the backend's host.StatsReader, and are simply absent on a backend without one
// and for VFs that have no source of counters (a VF held by vfio-pci on a driver without IFLA_VF_STATS):
// absent, never zero, so that a rate() over them is not a lie.
package metrics

import (
	"context"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/ledger"
)

const ns = "sriovctl"

// View is what the collector reads: the agent (or a fake in tests).
type View interface {
	Snapshot() agent.Snapshot
	Stats() host.StatsReader
}

// Metrics is the agent's registry and the repair instruments the agent feeds (agent.RepairObserver).
type Metrics struct {
	Registry *prometheus.Registry
	repairs  prometheus.Counter
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	c        *collector
}

// SetView sets what the collector reads.
func (m *Metrics) SetView(v View) { m.c.v.Store(&v) }

// New registers every metric. v may be nil until SetView: the agent and its metrics refer to each other.
func New(v View) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), c: &collector{}}
	m.c.v.Store(&v)
	m.repairs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "repairs_total",
		Help: "Repairs that wrote the host back to its desired state."})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "repair_failures_total",
		Help: "Repairs refused by the host or the planner, by reason (host_<errno kind>, plan_<problem kind>, other)."}, []string{"reason"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "repair_duration_seconds",
		Help:    "Duration of repairs (lock wait, recovery, planning and host writes), by result.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"result"})
	for _, r := range []string{"ok", "failed"} {
		m.duration.WithLabelValues(r)
	}
	m.Registry.MustRegister(m.repairs, m.failures, m.duration, buildInfo(), m.c)
	return m
}

// ObserveRepair implements agent.RepairObserver.
func (m *Metrics) ObserveRepair(d time.Duration, writes int, reason string) {
	if reason == "" {
		m.repairs.Inc()
		m.duration.WithLabelValues("ok").Observe(d.Seconds())
		return
	}
	m.failures.WithLabelValues(reason).Inc()
	m.duration.WithLabelValues("failed").Observe(d.Seconds())
}

func buildInfo() prometheus.Collector {
	version, revision := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info", Help: "Always 1; labels say which sriovctl runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

var (
	vfLabels   = []string{"pf", "vf", "pci_address", "owner", "pool", "source"}
	counterDef = []struct {
		name, help string
		get        func(host.VFStats) uint64
	}{
		{"vf_receive_bytes_total", "Bytes the VF received.", func(s host.VFStats) uint64 { return s.RxBytes }},
		{"vf_transmit_bytes_total", "Bytes the VF transmitted.", func(s host.VFStats) uint64 { return s.TxBytes }},
		{"vf_receive_packets_total", "Packets the VF received.", func(s host.VFStats) uint64 { return s.RxPackets }},
		{"vf_transmit_packets_total", "Packets the VF transmitted.", func(s host.VFStats) uint64 { return s.TxPackets }},
		{"vf_receive_broadcast_packets_total", "Broadcast packets the VF received.", func(s host.VFStats) uint64 { return s.Broadcast }},
		{"vf_receive_multicast_packets_total", "Multicast packets the VF received.", func(s host.VFStats) uint64 { return s.Multicast }},
		{"vf_receive_dropped_packets_total", "Received packets dropped.", func(s host.VFStats) uint64 { return s.RxDropped }},
		{"vf_transmit_dropped_packets_total", "Transmitted packets dropped.", func(s host.VFStats) uint64 { return s.TxDropped }},
	}
)

// descSet holds the metric descriptions, built on first use (NewDesc checks names and labels) so that the
// commands that never serve metrics do not pay for them at start.
type descSet struct {
	counters                                                 []*prometheus.Desc
	vfInfo, pfNumVFs, pfTotalVFs, pfDrifted, pfInUse, pfFree *prometheus.Desc
	poolInUse, poolFree, inSync, observed, obsTotal          *prometheus.Desc
}

var descs = sync.OnceValue(func() *descSet {
	d := &descSet{}
	for _, c := range counterDef {
		d.counters = append(d.counters, prometheus.NewDesc(ns+"_"+c.name, c.help+" Labels owner and pool are set while the VF is assigned; source says where the counter comes from (vf_stats, netdev, lab).", vfLabels, nil))
	}
	d.vfInfo = prometheus.NewDesc(ns+"_vf_info", "Always 1: a VF's configuration and owner as labels.",
		[]string{"pf", "vf", "pci_address", "mac", "vlan", "spoofchk", "trust", "driver", "owner", "pool"}, nil)
	d.pfNumVFs = prometheus.NewDesc(ns+"_pf_numvfs", "VFs the PF has now (sriov_numvfs).", []string{"pf", "pci_address"}, nil)
	d.pfTotalVFs = prometheus.NewDesc(ns+"_pf_totalvfs", "VFs the PF can have (sriov_totalvfs).", []string{"pf", "pci_address"}, nil)
	d.pfDrifted = prometheus.NewDesc(ns+"_pf_drifted", "1 when the PF or one of its VFs differs from the desired state.", []string{"pf", "pci_address"}, nil)
	d.pfInUse = prometheus.NewDesc(ns+"_pf_vfs_in_use", "VFs of the PF handed to owners (ledger records).", []string{"pf", "pci_address"}, nil)
	d.pfFree = prometheus.NewDesc(ns+"_pf_vfs_free", "VFs of the PF not handed to any owner.", []string{"pf", "pci_address"}, nil)
	d.poolInUse = prometheus.NewDesc(ns+"_pool_vfs_in_use", "VFs of the pool handed to owners.", []string{"pool", "pf"}, nil)
	d.poolFree = prometheus.NewDesc(ns+"_pool_vfs_free", "VFs of the pool that exist and are free.", []string{"pool", "pf"}, nil)
	d.inSync = prometheus.NewDesc(ns+"_agent_in_sync", "1 when the host matches the desired state at the last observation.", nil, nil)
	d.observed = prometheus.NewDesc(ns+"_agent_last_observation_timestamp_seconds", "When the agent last observed the host.", nil, nil)
	d.obsTotal = prometheus.NewDesc(ns+"_agent_observations_total", "Observations of the host (one per burst of events).", nil, nil)
	return d
})

// collector reads the agent's latest observation at scrape time.
type collector struct{ v atomic.Pointer[View] }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ds := descs()
	for _, d := range ds.counters {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{ds.vfInfo, ds.pfNumVFs, ds.pfTotalVFs, ds.pfDrifted, ds.pfInUse, ds.pfFree, ds.poolInUse, ds.poolFree, ds.inSync, ds.observed, ds.obsTotal} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ds := descs()
	vp := c.v.Load()
	if vp == nil || *vp == nil {
		return
	}
	v := *vp
	s := v.Snapshot()
	ch <- prometheus.MustNewConstMetric(ds.obsTotal, prometheus.CounterValue, float64(s.Observations))
	d := s.Drift
	if d == nil || d.Observed == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(ds.observed, prometheus.GaugeValue, float64(d.At.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(ds.inSync, prometheus.GaugeValue, b2f(d.InSync()))
	held := map[string]map[int]ledger.Record{}
	for _, a := range d.Assignments {
		if held[a.PFAddress] == nil {
			held[a.PFAddress] = map[int]ledger.Record{}
		}
		held[a.PFAddress][a.VF] = a.Record
	}
	drifted := d.DriftedVFs()
	sr := v.Stats()
	for _, pf := range d.Observed.PFs {
		pl := []string{pf.Name, pf.PCIAddress}
		ch <- prometheus.MustNewConstMetric(ds.pfNumVFs, prometheus.GaugeValue, float64(pf.NumVFs), pl...)
		ch <- prometheus.MustNewConstMetric(ds.pfTotalVFs, prometheus.GaugeValue, float64(pf.TotalVFs), pl...)
		ch <- prometheus.MustNewConstMetric(ds.pfDrifted, prometheus.GaugeValue, b2f(len(drifted[pf.Name]) > 0), pl...)
		inUse := 0
		for _, v := range pf.VFs {
			if _, ok := held[pf.PCIAddress][v.ID]; ok {
				inUse++
			}
		}
		ch <- prometheus.MustNewConstMetric(ds.pfInUse, prometheus.GaugeValue, float64(inUse), pl...)
		ch <- prometheus.MustNewConstMetric(ds.pfFree, prometheus.GaugeValue, float64(len(pf.VFs)-inUse), pl...)
		var stats map[int]host.VFStats
		if sr != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			stats, _ = sr.VFStats(ctx, pf.Name)
			cancel()
		}
		for _, v := range pf.VFs {
			r := held[pf.PCIAddress][v.ID]
			id := strconv.Itoa(v.ID)
			ch <- prometheus.MustNewConstMetric(ds.vfInfo, prometheus.GaugeValue, 1, pf.Name, id, v.PCIAddress, v.MAC,
				strconv.Itoa(v.VLAN), onOff(v.SpoofCheck), onOff(v.Trust), v.Driver, r.Owner, r.Pool)
			st, ok := stats[v.ID]
			if !ok {
				continue
			}
			for i, cd := range counterDef {
				ch <- prometheus.MustNewConstMetric(ds.counters[i], prometheus.CounterValue, float64(cd.get(st)),
					pf.Name, id, v.PCIAddress, r.Owner, r.Pool, st.Source)
			}
		}
	}
	if d.Desired == nil || d.Desired.Policy == nil {
		return
	}
	for _, p := range d.Desired.Policy.Pools {
		pf := d.Observed.FindPF(p.PF)
		used, free := 0, 0
		for _, id := range p.VFIDs {
			switch {
			case pf == nil:
			case held[pf.PCIAddress] != nil && held[pf.PCIAddress][id].Owner != "":
				used++
			case pf.VF(id) != nil:
				free++
			}
		}
		ch <- prometheus.MustNewConstMetric(ds.poolInUse, prometheus.GaugeValue, float64(used), p.Name, p.PF)
		ch <- prometheus.MustNewConstMetric(ds.poolFree, prometheus.GaugeValue, float64(free), p.Name, p.PF)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
