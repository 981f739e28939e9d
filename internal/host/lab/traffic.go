package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

var _ host.StatsReader = (*Lab)(nil)

// Frame sizes and counts that SendTraffic accepts.
const (
	MinFrameSize = 64
	MaxFrameSize = 9216 // a jumbo frame
	MaxCount     = 1_000_000_000
)

// Traffic is a burst of identical frames to send through a PF's switch.
type Traffic struct {
	Frame eswitch.Frame
	Count int // frames (1-MaxCount)
	Size  int // bytes per frame (MinFrameSize-MaxFrameSize)
}

// TrafficResult is what happened to a burst: the switch model's verdict (the same as `trace` gives for
// one frame), what this burst added to each port's counters, and each touched port's counters after it.
type TrafficResult struct {
	Trace   eswitch.Result          `json:"trace"`
	Added   map[string]host.VFStats `json:"added"`
	Counter map[string]host.VFStats `json:"counters"`
}

// addStats adds d's counters to c's.
func addStats(c, d host.VFStats) host.VFStats {
	return host.VFStats{RxBytes: c.RxBytes + d.RxBytes, TxBytes: c.TxBytes + d.TxBytes, RxPackets: c.RxPackets + d.RxPackets,
		TxPackets: c.TxPackets + d.TxPackets, Broadcast: c.Broadcast + d.Broadcast, Multicast: c.Multicast + d.Multicast,
		RxDropped: c.RxDropped + d.RxDropped, TxDropped: c.TxDropped + d.TxDropped, Source: "lab"}
}

// portKey is a port's key in a PF's stats bucket: the VF id as VF records are keyed, or "pf", "wire".
func portKey(port string) []byte {
	var id int
	if _, err := fmt.Sscanf(port, "vf:%d", &id); err == nil {
		return vfKey(id)
	}
	return []byte(port)
}

func (t *tx) statsBucket(p *pf) (*bolt.Bucket, error) {
	b, err := t.bucket(bktStats)
	if err != nil {
		return nil, err
	}
	if sb := b.Bucket([]byte(p.Name)); sb != nil || !t.b.Writable() {
		return sb, nil
	}
	return b.CreateBucket([]byte(p.Name))
}

// counters reads a port's stored counters (zero when it saw no traffic).
func (t *tx) counters(p *pf, port string) (host.VFStats, error) {
	c := host.VFStats{Source: "lab"}
	sb, err := t.statsBucket(p)
	if err != nil || sb == nil {
		return c, err
	}
	if data := sb.Get(portKey(port)); data != nil {
		if err := json.Unmarshal(data, &c); err != nil {
			return c, fmt.Errorf("lab %s: damaged counters of %s %s: %w", t.dir, p.Name, port, err)
		}
	}
	return c, nil
}

