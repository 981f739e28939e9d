package lab

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestTrafficCounters(t *testing.T) {
	ctx := context.Background()
	const (
		vf0MAC = "02:00:00:00:00:10"
		group  = "02:00:00:00:00:99"
		size   = 100
	)
	type want map[string]host.VFStats // counters added per port
	rx := func(n uint64) host.VFStats { return host.VFStats{RxPackets: n, RxBytes: n * size, Source: "lab"} }
	tx := func(n uint64) host.VFStats { return host.VFStats{TxPackets: n, TxBytes: n * size, Source: "lab"} }
	bc := func(s host.VFStats) host.VFStats { s.Broadcast = s.RxPackets; return s }
	cases := []struct {
		name    string
		profile string
		setup   func(t *testing.T, l *Lab)
		frame   eswitch.Frame
		verdict string
		want    want
	}{
		{"unicast from the wire", "igb", nil,
			eswitch.Frame{From: "wire", Dst: vf0MAC}, eswitch.Delivered,
			want{"wire": tx(5), "vf:0": rx(5)}},
		{"broadcast from a VF", "igb", nil,
			eswitch.Frame{From: "vf:1", Dst: "ff:ff:ff:ff:ff:ff"}, eswitch.Delivered,
			want{"vf:1": tx(5), "pf": bc(rx(5)), "vf:0": bc(rx(5)), "vf:2": bc(rx(5)), "wire": bc(rx(5))}},
		{"multicast from the PF", "ice", nil,
			eswitch.Frame{From: "pf", Dst: "01:00:5e:00:00:01"}, eswitch.Delivered,
			want{"pf": tx(5), "vf:0": {RxPackets: 5, RxBytes: 500, Multicast: 5, Source: "lab"}, "vf:1": {RxPackets: 5, RxBytes: 500, Multicast: 5, Source: "lab"},
				"vf:2": {RxPackets: 5, RxBytes: 500, Multicast: 5, Source: "lab"}, "wire": {RxPackets: 5, RxBytes: 500, Multicast: 5, Source: "lab"}}},
		{"spoof check drops at the sender", "igb", nil,
			eswitch.Frame{From: "vf:1", Src: "02:00:00:00:00:77", Dst: vf0MAC}, eswitch.Dropped,
			want{"vf:1": {TxDropped: 5, Source: "lab"}}},
		{"unknown unicast from the wire dropped at the PF", "ice", nil,
			eswitch.Frame{From: "wire", Dst: "02:00:00:00:00:55"}, eswitch.Dropped,
			want{"wire": tx(5), "pf": {RxDropped: 5, Source: "lab"}}},
		{"igb netdev still on its old MAC drops", "igb", func(t *testing.T, l *Lab) {
			if err := l.SetVFMAC(ctx, "p0", 2, "02:00:00:00:00:22"); err != nil { // no VF driver reload
				t.Fatal(err)
			}
		}, eswitch.Frame{From: "wire", Dst: "02:00:00:00:00:22"}, eswitch.Dropped,
			want{"wire": tx(5), "vf:2": {RxDropped: 5, Source: "lab"}}},
		{"mirror group: same MAC on two VFs", "ice", func(t *testing.T, l *Lab) {
			for _, id := range []int{1, 2} {
				if err := l.SetVFMAC(ctx, "p0", id, group); err != nil {
					t.Fatal(err)
				}
			}
		}, eswitch.Frame{From: "wire", Dst: group}, eswitch.Delivered,
			want{"wire": tx(5), "vf:1": rx(5), "vf:2": rx(5)}},
		{"mirror group: switchdev rule", "mlx5", func(t *testing.T, l *Lab) {
			if err := l.SetNumVFs(ctx, "p0", 0); err != nil {
				t.Fatal(err)
			}
			if err := l.SetEswitchMode(ctx, "p0", "switchdev"); err != nil {
				t.Fatal(err)
			}
			if err := l.SetNumVFs(ctx, "p0", 3); err != nil {
				t.Fatal(err)
			}
			if err := l.AddMirrorRule(ctx, "p0", sriov.MirrorRule{Name: "tap", MAC: group, VFs: []int{0, 2}}); err != nil {
				t.Fatal(err)
			}
		}, eswitch.Frame{From: "wire", Dst: group}, eswitch.Delivered,
			want{"wire": tx(5), "vf:0": rx(5), "vf:2": rx(5)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, NIC{Name: "p0", Profile: c.profile, TotalVFs: 4})
			if err := l.SetNumVFs(ctx, "p0", 3); err != nil {
				t.Fatal(err)
			}
			if err := l.SetVFMAC(ctx, "p0", 0, vf0MAC); err != nil {
				t.Fatal(err)
			}
			if err := l.BindVF(ctx, "p0", 0, ""); err != nil { // reload so that igb's netdev takes the MAC
				t.Fatal(err)
			}
			if err := l.BindVF(ctx, "p0", 0, pfOf(t, l, "p0").VFs[1].Driver); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(t, l)
			}
			ops0, _ := l.MutatingOps()
			res, err := l.SendTraffic(ctx, "p0", Traffic{Frame: c.frame, Count: 5, Size: size})
			if err != nil {
				t.Fatal(err)
			}
			if res.Trace.Verdict != c.verdict {
				t.Fatalf("verdict %s (%s), want %s", res.Trace.Verdict, res.Trace.Reason, c.verdict)
			}
			if !reflect.DeepEqual(map[string]host.VFStats(c.want), res.Added) {
				t.Fatalf("added\n %+v\nwant\n %+v", res.Added, c.want)
			}
			// Counters are durable: another process (another Lab value) reads them.
			other, err := Open(l.Dir())
			if err != nil {
				t.Fatal(err)
			}
			stats, err := other.VFStats(ctx, pfOf(t, l, "p0").PCIAddress)
			if err != nil {
				t.Fatal(err)
			}
			if len(stats) != 3 {
				t.Fatalf("stats for %d VFs, want 3", len(stats))
			}
			for id, s := range stats {
				w := c.want[eswitch.VFPort(id)]
				w.Source = "lab"
				if s != w {
					t.Errorf("vf %d stats %+v, want %+v", id, s, w)
				}
			}
			if ops, _ := l.MutatingOps(); ops != ops0 {
				t.Fatalf("traffic counted as a host write")
			}
		})
	}
}

