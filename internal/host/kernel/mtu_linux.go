package kernel

import "github.com/vishvananda/netlink"

// linkSetMTU is RTM_SETLINK IFLA_MTU on ifindex (the PF is addressed by ifindex, never looked up by name).
func linkSetMTU(ifindex, mtu int) error {
	return netlink.LinkSetMTU(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, mtu)
}
