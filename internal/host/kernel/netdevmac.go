package kernel

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/host"
)

// addressLinks is the netlink call SetVFNetdevMAC makes: RTM_SETLINK with IFLA_ADDRESS on the VF netdev's
// ifindex. A vfLinks that also implements it (tests' fakes) is used; otherwise linkSetAddress
// (vishvananda/netlink's LinkSetHardwareAddr on Linux).
type addressLinks interface {
	SetAddress(ifindex int, mac net.HardwareAddr) error
}

var _ host.VFNetdevAddresser = (*Host)(nil)

// SetVFNetdevMAC sets the address of VF vf's own netdev, found through the VF's PCI function
// (virtfnN/net/), so only a netdev in this network namespace can be named. The VF driver may ask the PF
// first: igbvf does, and igb refuses an untrusted VF that has an admin MAC (EADDRNOTAVAIL, quoted from
// the kernel log where igb says why).
func (h *Host) SetVFNetdevMAC(_ context.Context, pfRef string, vf int, mac string) error {
	op := fmt.Sprintf("set the netdev address of vf %d on %s to %s", vf, pfRef, mac)
	hw, perr := net.ParseMAC(mac)
	if perr != nil || len(hw) != 6 {
		return host.Errorf(op, syscall.EINVAL, "not a MAC address")
	}
	return h.withPF(op, pfRef, func(e pfEntry) error {
		op := fmt.Sprintf("set the netdev address of vf %d on %s to %s", vf, e.name, mac)
		dir := h.vfDir(e.name, vf)
		if linkBase(dir) == "" {
			return host.Errorf(op, syscall.ENODEV, "%s has no VF %d", e.name, vf)
		}
		netdev := vfNetdev(dir)
		if netdev == "" {
			return host.Errorf(op, syscall.ENODEV, "VF %d has no netdev in this network namespace (no driver that makes one is bound, or it was moved to another namespace)", vf)
		}
		ifindex, err := readInt(filepath.Join(dir, "net", netdev, "ifindex"))
		if err != nil {
			return host.Errorf(op, syscall.ENODEV, "VF %d's netdev %s: %v", vf, netdev, err)
		}
		set := linkSetAddress
		if al, ok := h.nl.(addressLinks); ok {
			set = al.SetAddress
		}
		h.markLog()
		return h.withKernelLog(mapErr(op, set(ifindex, hw)), e.addr)
	})
}
