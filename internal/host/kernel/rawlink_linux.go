package kernel

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// rawVFInfo is the fallback for PFs with many VFs: the same single RTM_GETLINK with RTEXT_FILTER_VF,
// on a socket of our own whose receive buffer is sized to the answer (vishvananda/netlink reads into a
// fixed 64 KB buffer and fails from about 222 VFs, its issue #960), parsed leniently so that a list
// the kernel cut short (its 16-bit length wrapped) still yields the VFs it holds.
func rawVFInfo(pf string) ([]vfInfo, error) {
	ifi, err := net.InterfaceByName(pf)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", unix.ENODEV, err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	tv := unix.Timeval{Sec: 10}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifi.Index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(nl.RTEXT_FILTER_VF)))
	if err := unix.Sendto(fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	for {
		// Peek at the size of the next datagram, then read all of it.
		n, _, err := unix.Recvfrom(fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		if n, _, err = unix.Recvfrom(fd, buf, 0); err != nil {
			return nil, err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			seq := binary.NativeEndian.Uint32(b[8:12])
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return nil, fmt.Errorf("RTM_GETLINK %s: malformed netlink answer", pf)
			}
			if seq == req.Seq {
				switch typ {
				case unix.NLMSG_ERROR:
					if l >= unix.SizeofNlMsghdr+4 {
						if e := int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:])); e != 0 {
							return nil, unix.Errno(-e)
						}
					}
					return nil, fmt.Errorf("RTM_GETLINK %s: no answer", pf)
				case unix.RTM_NEWLINK:
					return parseVFInfoLenient(b[unix.SizeofNlMsghdr:l]), nil
				}
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}
