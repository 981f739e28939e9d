//go:build vmguest

package guest

import (
	"context"
	"os"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/test/scenarios"
)

// TestDifferential runs every scenario file against its real driver (igb-*: the igb PF; netdevsim-*: a
// fresh netdevsim device) and, in the same guest, against a lab whose PF of that profile has the same
// name: each step must give the file's outcome on both, and the final show --json must agree apart from
// addresses and MACs the kernel chose.
func TestDifferential(t *testing.T) {
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			steps, err := scenarios.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			profile, pf := scenarios.Profile(name), pf
			switch profile {
			case "igb":
				setNumVFs(t, 0)
			case "netdevsim":
				pf = newNsim(t, 4).pf
			default:
				t.Fatalf("no real driver for profile %s in the guest", profile)
			}
			labDir := t.TempDir() + "/lab"
			l, err := lab.Init(labDir, []lab.NIC{{Name: pf, Profile: profile}})
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
					t.Errorf("%s:%d: %s: real %s gave %s, want %s (%s)", name, s.Line, s.Text, profile, gotReal, s.Want, detailReal)
				}
				if gotLab != gotReal {
					t.Errorf("LAB DIFFERS %s:%d: %s: real %s %s, lab %s (%s | %s)", name, s.Line, s.Text, profile, gotReal, gotLab, detailReal, detailLab)
				}
			}
			outReal, _, _ := real.Run(ctx, "--json", "show", pf)
			outLab, _, _ := emu.Run(ctx, "--json", "show", pf)
			nReal, err1 := scenarios.Normalize(outReal, scenarios.MACs(steps))
			nLab, err2 := scenarios.Normalize(outLab, scenarios.MACs(steps))
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			t.Logf("final show --json, normalized (real %s):\n%s", profile, nReal)
			if nReal != nLab {
				t.Errorf("LAB DIFFERS: final show --json\nreal %s:\n%s\nlab:\n%s", profile, nReal, nLab)
				os.WriteFile("/tmp/diff-real.json", []byte(nReal), 0o644)
			}
		})
	}
}
