package ledger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchDir is where the benchmarks write: SRIOVCTL_BENCH_DIR to pick a disk, else the test's temp dir.
func benchDir(b *testing.B) string {
	if d := os.Getenv("SRIOVCTL_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// rawFsyncRate is the disk's rate of 512-byte appends each followed by fsync, in dir: the floor under any
// durable commit.
func rawFsyncRate(b *testing.B, dir string, d time.Duration) float64 {
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, start := 0, time.Now()
	for time.Since(start) < d {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkDurableAssign is the ledger's share of an assign in one open session (the path the agent
// uses): the intent commit (record "assigning") and the completion commit (record "assigned"), each
// fsynced, plus the last-good copy after each. The raw write+fsync rate of the same directory is measured
// before and after (interleaved, to cancel drift) and the ratio reported: the goal is >= 0.25.
func BenchmarkDurableAssign(b *testing.B) {
	for _, tc := range []struct {
		name   string
		backup bool
	}{{"with-backup", true}, {"no-backup", false}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := benchDir(b)
			l, err := Open(context.Background(), filepath.Join(dir, "state"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			l.noBackup = !tc.backup
			calib := 300 * time.Millisecond
			if testing.Short() {
				calib = 50 * time.Millisecond
			}
			raw := rawFsyncRate(b, dir, calib)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				r := rec(i%256, "vm")
				r.State = StateAssigning
				if err := l.Put(r); err != nil {
					b.Fatal(err)
				}
				r.State = StateAssigned
				if err := l.Put(r); err != nil {
					b.Fatal(err)
				}
				i++
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.StopTimer()
			raw = (raw + rawFsyncRate(b, dir, calib)) / 2
			b.ReportMetric(rate, "assigns/s")
			b.ReportMetric(raw, "raw-fsyncs/s")
			b.ReportMetric(rate/raw, "assigns/raw-fsync")
		})
	}
}

// BenchmarkOpen is the cost of opening an existing ledger of 256 records: validation (meta pages, bbolt's
// consistency check) and no commit.
func BenchmarkOpen(b *testing.B) {
	dir := filepath.Join(benchDir(b), "state")
	l, err := Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	l.Update(func(t *Tx) error {
		for i := range 256 {
			if err := t.Put(rec(i, "vm")); err != nil {
				return err
			}
		}
		return nil
	})
	l.Close()
	for _, ro := range []bool{false, true} {
		name := "read-write"
		open := Open
		if ro {
			name, open = "read-only", OpenReadOnly
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				l, err := open(context.Background(), dir)
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
	}
}
