//go:build vmguest

package guest

import (
	"context"
	"os"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/test/scenarios"
)

// TestDifferential runs every scenario file against the real igb driver and, in the same guest, against
// a lab whose igb PF has the same name: each step must give the file's outcome on both, and the final
// show --json must agree apart from addresses and MACs the kernel chose.
func TestDifferential(t *testing.T) {
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			steps, err := scenarios.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			setNumVFs(t, 0)
			labDir := t.TempDir() + "/lab"
			l, err := lab.Init(labDir, []lab.NIC{{Name: pf, Profile: "igb"}})
			if err != nil {
				t.Fatal(err)
			}
			runner := func(prefix ...string) func(ctx context.Context, args ...string) (string, string, int) {
				return func(ctx context.Context, args ...string) (string, string, int) {
					return run(t, append(append([]string{}, prefix...), args...)...)
				}
			}
			real := scenarios.Env{PF: pf, Host: kernelHost(t), Run: runner()}
			emu := scenarios.Env{PF: pf, Host: l, Run: runner("--lab", labDir)}
			ctx := context.Background()
			for _, s := range steps {
				gotReal, detailReal := real.Do(ctx, s)
				gotLab, detailLab := emu.Do(ctx, s)
				if gotReal != s.Want {
					t.Errorf("%s:%d: %s: real igb gave %s, want %s (%s)", name, s.Line, s.Text, gotReal, s.Want, detailReal)
				}
				if gotLab != gotReal {
					t.Errorf("LAB DIFFERS %s:%d: %s: real igb %s, lab %s (%s | %s)", name, s.Line, s.Text, gotReal, gotLab, detailReal, detailLab)
				}
			}
			outReal, _, _ := real.Run(ctx, "--json", "show")
			outLab, _, _ := emu.Run(ctx, "--json", "show")
			nReal, err1 := scenarios.Normalize(outReal, scenarios.MACs(steps))
			nLab, err2 := scenarios.Normalize(outLab, scenarios.MACs(steps))
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			t.Logf("final show --json, normalized (real igb):\n%s", nReal)
			if nReal != nLab {
				t.Errorf("LAB DIFFERS: final show --json\nreal igb:\n%s\nlab:\n%s", nReal, nLab)
				os.WriteFile("/tmp/diff-real.json", []byte(nReal), 0o644)
			}
		})
	}
}
