//go:build vmguest

package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyApply: plan and apply a policy on the real igb driver, re-apply with 0 writes, resize with the
// surviving VFs' settings preserved, drift after a numvfs reset and restore.
func TestPolicyApply(t *testing.T) {
	setNumVFs(t, 0)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	write := func(numVFs int) string {
		p := filepath.Join(dir, fmt.Sprintf("policy-%d.yaml", numVFs))
		y := fmt.Sprintf(`pfs:
  - name: %s
    numVfs: %d
    vfs:
      - ids: "0"
        mac: "02:00:00:00:00:10"
        vlan: 100
        qos: 3
      - ids: "1"
        trust: true
        spoofchk: false
        maxTxRateMbps: 100
      - ids: "2-3"
        vlan: 200
`, pf, numVFs)
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	four, six := write(4), write(6)
	sd := "--state-dir=" + state

	out := mustRun(t, sd, "plan", "-f", four)
	if !strings.Contains(out, "(0 disruptive)") || !strings.Contains(out, "reload igbvf") {
		t.Fatalf("plan:\n%s", out)
	}
	out = mustRun(t, sd, "apply", "-f", four)
	if !strings.Contains(out, "apply: done:") {
		t.Fatalf("apply:\n%s", out)
	}
	check := func(numVFs int) {
		t.Helper()
		p := showJSON(t)
		ip := ipShow(t)
		if p.NumVFs != numVFs || len(ip) != numVFs {
			t.Fatalf("numvfs %d, ip shows %d VFs; want %d", p.NumVFs, len(ip), numVFs)
		}
		v0, v1, v2, v3 := p.VF(0), p.VF(1), p.VF(2), p.VF(3)
		if v0.MAC != "02:00:00:00:00:10" || v0.VLAN != 100 || v0.QoS != 3 || v1.SpoofCheck || !v1.Trust || v1.MaxTxRateMbps != 100 || v2.VLAN != 200 || v3.VLAN != 200 {
			t.Errorf("VFs not at the policy: %+v", p.VFs)
		}
		if v0.Netdev != "" && v0.NetdevMAC != "02:00:00:00:00:10" {
			t.Errorf("VF 0 netdev %s has MAC %s: igbvf was not reloaded", v0.Netdev, v0.NetdevMAC)
		}
		for _, v := range p.VFs {
			compareWithIP(t, v, ip[v.ID])
		}
	}
	check(4)
	if out := mustRun(t, sd, "apply", "-f", four); !strings.Contains(out, "0 writes") {
		t.Fatalf("second apply:\n%s", out)
	}
	if _, errOut, code := run(t, sd, "apply", "-f", six); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("resize without --yes: exit %d", code)
	}
	out = mustRun(t, sd, "apply", "-f", six, "--yes")
	if !strings.Contains(out, "DISRUPTIVE") || !strings.Contains(out, "VFs 0-3 get their settings back") {
		t.Fatalf("resize:\n%s", out)
	}
	check(6)
	if out := mustRun(t, sd, "apply", "-f", six); !strings.Contains(out, "0 writes") {
		t.Fatalf("apply after the resize:\n%s", out)
	}
	// A VF to vfio-pci and back to igbvf: its admin MAC stays clear (igb would report igbvf's own MAC).
	for _, drv := range []string{"vfio-pci", "igbvf"} {
		p := filepath.Join(dir, "bind-"+drv+".yaml")
		y := fmt.Sprintf("pfs:\n  - name: %s\n    vfs:\n      - ids: \"5\"\n        driver: %s\n", pf, drv)
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		mustRun(t, sd, "apply", "-f", p)
		if v := showJSON(t).VF(5); v.Driver != drv || v.MAC != "00:00:00:00:00:00" {
			t.Errorf("VF 5 after binding %s: driver %s, admin MAC %s", drv, v.Driver, v.MAC)
		}
		if out := mustRun(t, sd, "apply", "-f", p); !strings.Contains(out, "0 writes") {
			t.Errorf("second apply of driver %s:\n%s", drv, out)
		}
	}
	mustRun(t, sd, "apply", "-f", six)
	// A PF reset behind sriovctl's back: drift, then restore.
	setNumVFs(t, 0)
	if out := mustRun(t, sd, "status"); !strings.Contains(out, "DRIFT") {
		t.Fatalf("status after reset:\n%s", out)
	}
	mustRun(t, sd, "restore")
	check(6)
	if out := mustRun(t, sd, "status"); !strings.Contains(out, "in sync") {
		t.Fatalf("status after restore:\n%s", out)
	}
	setNumVFs(t, 0)
}
