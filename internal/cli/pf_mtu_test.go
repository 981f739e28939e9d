package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

// TestPFSetMTU: pf set --mtu sets the PF's MTU, says so, is a no-op the second time, refuses what the NIC
// cannot take (exit 2, naming the flag and the range, host unchanged) and reports in JSON.
func TestPFSetMTU(t *testing.T) {
	lab := clitest.NewLab(t)
	mtuOf := func() int {
		t.Helper()
		var show struct {
			PFs []struct {
				Name string `json:"name"`
				MTU  int    `json:"mtu"`
			} `json:"pfs"`
		}
		if err := json.Unmarshal([]byte(clitest.MustRun(t, "--lab", lab, "show", "ens5f0", "--json").Stdout), &show); err != nil || len(show.PFs) != 1 {
			t.Fatalf("show --json: %v", err)
		}
		return show.PFs[0].MTU
	}
	if r := clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--mtu", "9000"); r.Stdout != "ens5f0: mtu 1500 -> 9000\n" {
		t.Errorf("pf set --mtu 9000: stdout %q", r.Stdout)
	}
	if got := mtuOf(); got != 9000 {
		t.Errorf("mtu after pf set --mtu 9000: %d", got)
	}
	if r := clitest.MustRun(t, "--lab", lab, "pf", "set", "01:00.0", "--mtu", "9000"); !strings.Contains(r.Stdout, "already 9000, no changes") {
		t.Errorf("pf set --mtu again: stdout %q", r.Stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mtu", "9217"}, `--mtu: invalid value "9217": allowed 68-9216 (the most igb allows)`},
		{[]string{"--mtu", "67"}, `--mtu: invalid value "67": allowed 68-9216`},
		{[]string{"--mtu", "0x2328"}, `--mtu: invalid value "0x2328": want a whole number in plain decimal`},
		{[]string{"--mtu", "1500", "--numvfs", "2"}, "give one of --numvfs, --eswitch-mode and --mtu"},
	} {
		r := clitest.Run(t, append([]string{"--lab", lab, "pf", "set", "ens5f0"}, c.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) || strings.Count(r.Stderr, "\n") != 1 {
			t.Errorf("pf set %v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, r.Code, r.Stderr, c.want)
		}
	}
	if got := mtuOf(); got != 9000 {
		t.Errorf("a refused pf set --mtu changed the MTU to %d", got)
	}
	var out struct {
		MTU, PreviousMTU int
		Ops              []struct {
			Kind string
			From struct{ MTU int }
			To   struct{ MTU int }
		}
	}
	r := clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--mtu", "1500", "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || out.MTU != 1500 || out.PreviousMTU != 9000 ||
		len(out.Ops) != 1 || out.Ops[0].Kind != "mtu" || out.Ops[0].From.MTU != 9000 || out.Ops[0].To.MTU != 1500 {
		t.Errorf("pf set --mtu --json: %v\n%s", err, r.Stdout)
	}
}