// resetStats forgets a PF's counters: only its VFs' (they went with their VFs), or all of them (the PF
// was reset).
func (t *tx) resetStats(p *pf, vfsOnly bool) error {
	b, err := t.bucket(bktStats)
	if err != nil {
		return err
	}
	sb := b.Bucket([]byte(p.Name))
	if sb == nil {
		return nil
	}
	if !vfsOnly {
		return b.DeleteBucket([]byte(p.Name))
	}
	var keys [][]byte
	if err := sb.ForEach(func(k, _ []byte) error {
		if len(k) == 4 {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := sb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// VFStats returns the counters of every VF of the PF (zero for a VF that saw no traffic), by VF id. The
// lab counts what SendTraffic sends; counters start at zero when a VF is created.
func (l *Lab) VFStats(ctx context.Context, ref string) (map[int]host.VFStats, error) {
	out := map[int]host.VFStats{}
	err := view(ctx, l.dir, func(t *tx) error {
		p, err := t.pf("read vf stats of "+ref, ref)
		if err != nil {
			return err
		}
		for id := 0; id < p.NumVFs; id++ {
			c, err := t.counters(p, eswitch.VFPort(id))
			if err != nil {
				return err
			}
			out[id] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SendTraffic sends a burst of frames into a PF's embedded switch, decides their fate with the same
// switch model as `trace`, and counts them durably: at the sender (tx), at every receiver (rx, and
// broadcast or multicast by destination), and where they are dropped (tx dropped at a sending VF or the
// PF, rx dropped at the PF for frames from the wire, rx dropped at a VF whose netdev drops them). It is
// not a mutating host operation: faults do not apply and MutatingOps does not count it.
func (l *Lab) SendTraffic(ctx context.Context, ref string, tr Traffic) (TrafficResult, error) {
	if tr.Count < 1 || tr.Count > MaxCount {
		return TrafficResult{}, &sriov.FieldError{Field: "--count", Value: fmt.Sprint(tr.Count), Allowed: fmt.Sprintf("allowed 1-%d", MaxCount)}
	}
	if tr.Size < MinFrameSize || tr.Size > MaxFrameSize {
		return TrafficResult{}, &sriov.FieldError{Field: "--size", Value: fmt.Sprint(tr.Size), Allowed: fmt.Sprintf("allowed %d-%d bytes", MinFrameSize, MaxFrameSize)}
	}
	var res TrafficResult
	err := update(ctx, l.dir, func(t *tx) error {
		p, err := t.pf("send traffic on "+ref, ref)
		if err != nil {
			return err
		}
		obs, err := t.observe(p)
		if err != nil {
			return err
		}
		prof := profileOf(p)
		res.Trace = eswitch.New(&obs, prof).Trace(tr.Frame)
		added := count(&obs, tr, res.Trace, prof)
		res.Added, res.Counter = map[string]host.VFStats{}, map[string]host.VFStats{}
		sb, err := t.statsBucket(p)
		if err != nil {
			return err
		}
		for port, d := range added {
			c, err := t.counters(p, port)
			if err != nil {
				return err
			}
			c = addStats(c, d)
			if err := putJSON(sb, portKey(port), c); err != nil {
				return err
			}
			res.Added[port], res.Counter[port] = d, c
		}
		return nil
	})
	return res, err
}

// count turns the model's verdict on one frame into counter increments for a burst of tr.Count.
func count(p *sriov.PF, tr Traffic, r eswitch.Result, prof *nicprofile.Profile) map[string]host.VFStats {
	n, bytes := uint64(tr.Count), uint64(tr.Count)*uint64(tr.Size)
	dst := strings.ToLower(tr.Frame.Dst)
	from, _, _ := eswitch.ParsePort(tr.Frame.From)
	out := map[string]host.VFStats{}
	add := func(port string, d host.VFStats) { out[port] = addStats(out[port], d) }
	sent := host.VFStats{TxPackets: n, TxBytes: bytes}
	if r.Verdict == eswitch.Dropped {
		switch {
		case r.Cause == eswitch.CauseReloadPending:
			// The switch delivered it; the VF's netdev, still on its old MAC, dropped it.
			add(from, sent)
			for _, v := range p.VFs {
				if m := eswitch.VFMAC(v, prof); m.NetdevDrops && strings.EqualFold(m.Filter, dst) && eswitch.VFPort(v.ID) != from {
					add(eswitch.VFPort(v.ID), host.VFStats{RxDropped: n})
				}
			}
		case from == eswitch.PortWire:
			add(eswitch.PortWire, sent)
			add(eswitch.PortPF, host.VFStats{RxDropped: n})
		default:
			add(from, host.VFStats{TxDropped: n})
		}
		return out
	}
	add(from, sent)
	recv := host.VFStats{RxPackets: n, RxBytes: bytes}
	switch {
	case dst == "ff:ff:ff:ff:ff:ff":
		recv.Broadcast = n
	case sriov.IsMulticast(dst):
		recv.Multicast = n
	}
	for _, rc := range r.Receivers {
		add(rc.Port, recv)
	}
	return out
}
