package pool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// labDir puts the emulated host in memory (/dev/shm) when it can: on a real host, VF writes go to the
// kernel, not to a disk, and the lab's file renames would otherwise be counted as ledger cost.
func labDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "sriovctl-bench-lab-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return applytest.BenchDir(b)
}

// writeFsync appends a ledger-record-sized write to f and fsyncs it: the floor under any durable commit.
func writeFsync(f *os.File, buf []byte) error {
	if _, err := f.Write(buf); err != nil {
		return err
	}
	return f.Sync()
}

// BenchmarkRawWriteFsync is the disk's write+fsync rate.
func BenchmarkRawWriteFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(applytest.BenchDir(b), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	b.ResetTimer()
	for b.Loop() {
		if err := writeFsync(f, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fsyncs/s")
}

// BenchmarkDurableAssign is the rate of complete assigns (two fsynced ledger commits, a MAC write and a
// vfio-pci bind on the lab, which lives in memory) in one ledger session. It also measures the raw write+fsync rate in the same
// directory and reports assigns per raw fsync. Filling the pool, it releases everything off the clock.
func BenchmarkDurableAssign(b *testing.B) {
	ctx := context.Background()
	dir := applytest.BenchDir(b)
	const size = 64
	l, err := lab.Init(filepath.Join(labDir(b), "lab"), []lab.NIC{{Name: "eth0", Profile: "ice", TotalVFs: size}})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.SetNumVFs(ctx, "eth0", size); err != nil {
		b.Fatal(err)
	}
	led, err := ledger.Open(ctx, filepath.Join(dir, "state"))
	if err != nil {
		b.Fatal(err)
	}
	defer led.Close()
	ids, _ := policy.ParseIDs(fmt.Sprintf("0-%d", size-1))
	m := &Manager{Host: l, Ledger: led}
	pl := policy.Pool{Name: "bench", PF: "eth0", VFIDs: ids, Driver: "vfio-pci"}

	rawRate := measureRawFsync(b, dir, 1000)
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if n == size {
			b.StopTimer()
			for i := range size {
				if _, err := m.Release(ctx, Selector{Owner: fmt.Sprintf("vm%d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			n = 0
			b.StartTimer()
		}
		mac := fmt.Sprintf("02:00:00:00:%02x:%02x", n/256, n%256)
		if _, err := m.Assign(ctx, Request{Pool: pl, Owner: fmt.Sprintf("vm%d", n), Settings: sriov.VFSettings{MAC: &mac}}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	assignRate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(assignRate, "assigns/s")
	b.ReportMetric(rawRate, "raw-fsyncs/s")
	b.ReportMetric(assignRate/rawRate, "assigns/raw-fsync")
}

func measureRawFsync(b *testing.B, dir string, n int) float64 {
	f, err := os.Create(filepath.Join(dir, "raw-calibration"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	start := time.Now()
	for range n {
		if err := writeFsync(f, buf); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}
