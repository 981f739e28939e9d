//go:build vmguest

package guest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPFMTU: on the real igb driver, a policy selecting the PF by match sets its MTU before creating the
// VFs; igb's range is 68-9216 (the profile's maxMtu) and the kernel's own wording says so beyond it; a
// value the planner knows igb refuses is exit 2 before anything is written.
func TestPFMTU(t *testing.T) {
	setNumVFs(t, 0)
	h := kernelHost(t)
	ctx := context.Background()
	t.Cleanup(func() {
		if err := h.SetPFMTU(ctx, pf, 1500); err != nil {
			t.Errorf("MTU back to 1500: %v", err)
		}
	})
	dir := t.TempDir()
	sd := "--state-dir=" + filepath.Join(dir, "state")
	pol := filepath.Join(dir, "mtu.yaml")
	if err := os.WriteFile(pol, []byte("pfs:\n  - match: {driver: igb, vendorId: \"8086\"}\n    numVfs: 2\n    mtu: 9000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, sd, "plan", "-f", pol)
	if i, j := strings.Index(out, pf+": mtu 1500 -> 9000"), strings.Index(out, pf+": numvfs 0 -> 2"); i < 0 || j < 0 || i > j {
		t.Fatalf("plan: want the MTU before the VFs:\n%s", out)
	}
	mustRun(t, sd, "apply", "-f", pol)
	if got := readSys("class/net/" + pf + "/mtu"); got != "9000" {
		t.Fatalf("PF mtu %s after apply, want 9000", got)
	}
	if p := showJSON(t); p.MTU != 9000 || p.NumVFs != 2 {
		t.Fatalf("show: mtu %d numvfs %d", p.MTU, p.NumVFs)
	}
	if out := mustRun(t, sd, "plan", "-f", pol); !strings.Contains(out, "no changes") {
		t.Fatalf("second plan:\n%s", out)
	}

	// igb's maximum, then one more: the kernel's answer before the driver sees it.
	if err := h.SetPFMTU(ctx, pf, 9216); err != nil {
		t.Fatalf("mtu 9216: %v", err)
	}
	err := h.SetPFMTU(ctx, pf, 9217)
	t.Logf("kernel answer to mtu 9217: %v", err)
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "mtu greater than device maximum") {
		t.Fatalf("mtu 9217: %v, want EINVAL (mtu greater than device maximum)", err)
	}

	if err := os.WriteFile(pol, []byte("pfs:\n  - name: "+pf+"\n    mtu: 9217\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, sd, "apply", "-f", pol)
	if code != 2 || !strings.Contains(stderr, "allowed 68-9216") {
		t.Fatalf("apply mtu 9217: exit %d %q, want 2 naming 68-9216", code, stderr)
	}
	if got := readSys("class/net/" + pf + "/mtu"); got != "9216" {
		t.Fatalf("PF mtu %s after a refused apply, want 9216", got)
	}
	setNumVFs(t, 0)
}

// TestDeviceNames: the PF by devlink handle and lspci's short form, a VF by PCI address and netdev name,
// against the kernel's own names.
func TestDeviceNames(t *testing.T) {
	setNumVFs(t, 2)
	addr := linkName("class/net/" + pf + "/device")
	vf1 := linkName(pfDev("virtfn1"))
	p := showJSON(t)
	v0 := p.VF(0)
	if v0 == nil || v0.Netdev == "" || vf1 == "" {
		t.Fatalf("VFs %+v, virtfn1 %q", p.VFs, vf1)
	}
	for _, ref := range []string{"pci/" + addr, strings.TrimPrefix(addr, "0000:")} {
		if out := mustRun(t, "show", ref); !strings.HasPrefix(out, pf+" ") {
			t.Fatalf("show %s:\n%s", ref, out)
		}
	}
	if out := mustRun(t, "vf", "set", "pci/"+addr, vf1, "--trust", "on"); !strings.Contains(out, pf+" vf 1: trust off -> on") {
		t.Fatalf("vf set by PCI address:\n%s", out)
	}
	if out := mustRun(t, "vf", "set", pf, v0.Netdev, "--vlan", "7"); !strings.Contains(out, pf+" vf 0: vlan 0 (flat) -> 7") {
		t.Fatalf("vf set by netdev:\n%s", out)
	}
	if ip := ipShow(t); ip[1].Trust != "on" || ip[0].VLAN != 7 {
		t.Fatalf("ip: vf 1 trust %s, vf 0 vlan %d", ip[1].Trust, ip[0].VLAN)
	}
	if _, stderr, code := run(t, "vf", "set", pf, "nosuchvf0", "--vlan", "7"); code != 2 || !strings.Contains(stderr, "no VF of "+pf) {
		t.Fatalf("unknown VF netdev: exit %d %q", code, stderr)
	}
	setNumVFs(t, 0)
}
