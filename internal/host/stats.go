package host

import "context"

// VFStats are one VF's traffic counters as the host reports them.
type VFStats struct {
	RxBytes   uint64 `json:"rxBytes"`
	TxBytes   uint64 `json:"txBytes"`
	RxPackets uint64 `json:"rxPackets"`
	TxPackets uint64 `json:"txPackets"`
	Broadcast uint64 `json:"broadcast"`
	Multicast uint64 `json:"multicast"`
	RxDropped uint64 `json:"rxDropped"`
	TxDropped uint64 `json:"txDropped"`
	// Source says where the counters come from: "vf_stats" (the PF driver's IFLA_VF_STATS), "netdev"
	// (the statistics of the VF's own netdev while a netdev driver holds it) or "lab".
	Source string `json:"source"`
}

// StatsReader is implemented by backends that can read per-VF counters. Counters are read apart from
// Observe because they are large (the kernel leaves them out of link dumps on request) and only the agent's
// metrics need them.
type StatsReader interface {
	// VFStats returns the counters of the PF's VFs that have any, by VF id. A VF with no source of
	// counters (e.g. held by vfio-pci on a driver without IFLA_VF_STATS) is absent, not zero.
	VFStats(ctx context.Context, pf string) (map[int]VFStats, error)
}
