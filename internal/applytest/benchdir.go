package applytest

import (
	"os"
	"testing"
)

// BenchDir is where durability benchmarks write: under SRIOVCTL_BENCH_DIR to pick a disk, else the
// benchmark's temp dir. The ledger's and the pools' benchmarks share it so their rates compare one disk.
func BenchDir(b testing.TB) string {
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
