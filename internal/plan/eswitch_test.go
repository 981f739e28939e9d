package plan_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestEswitchModeInPolicy: eswitchMode on a PF. Without VFs the mode is set before VFs are created; with
// VFs the PF goes through 0 (disruptive, naming the VFs it destroys) and its VFs get their settings and
// drivers back; a NIC without switchdev or an unknown mode is a problem.
func TestEswitchModeInPolicy(t *testing.T) {
	ctx := context.Background()
	withVFs := func(l *lab.Lab) {
		must(t, l.SetNumVFs(ctx, "mlx0", 2))
		must(t, l.SetVFVLAN(ctx, "mlx0", 1, 100, 0, sriov.VLANProto8021Q))
		must(t, l.BindVF(ctx, "mlx0", 0, "vfio-pci"))
	}
	tests := []struct {
		name       string
		setup      func(l *lab.Lab)
		policy     string
		want       []string
		disruptive int
		problem    string
	}{
		{"no VFs: mode, then VFs", nil, "pfs:\n  - name: mlx0\n    eswitchMode: switchdev\n    numVfs: 2\n",
			[]string{"mlx0: eswitchMode legacy -> switchdev", "mlx0: numvfs 0 -> 2"}, 0, ""},
		{"with VFs: through 0 and back", withVFs, "pfs:\n  - name: mlx0\n    eswitchMode: switchdev\n",
			[]string{"mlx0: numvfs 2 -> 0", "mlx0: eswitchMode legacy -> switchdev", "mlx0: numvfs 0 -> 2",
				"mlx0 vf 0: driver mlx5_core -> vfio-pci", "mlx0 vf 1: vlan 0 (flat) -> 100"}, 1, ""},
		{"already", nil, "pfs:\n  - name: mlx0\n    eswitchMode: legacy\n", nil, 0, ""},
		{"igb has none", nil, "pfs:\n  - name: igb0\n    eswitchMode: switchdev\n", nil, 0, "no switchdev eswitch"},
		{"bad mode", nil, "pfs:\n  - name: mlx0\n    eswitchMode: hybrid\n", nil, 0, "allowed legacy or switchdev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st := newHost(t, tt.setup)
			p := plan.Build(st, parse(t, tt.policy), plan.Options{})
			if tt.problem != "" {
				if len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Msg, tt.problem) || len(p.Ops) != 0 {
					t.Fatalf("problems %+v, ops %v; want one naming %q", p.Problems, describe(p), tt.problem)
				}
				return
			}
			if len(p.Problems) != 0 {
				t.Fatalf("problems %+v", p.Problems)
			}
			if got := describe(p); !slices.Equal(got, tt.want) {
				t.Fatalf("ops\n got %q\nwant %q", got, tt.want)
			}
			d := 0
			for _, o := range p.Ops {
				if o.Disruptive {
					d++
				}
			}
			if d != tt.disruptive {
				t.Fatalf("%d disruptive ops, want %d", d, tt.disruptive)
			}
		})
	}
}
