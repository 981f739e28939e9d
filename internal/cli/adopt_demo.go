package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

func init() {
	addDemoSection(demoSection{Order: 25, Title: "Adopt a host someone already set up", Run: demoAdopt})
}

// demoAdopt exports the igb PF that section 20 set up by hand, plans the export (no changes), converts a
// netplan file, and shows plan's warning when netplan also manages the PF.
func demoAdopt(d *Demo) error {
	d.Say("The igb PF was set up by hand above. export writes the policy that describes it as it is; what a\n# policy cannot say (vf 0's MAC waits for an igbvf reload) is a note, on stderr and in the file.")
	path := filepath.Join(d.LabDir, "adopted.yaml")
	if _, err := d.OK("export", "ens5f0", "-o", path); err != nil {
		return err
	}
	d.Say("Planning the export on the same host finds nothing to do (--exit-code: 3 if it did).")
	if _, err := d.OK("plan", "-f", path, "--exit-code"); err != nil {
		return err
	}
	d.Say("A host set up by netplan: import converts its SR-IOV settings, with a note for each one it cannot keep.")
	np, err := d.WriteFile("50-sriov.yaml", `network:
  version: 2
  ethernets:
    ens5f0:
      virtual-function-count: 4
      mtu: 9000
    ens5f0v0:
      link: ens5f0
      macaddress: "02:00:00:00:00:10"
  vlans:
    ens5f0v0.100:
      renderer: sriov
      id: 100
      link: ens5f0v0
`)
	if err != nil {
		return err
	}
	if _, err := d.OK("import", "netplan", np); err != nil {
		return err
	}
	d.Say("While netplan still manages the PF, plan and apply warn: both would set it at every boot.\n# (A lab keeps the other tools' files under LAB/root: here LAB/root/etc/netplan.)")
	etc := filepath.Join(d.LabDir, "root", "etc", "netplan")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(np)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "50-sriov.yaml"), data, 0o600); err != nil {
		return err
	}
	out, err := d.OK("plan", "-f", path)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "netplan also manages ens5f0") {
		return errors.New("demo: plan did not warn that netplan also manages ens5f0")
	}
	return os.RemoveAll(filepath.Join(d.LabDir, "root"))
}
