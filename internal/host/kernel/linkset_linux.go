package kernel

import (
	"net"

	"github.com/vishvananda/netlink"
)

// linkSetMTU is RTM_SETLINK IFLA_MTU on ifindex (the PF is addressed by ifindex, never looked up by name).
func linkSetMTU(ifindex, mtu int) error {
	return netlink.LinkSetMTU(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, mtu)
}

// linkSetAddress is RTM_SETLINK IFLA_ADDRESS on ifindex: the netdev's own MAC.
func linkSetAddress(ifindex int, mac net.HardwareAddr) error {
	return netlink.LinkSetHardwareAddr(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, mac)
}
