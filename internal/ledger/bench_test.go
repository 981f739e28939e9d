package ledger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/applytest"
)

// BenchmarkDurableAssign is the ledger's share of an assign in one open session (the path the agent
// uses): the intent commit (record "assigning") and the completion commit (record "assigned"), each
// fsynced. Each iteration also appends 512 bytes to a file in the same directory and fsyncs it, timed
// apart: interleaving cancels the drift of a shared disk. It reports both rates and their ratio (the
// goal is >= 0.25: two bbolt commits are four fdatasyncs). "with-backup" includes the last good copy as
// Close writes it, "per-commit-backup" the rejected alternative of copying after every commit.
func BenchmarkDurableAssign(b *testing.B) {
	for _, tc := range []struct {
		name   string
		backup string
	}{{"with-backup", "close"}, {"per-commit-backup", "commit"}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := applytest.BenchDir(b)
			l, err := Open(context.Background(), filepath.Join(dir, "state"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			raw, err := os.Create(filepath.Join(dir, "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			buf := make([]byte, 512)
			var tAssign, tRaw time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				r := rec(i%256, "vm")
				r.State = StateAssigning
				if err := l.Put(r); err != nil {
					b.Fatal(err)
				}
				r.State = StateAssigned
				if err := l.Put(r); err != nil {
					b.Fatal(err)
				}
				if tc.backup == "commit" {
					l.backup()
					l.backup()
				}
				t1 := time.Now()
				if _, err := raw.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := raw.Sync(); err != nil {
					b.Fatal(err)
				}
				tRaw += time.Since(t1)
				tAssign += t1.Sub(t0)
				i++
			}
			if tc.backup == "close" {
				t0 := time.Now()
				l.backup() // once per session; here charged to the whole run
				tAssign += time.Since(t0)
			}
			assigns := float64(i) / tAssign.Seconds()
			fsyncs := float64(i) / tRaw.Seconds()
			b.ReportMetric(assigns, "assigns/s")
			b.ReportMetric(fsyncs, "raw-fsyncs/s")
			b.ReportMetric(assigns/fsyncs, "assigns/raw-fsync")
		})
	}
}

// BenchmarkOpen is the cost of opening an existing ledger of 256 records: validation (meta pages, bbolt's
// consistency check) and no commit.
func BenchmarkOpen(b *testing.B) {
	dir := filepath.Join(applytest.BenchDir(b), "state")
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
