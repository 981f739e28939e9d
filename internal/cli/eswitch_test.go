package cli_test

import (
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

// TestPFSetEswitchMode: pf set --eswitch-mode on the lab (mlx5: switchdev-capable, igb: not). Without VFs
// the mode just changes; with VFs it goes through 0 only with --force and the VFs come back with their
// settings; invalid input exits 2 and an eswitch the NIC lacks exits 1, both changing nothing.
func TestPFSetEswitchMode(t *testing.T) {
	dir := clitest.NewLab(t)
	mode := func() string { return show(t, dir, "ens4f0").PFs[0]["eswitchMode"].(string) }
	tests := []struct {
		name     string
		args     []string
		exit     int
		out      string
		wantMode string
	}{
		{"to switchdev", []string{"ens4f0", "--eswitch-mode", "switchdev"}, 0, "eswitch legacy -> switchdev", "switchdev"},
		{"again", []string{"ens4f0", "--eswitch-mode", "switchdev"}, 0, "already switchdev, no changes", "switchdev"},
		{"bad mode", []string{"ens4f0", "--eswitch-mode", "hybrid"}, 2, "allowed legacy or switchdev", "switchdev"},
		{"both flags", []string{"ens4f0", "--eswitch-mode", "legacy", "--numvfs", "2"}, 2, "give one of --numvfs, --eswitch-mode and --mtu", "switchdev"},
		{"no switchdev on igb", []string{"ens5f0", "--eswitch-mode", "switchdev"}, 1, "no switchdev eswitch", "switchdev"},
		{"back to legacy", []string{"ens4f0", "--eswitch-mode", "legacy"}, 0, "eswitch switchdev -> legacy", "legacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := clitest.Run(t, append([]string{"--lab", dir, "pf", "set"}, tt.args...)...)
			if r.Code != tt.exit || !strings.Contains(r.Stdout+r.Stderr, tt.out) {
				t.Fatalf("exit %d, want %d with %q: %s%s", r.Code, tt.exit, tt.out, r.Stdout, r.Stderr)
			}
			if got := mode(); got != tt.wantMode {
				t.Fatalf("eswitch mode %q, want %q", got, tt.wantMode)
			}
		})
	}

	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens4f0", "--numvfs", "3")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens4f0", "1", "--vlan", "100", "--trust", "on", "--mac", "02:00:00:00:00:11")
	clitest.MustRun(t, "--lab", dir, "vf", "bind", "ens4f0", "2", "vfio-pci")
	before := show(t, dir, "ens4f0").PFs[0]["vfs"]
	r := clitest.Run(t, "--lab", dir, "pf", "set", "ens4f0", "--eswitch-mode", "switchdev")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--force") || mode() != "legacy" {
		t.Fatalf("with VFs, without --force: exit %d %q, mode %s", r.Code, r.Stderr, mode())
	}
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens4f0", "--eswitch-mode", "switchdev", "--force")
	p := show(t, dir, "ens4f0").PFs[0]
	if p["eswitchMode"] != "switchdev" || p["numVfs"] != 3.0 {
		t.Fatalf("after --force: %v", p)
	}
	vfs, was := p["vfs"].([]any), before.([]any)
	for i := range was {
		w, g := was[i].(map[string]any), vfs[i].(map[string]any)
		for _, k := range []string{"mac", "vlan", "trust", "spoofchk", "driver"} {
			if w[k] != g[k] {
				t.Errorf("VF %d %s: %v before, %v after the mode change", i, k, w[k], g[k])
			}
		}
	}
}
