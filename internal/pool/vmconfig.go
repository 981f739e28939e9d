package pool

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// LibvirtInterface returns the libvirt domain <interface type='hostdev' managed='yes'> element that hands
// r's VF to a VM. It carries the VF's MAC and VLAN: libvirt writes both to the VF when the VM starts, so
// they must be the ones sriovctl set. A VF without an admin MAC gets no <mac> (libvirt then picks one);
// a flat VF (VLAN 0) gets no <vlan>. libvirt has no element for the VLAN priority (QoS).
func LibvirtInterface(r ledger.Record) (string, error) {
	addr, err := pciAddress(r.PCIAddress)
	if err != nil {
		return "", err
	}
	iface := &libvirtxml.DomainInterface{
		Managed: "yes",
		Source: &libvirtxml.DomainInterfaceSource{
			Hostdev: &libvirtxml.DomainInterfaceSourceHostdev{
				PCI: &libvirtxml.DomainHostdevSubsysPCISource{Address: addr},
			},
		},
	}
	if r.Config.MAC != "" && r.Config.MAC != sriov.ZeroMAC {
		iface.MAC = &libvirtxml.DomainInterfaceMAC{Address: r.Config.MAC}
	}
	if r.Config.VLAN != 0 {
		iface.VLan = &libvirtxml.DomainInterfaceVLan{Tags: []libvirtxml.DomainInterfaceVLanTag{{ID: uint(r.Config.VLAN)}}}
	}
	return iface.Marshal()
}

// QEMUArgs returns the QEMU command-line arguments that pass r's VF to a VM through vfio-pci.
func QEMUArgs(r ledger.Record) []string {
	return []string{"-device", "vfio-pci,host=" + r.PCIAddress}
}

// pciAddress parses DDDD:BB:SS.F into libvirt's address form.
func pciAddress(s string) (*libvirtxml.DomainAddressPCI, error) {
	var dom, bus, slot, fn uint
	if n, err := fmt.Sscanf(s, "%04x:%02x:%02x.%1x", &dom, &bus, &slot, &fn); err != nil || n != 4 || slot > 0x1f || fn > 7 {
		return nil, fmt.Errorf("VF PCI address %q: want DDDD:BB:SS.F", s)
	}
	return &libvirtxml.DomainAddressPCI{Domain: &dom, Bus: &bus, Slot: &slot, Function: &fn}, nil
}
