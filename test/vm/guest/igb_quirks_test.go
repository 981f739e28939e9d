//go:build vmguest

package guest

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestIGBQuirks records igb behaviours that the lab's igb profile does not (yet) model (and one, 1., that
// it now does: rebindReportsVfMac), so that a
// change of the driver or of the lab shows up here. See the notes in the closing report of issue 3.
func TestIGBQuirks(t *testing.T) {
	setNumVFs(t, 0)
	setNumVFs(t, 2)
	h := kernelHost(t)
	ctx := context.Background()

	// 1. Rebinding igbvf to a VF without an admin MAC: the PF then reports the MAC igbvf picked for
	// itself as the VF's MAC (IFLA_VF_MAC), where it reported 00:00:00:00:00:00 after VF creation.
	before := showJSON(t).VF(1)
	mustRun(t, "vf", "bind", pf, "1", "none")
	unbound := showJSON(t).VF(1)
	mustRun(t, "vf", "bind", pf, "1", "igbvf")
	after := showJSON(t).VF(1)
	t.Logf("VF 1 MAC: created %s (netdev %s); unbound %s; rebound %s (netdev %s)",
		before.MAC, before.NetdevMAC, unbound.MAC, after.MAC, after.NetdevMAC)
	if before.MAC != sriov.ZeroMAC || unbound.MAC != sriov.ZeroMAC {
		t.Errorf("fresh or unbound VF reports MAC %s / %s", before.MAC, unbound.MAC)
	}
	if after.MAC == sriov.ZeroMAC || after.MAC != after.NetdevMAC {
		t.Errorf("rebound VF: MAC %s, netdev MAC %s: igb no longer reports igbvf's own MAC", after.MAC, after.NetdevMAC)
	}

	// 2. Rates need PF link: with the PF down igb refuses max_tx_rate with EINVAL.
	if out, err := exec.Command(ipBin, "link", "set", pf, "down").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	errDown := h.SetVFRate(ctx, pf, 0, 0, 100)
	t.Logf("max_tx_rate 100 with the PF down: %v", errDown)
	if out, err := exec.Command(ipBin, "link", "set", pf, "up").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && readSys("class/net/"+pf+"/carrier") != "1" {
		time.Sleep(100 * time.Millisecond)
	}
	if !errors.Is(errDown, syscall.EINVAL) {
		t.Errorf("max_tx_rate with the PF down: %v, want EINVAL", errDown)
	}
	if err := h.SetVFRate(ctx, pf, 0, 0, 100); err != nil {
		t.Errorf("max_tx_rate 100 with link back: %v", err)
	}
	if err := h.SetVFRate(ctx, pf, 0, 0, 0); err != nil {
		t.Error(err)
	}

	// 4. The PF's own state during VF changes: numvfs changes reset the PF and drop its link.
	start := time.Now()
	if err := h.SetNumVFs(ctx, pf, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("numvfs 2 -> 0 incl. waiting for PF link: %s, PF operstate %s", time.Since(start).Round(time.Millisecond), readSys("class/net/"+pf+"/operstate"))
}
