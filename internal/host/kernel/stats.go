package kernel

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/sriovctl/sriovctl/internal/host"
)

// vfStatsDrivers are PF drivers that report per-VF counters (ndo_get_vf_stats). For the others the kernel
// still sends IFLA_VF_STATS, all zero, so zeros from them mean "not reported", not "no traffic".
var vfStatsDrivers = map[string]bool{
	"i40e": true, "ice": true, "mlx5_core": true, "mlx4_core": true, "bnxt_en": true, "qede": true,
	"octeontx2-pf": true, "rvu_nicpf": true, "hns3": true, "sfc": true, "nfp": true, "idpf": true,
}

// VFStats implements host.StatsReader: the counters of every VF of the PF, by VF id. They come from the
// PF driver's IFLA_VF_STATS (one RTM_GETLINK with statistics, apart from Observe's, which leaves them out)
// when the driver reports them, else from the VF's own netdev (/sys/class/net/VF/statistics) while a
// netdev driver holds the VF. A VF with neither (held by vfio-pci or no driver, on a PF driver without
// VF statistics) is absent. When the list with statistics does not fit into the kernel's answer (about
// 220 VFs), the VFs it misses fall back to their netdevs the same way.
func (h *Host) VFStats(ctx context.Context, pfRef string) (map[int]host.VFStats, error) {
	op := "read VF statistics of " + pfRef
	e, err := h.resolvePF(op, pfRef)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	op = "read VF statistics of " + e.name
	dev := filepath.Join(h.netDir(e.name), "device")
	n, err := readInt(filepath.Join(dev, "sriov_numvfs"))
	if err != nil {
		return nil, mapErr(op, err)
	}
	out := map[int]host.VFStats{}
	if n == 0 {
		return out, nil
	}
	list, err := h.nl.VFInfo(e.ifindex, true)
	if err != nil {
		return nil, mapErr(op+": RTM_GETLINK", err)
	}
	fromDriver := vfStatsDrivers[linkBase(filepath.Join(dev, "driver"))]
	for _, v := range list.VFs {
		if v.Stats != nil && *v.Stats != (host.VFStats{Source: v.Stats.Source}) {
			fromDriver = true // the driver reports them even if it is not in the list above
		}
	}
	if fromDriver {
		for _, v := range list.VFs {
			if v.Stats != nil && v.ID < n {
				out[v.ID] = *v.Stats
			}
		}
	}
	for id := 0; id < n; id++ {
		if _, ok := out[id]; ok {
			continue
		}
		if nd := vfNetdev(h.vfDir(e.name, id)); nd != "" {
			if s, err := netdevStats(filepath.Join(h.vfDir(e.name, id), "net", nd, "statistics")); err == nil {
				out[id] = s
			}
		}
	}
	return out, nil
}

// netdevStats reads a netdev's statistics directory. Netdev counters have no broadcast count: 0.
func netdevStats(dir string) (host.VFStats, error) {
	s := host.VFStats{Source: "netdev"}
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"rx_bytes", &s.RxBytes}, {"tx_bytes", &s.TxBytes}, {"rx_packets", &s.RxPackets}, {"tx_packets", &s.TxPackets},
		{"multicast", &s.Multicast}, {"rx_dropped", &s.RxDropped}, {"tx_dropped", &s.TxDropped},
	} {
		v, err := readString(filepath.Join(dir, f.name))
		if err != nil {
			return s, err
		}
		if *f.dst, err = strconv.ParseUint(v, 10, 64); err != nil {
			return s, fmt.Errorf("%s/%s: %w", dir, f.name, err)
		}
	}
	return s, nil
}