// Counters add up across sends and start at zero again when a VF is destroyed and created anew.
func TestTrafficCountersAccumulateAndReset(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 4})
	if err := l.SetNumVFs(ctx, "p0", 2); err != nil {
		t.Fatal(err)
	}
	send := func() {
		t.Helper()
		if _, err := l.SendTraffic(ctx, "p0", Traffic{Frame: eswitch.Frame{From: "wire", Dst: "ff:ff:ff:ff:ff:ff"}, Count: 3, Size: 64}); err != nil {
			t.Fatal(err)
		}
	}
	send()
	send()
	stats, _ := l.VFStats(ctx, "p0")
	if s := stats[1]; s.RxPackets != 6 || s.Broadcast != 6 || s.RxBytes != 6*64 {
		t.Fatalf("after two sends vf 1: %+v", s)
	}
	if err := l.SetVFTrust(ctx, "p0", 1, true); err != nil { // a setting change keeps counters
		t.Fatal(err)
	}
	if stats, _ := l.VFStats(ctx, "p0"); stats[1].RxPackets != 6 {
		t.Fatalf("a VF setting reset the counters: %+v", stats[1])
	}
	for _, n := range []int{0, 2} {
		if err := l.SetNumVFs(ctx, "p0", n); err != nil {
			t.Fatal(err)
		}
	}
	stats, _ = l.VFStats(ctx, "p0")
	if stats[1] != (host.VFStats{Source: "lab"}) {
		t.Fatalf("a new VF starts with counters %+v", stats[1])
	}
	send()
	if err := l.Reboot(); err != nil {
		t.Fatal(err)
	}
	if stats, _ := l.VFStats(ctx, "p0"); len(stats) != 0 {
		t.Fatalf("after a reboot: %v", stats)
	}
}

func TestTrafficRefusesBadBursts(t *testing.T) {
	l := newLab(t, NIC{Name: "p0", Profile: "ice", TotalVFs: 4})
	for _, tr := range []Traffic{{Count: 0, Size: 64}, {Count: 1, Size: 10}, {Count: 1, Size: MaxFrameSize + 1}, {Count: MaxCount + 1, Size: 64}} {
		tr.Frame = eswitch.Frame{From: "wire", Dst: "ff:ff:ff:ff:ff:ff"}
		var fe *sriov.FieldError
		if _, err := l.SendTraffic(context.Background(), "p0", tr); !asFieldErr(err, &fe) {
			t.Errorf("%+v: %v, want a field error", tr, err)
		}
	}
}

func asFieldErr(err error, fe **sriov.FieldError) bool { return errors.As(err, fe) }
