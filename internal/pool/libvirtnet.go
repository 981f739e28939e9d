package pool

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// LibvirtNetwork returns a libvirt network definition named name that lets libvirt hand out the VFs of
// pool pl itself: <forward mode='hostdev' managed='yes'> with the vfio driver and one PCI <address> per
// VF of the pool, read from pf, the pool's PF as observed. A VM then asks for
// <interface type='network'><source network='NAME'/></interface> and libvirt picks a free VF, binds it to
// vfio-pci for the VM's lifetime and writes the interface's MAC and VLAN to it. Every VF of the pool must
// exist and have a PCI function.
func LibvirtNetwork(name string, pl policy.Pool, pf *sriov.PF) (string, error) {
	if pf.VFsHaveNoDevice {
		return "", fmt.Errorf("pool %s: the VFs of %s (%s) have no PCI function for libvirt to pass to a VM", pl.Name, pf.Name, pf.Driver)
	}
	fwd := &libvirtxml.NetworkForward{Mode: "hostdev", Managed: "yes", Driver: &libvirtxml.NetworkForwardDriver{Name: "vfio"}}
	for _, id := range pl.VFIDs {
		v := pf.VF(id)
		if v == nil {
			return "", fmt.Errorf("pool %s: VF %d of %s does not exist (it has %d VFs): apply the policy that creates it first", pl.Name, id, pf.Name, pf.NumVFs)
		}
		a, err := pciAddress(v.PCIAddress)
		if err != nil {
			return "", fmt.Errorf("pool %s: %s vf %d: %w", pl.Name, pf.Name, id, err)
		}
		fwd.Addresses = append(fwd.Addresses, libvirtxml.NetworkForwardAddress{PCI: &libvirtxml.NetworkForwardAddressPCI{
			Domain: a.Domain, Bus: a.Bus, Slot: a.Slot, Function: a.Function}})
	}
	return (&libvirtxml.Network{Name: name, Forward: fwd}).Marshal()
}
