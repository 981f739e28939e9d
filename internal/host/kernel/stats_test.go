package kernel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host"
)

// VFStats: the PF driver's IFLA_VF_STATS where it reports them, else the VF netdev's own counters, and
// nothing for a VF with neither; asked for in a request of its own, with statistics.
func TestVFStats(t *testing.T) {
	drvStats := func(id int) *host.VFStats {
		return &host.VFStats{RxBytes: uint64(1000 * (id + 1)), TxPackets: uint64(id + 1), Source: "vf_stats"}
	}
	zero := &host.VFStats{Source: "vf_stats"}
	for _, c := range []struct {
		name   string
		driver string
		stats  func(id int) *host.VFStats
		want   map[int]string // VF id -> source
	}{
		{"driver reports VF stats", "i40e", drvStats, map[int]string{0: "vf_stats", 1: "vf_stats", 2: "vf_stats"}},
		{"unknown driver with non-zero counters", "acme", drvStats, map[int]string{0: "vf_stats", 1: "vf_stats", 2: "vf_stats"}},
		{"igb: zeros mean not reported", "igb", func(int) *host.VFStats { return zero }, map[int]string{0: "netdev", 2: "netdev"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("eth0", "0000:01:00.0", 7, 3)
			if err := os.Remove(filepath.Join(f.root, "devices/pci0000:00/0000:01:00.0/driver")); err != nil {
				t.Fatal(err)
			}
			f.mkdir("bus/pci/drivers/" + c.driver)
			f.link("../../../bus/pci/drivers/"+c.driver, "devices/pci0000:00/0000:01:00.0/driver")
			f.mkdir("bus/pci/drivers/vfio-pci")
			f.addVF("0000:01:00.0", 0, "0000:01:10.0", "igbvf", "eth1")
			f.addVF("0000:01:00.0", 1, "0000:01:10.2", "vfio-pci", "")
			f.addVF("0000:01:00.0", 2, "0000:01:10.4", "igbvf", "eth3")
			for id, nd := range map[int]string{0: "eth1", 2: "eth3"} {
				dir := fmt.Sprintf("devices/pci0000:00/0000:01:10.%d/net/%s/statistics/", 2*id, nd)
				for i, name := range []string{"rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "multicast", "rx_dropped", "tx_dropped"} {
					f.write(dir+name, fmt.Sprintf("%d\n", 10*id+i))
				}
			}
			var infos []vfInfo
			for id := 0; id < 3; id++ {
				infos = append(infos, vfInfo{ID: id, Config: cfg("", 0), Stats: c.stats(id)})
			}
			nl := &fakeLinks{infos: map[int][]vfInfo{10: infos}}
			h, _ := newHost(Options{SysfsRoot: f.root}, nl)
			got, err := h.VFStats(context.Background(), "eth0")
			if err != nil {
				t.Fatal(err)
			}
			sources := map[int]string{}
			for id, s := range got {
				sources[id] = s.Source
			}
			if !reflect.DeepEqual(sources, c.want) {
				t.Fatalf("sources %v, want %v", sources, c.want)
			}
			if want := []string{"get 10 stats=true"}; !reflect.DeepEqual(nl.calls, want) {
				t.Errorf("calls %v, want %v", nl.calls, want)
			}
			if c.want[2] == "netdev" {
				if want := (host.VFStats{RxBytes: 20, TxBytes: 21, RxPackets: 22, TxPackets: 23, Multicast: 24, RxDropped: 25, TxDropped: 26, Source: "netdev"}); got[2] != want {
					t.Errorf("VF 2: %+v, want %+v", got[2], want)
				}
			} else if got[1] != *drvStats(1) {
				t.Errorf("VF 1: %+v", got[1])
			}
		})
	}
}
