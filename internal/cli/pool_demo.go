package cli

import (
	"encoding/json"
	"fmt"

	"github.com/sriovctl/sriovctl/internal/jsonout"
)

func init() {
	addDemoSection(demoSection{Order: 60, Title: "Hand VFs to VMs", Run: demoPools})
}

func demoPools(d *Demo) error {
	d.Say("Pools are named sets of VFs in the policy; apply stores it, and the pool commands read it from there.")
	pol, err := d.WriteFile("vms.yaml", `pfs:
  - name: ens2f0          # i40e
    numVfs: 4
    vfs:
      - ids: "0-3"
        spoofchk: true
pools:
  - name: vms
    pf: ens2f0
    ids: "0-3"
    driver: vfio-pci      # bound when a VF is assigned
`)
	if err != nil {
		return err
	}
	steps := [][]string{
		{"apply", "-f", pol, "--yes"},
		{"pool", "list"},
	}
	for _, s := range steps {
		if _, err := d.OK(s...); err != nil {
			return err
		}
	}
	d.Say("Give VM web1 a VF with its MAC and VLAN, as a libvirt <interface> element for its domain XML.")
	if _, err := d.OK("assign", "--pool", "vms", "--owner", "web1", "--mac", "52:54:00:00:00:01", "--vlan", "100", "--format", "libvirt"); err != nil {
		return err
	}
	d.Say("Asking again gets the same VF and lease: assign is idempotent per owner.")
	out, err := d.OK("assign", "--pool", "vms", "--owner", "web1", "--mac", "52:54:00:00:00:01", "--vlan", "100", "--format", "json")
	if err != nil {
		return err
	}
	var web1 jsonout.Assign
	if err := json.Unmarshal([]byte(out), &web1); err != nil {
		return fmt.Errorf("assign --format json: %w", err)
	}
	d.Say("More VMs: a QEMU command line, and two more VFs until the pool runs out.")
	if _, err := d.OK("assign", "--pool", "vms", "--owner", "db1", "--vlan", "200", "--trust", "on", "--format", "qemu"); err != nil {
		return err
	}
	for _, vm := range []string{"cache1", "cache2"} {
		if _, err := d.OK("assign", "--pool", "vms", "--owner", vm); err != nil {
			return err
		}
	}
	if _, err := d.Run(1, "assign", "--pool", "vms", "--owner", "batch1"); err != nil {
		return err
	}
	if _, err := d.OK("assignments"); err != nil {
		return err
	}
	d.Say("A policy that shrinks the PF would pull VFs out of running VMs: plan and apply refuse, naming the owners.")
	shrink, err := d.WriteFile("shrink.yaml", "pfs:\n  - name: ens2f0\n    numVfs: 2\n")
	if err != nil {
		return err
	}
	if _, err := d.Run(1, "plan", "-f", shrink); err != nil {
		return err
	}
	d.Say("Releasing web1 puts its VF back exactly as it was before (MAC, VLAN, driver...).")
	if _, err := d.OK("release", "--owner", "web1"); err != nil {
		return err
	}
	if _, err := d.OK("show", "ens2f0"); err != nil {
		return err
	}
	if _, err := d.OK("assign", "--pool", "vms", "--owner", "batch1", "--mac", "52:54:00:00:00:09"); err != nil {
		return err
	}
	d.Say("The VF now belongs to batch1: a late release with web1's old lease must not touch it.")
	if _, err := d.OK("release", "--lease", web1.Lease); err != nil {
		return err
	}
	for _, vm := range []string{"db1", "cache1", "cache2", "batch1"} {
		if _, err := d.OK("release", "--owner", vm); err != nil {
			return err
		}
	}
	_, err = d.OK("pool", "list")
	return err
}
