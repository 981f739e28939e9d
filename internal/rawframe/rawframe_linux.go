// Package rawframe sends and captures raw Ethernet frames on a netdev with AF_PACKET sockets, for the
// guest tests that check the switch model against a real NIC (they need root; Linux only).
package rawframe

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EtherType of test frames: IEEE 802 local experimental.
const EtherType = 0x88b5

// Build makes a frame dst <- src, tagged vlan unless 0, carrying payload, padded to 60 bytes.
func Build(dst, src string, vlan int, payload []byte) ([]byte, error) {
	d, err := net.ParseMAC(dst)
	if err != nil {
		return nil, err
	}
	s, err := net.ParseMAC(src)
	if err != nil {
		return nil, err
	}
	f := append(append([]byte{}, d...), s...)
	if vlan != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, uint16(vlan))
	}
	f = binary.BigEndian.AppendUint16(f, EtherType)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// open returns an AF_PACKET socket bound to dev that sees every frame, with a short receive timeout.
func open(dev string) (int, int, error) {
	i, err := net.InterfaceByName(dev)
	if err != nil {
		return -1, 0, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, 0, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: i.Index}); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("bind %s: %w", dev, err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd, i.Index, nil
}

// Send sends frame on dev.
func Send(dev string, frame []byte) error {
	fd, ifindex, err := open(dev)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var addr [8]byte
	copy(addr[:], frame[:6])
	return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6, Addr: addr})
}

// Capture counts the frames carrying a marker that a netdev receives and sends.
type Capture struct {
	fd      int
	mu      sync.Mutex
	in, out int
	done    chan struct{}
}

// Listen starts counting, on dev, frames that contain marker.
func Listen(dev string, marker []byte) (*Capture, error) {
	fd, _, err := open(dev)
	if err != nil {
		return nil, err
	}
	c := &Capture{fd: fd, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 2048)
		for {
			n, sa, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if err == unix.EAGAIN || err == unix.EINTR {
					continue
				}
				return // closed
			}
			if !strings.Contains(string(buf[:n]), string(marker)) {
				continue
			}
			c.mu.Lock()
			if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				c.out++
			} else {
				c.in++
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// Stop ends the capture and returns how many marked frames dev received and sent.
func (c *Capture) Stop() (in, out int) {
	unix.Shutdown(c.fd, unix.SHUT_RDWR)
	unix.Close(c.fd)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in, c.out
}
