package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The package's own rtnetlink socket. vishvananda/netlink reads into a fixed 64 KiB buffer (too small for
// a PF with about 220 VFs, its issue #960) and, after one oversized answer, switches LinkByName to full
// link dumps for the whole process; its handles cannot turn on extended acks. So VF reads and writes go
// through one socket of our own, opened once per Host: answers are read whole (the datagram's size is
// peeked first), extended acks are on (the kernel's own error text), requests carry the PF's ifindex.

// nlTransport carries netlink datagrams: a socket, or recorded answers in tests.
type nlTransport interface {
	send(b []byte) error
	// recv returns the next datagram whole.
	recv() ([]byte, error)
}

// Netlink header flags not in older x/sys releases.
const (
	nlmFCapped      = 0x100 // NLM_F_CAPPED: the error message echoes only the request's header
	nlmFAckTLVs     = 0x200 // NLM_F_ACK_TLVS: extended-ack attributes follow
	nlmsgerrAttrMsg = 1     // NLMSGERR_ATTR_MSG
)

// nlConn sends one request at a time on a transport opened on first use.
type nlConn struct {
	mu   sync.Mutex
	tr   nlTransport
	open func() (nlTransport, error)
	seq  uint32
}

// request sends a netlink message of type typ with body (the ifinfomsg and its attributes) and returns
// the payload of the answer of type want, or nil when the answer is an ack. Errors are the kernel's errno,
// with its extended-ack text as "errno: text".
func (c *nlConn) request(typ, flags uint16, body []byte, want uint16) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tr == nil {
		tr, err := c.open()
		if err != nil {
			return nil, fmt.Errorf("netlink socket: %w", err)
		}
		c.tr = tr
	}
	c.seq++
	seq := c.seq
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	msg = append(msg, body...)
	if err := c.tr.send(msg); err != nil {
		return nil, err
	}
	for {
		d, err := c.tr.recv()
		if err != nil {
			return nil, err
		}
		payload, done, err := answerOf(d, seq, want)
		if done || err != nil {
			return payload, err
		}
	}
}

// answerOf looks for the answer to request seq in one datagram: the payload of a message of type want,
// an ack (done, nil payload), or the kernel's error. Messages of other requests (answers that came after
// an earlier request gave up) are skipped.
func answerOf(d []byte, seq uint32, want uint16) (payload []byte, done bool, err error) {
	for len(d) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(d[0:4]))
		typ := binary.NativeEndian.Uint16(d[4:6])
		flags := binary.NativeEndian.Uint16(d[6:8])
		if l < unix.SizeofNlMsghdr || l > len(d) {
			return nil, true, errors.New("malformed netlink answer")
		}
		body := d[unix.SizeofNlMsghdr:l]
		if binary.NativeEndian.Uint32(d[8:12]) == seq {
			switch typ {
			case unix.NLMSG_ERROR:
				return nil, true, ackError(body, flags)
			case unix.NLMSG_DONE:
				return nil, true, nil
			case want:
				return body, true, nil
			}
		}
		d = d[min((l+3)&^3, len(d)):]
	}
	return nil, false, nil
}

// ackError reads struct nlmsgerr and its extended-ack attributes: nil for a plain ack.
func ackError(b []byte, flags uint16) error {
	if len(b) < 4 {
		return errors.New("short netlink error message")
	}
	code := int32(binary.NativeEndian.Uint32(b[0:4]))
	if code == 0 {
		return nil
	}
	err := error(unix.Errno(-code))
	if flags&nlmFAckTLVs == 0 || len(b) < 4+unix.SizeofNlMsghdr {
		return err
	}
	rest := b[4:]
	echoed := unix.SizeofNlMsghdr // NLM_F_CAPPED: the header only
	if flags&nlmFCapped == 0 {
		echoed = int(binary.NativeEndian.Uint32(rest[0:4]))
	}
	if echoed = (echoed + 3) &^ 3; echoed > len(rest) {
		return err
	}
	walkAttrs(rest[echoed:], func(typ uint16, v []byte) bool {
		if typ == nlmsgerrAttrMsg {
			if msg := unix.ByteSliceToString(v); msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			return false
		}
		return true
	})
	return err
}

// nlSocket is a NETLINK_ROUTE socket.
type nlSocket struct{ fd int }

// openNLSocket opens the socket with extended acks on (and capped echoes), a large receive buffer where
// allowed, and timeout on sends and receives so that a request never waits without bound.
func openNLSocket(timeout time.Duration) (nlTransport, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Best effort: old kernels lack extended acks; an unprivileged process cannot force the buffer size.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return &nlSocket{fd: fd}, nil
}

func (s *nlSocket) send(b []byte) error {
	return unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func (s *nlSocket) recv() ([]byte, error) {
	for {
		// Peek at the size of the next datagram, then read all of it.
		n, _, err := unix.Recvfrom(s.fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return nil, fmt.Errorf("%w: no answer from the kernel", unix.ETIMEDOUT)
		}
		if err != nil {
			return nil, err
		}
		buf := make([]byte, max(n, unix.SizeofNlMsghdr))
		if n, _, err = unix.Recvfrom(s.fd, buf, 0); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, err
		}
		return buf[:n], nil
	}
}
