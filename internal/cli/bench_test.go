package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkRunAssign is `sriovctl assign` run in process on a lab ice PF whose 256 VFs form a pool,
// each iteration a new owner (bench/assign.sh times the same command as a process). It shows the work
// an assign adds to a process start, and what it allocates.
func BenchmarkRunAssign(b *testing.B) {
	dir := b.TempDir()
	var lab string
	run := func(args ...string) {
		b.Helper()
		var out strings.Builder
		if rc := Run(context.Background(), args, strings.NewReader(""), &out, &out); rc != 0 {
			b.Fatalf("sriovctl %s: exit %d: %s", strings.Join(args, " "), rc, out.String())
		}
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("pfs:\n  - name: ens1f0\n    numVfs: 256\npools:\n  - {name: vms, pf: ens1f0, ids: \"0-255\", driver: vfio-pci}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	labs := 0
	newLab := func() {
		labs++
		lab = filepath.Join(dir, fmt.Sprintf("lab%d", labs))
		run("lab", "init", lab, "--nic", "ens1f0=ice:256")
		run("--lab", lab, "apply", "-f", policy, "--yes")
	}
	newLab()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n == 256 { // every VF handed out: a new lab, untimed
			b.StopTimer()
			newLab()
			n = 0
			b.StartTimer()
		}
		if rc := Run(context.Background(), []string{"--lab", lab, "assign", "--pool", "vms", "--owner", fmt.Sprintf("vm-%d", n),
			"--mac", fmt.Sprintf("02:00:00:00:%02x:%02x", n>>8, n&255)}, strings.NewReader(""), io.Discard, io.Discard); rc != 0 {
			b.Fatalf("assign %d: exit %d", n, rc)
		}
		n++
	}
}
