package kernel

import (
	"context"
	"fmt"
)

// mtuLinks is the netlink call SetPFMTU makes: RTM_SETLINK with IFLA_MTU on the PF's ifindex. A vfLinks
// that also implements it (tests' fakes) is used; otherwise linkSetMTU (vishvananda/netlink's
// LinkSetMTU on Linux).
type mtuLinks interface {
	SetMTU(ifindex, mtu int) error
}

// SetPFMTU sets the PF netdev's MTU. The kernel checks it against the device's own range (min_mtu,
// max_mtu) and answers EINVAL with "mtu greater than device maximum" or "mtu less than device minimum"
// in the extended ack; the driver may refuse it too (its reason is then quoted from the kernel log).
// Some drivers reset the NIC to take a new MTU, so the PF's link may go down and up.
func (h *Host) SetPFMTU(_ context.Context, pfRef string, mtu int) error {
	op := fmt.Sprintf("set mtu %d on %s", mtu, pfRef)
	return h.withPF(op, pfRef, func(e pfEntry) error {
		set := linkSetMTU
		if ml, ok := h.nl.(mtuLinks); ok {
			set = ml.SetMTU
		}
		h.markLog()
		return h.withKernelLog(mapErr(op, set(e.ifindex, mtu)), e.addr)
	})
}
