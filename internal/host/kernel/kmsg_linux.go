package kernel

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// openKmsg starts reading the kernel log (/dev/kmsg) from its current end, so that a failed write can
// quote what the driver logged about it ("4 VFs already enabled. Disable before enabling 2 VFs",
// "vfio-pci: probe of ... failed with error -22"). It returns nil when the log cannot be read.
func openKmsg() kmsgTail {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if _, err := unix.Seek(fd, 0, 2 /* SEEK_END */); err != nil {
		unix.Close(fd)
		return nil
	}
	return &kmsgFile{fd: fd}
}

type kmsgFile struct{ fd int }

// Lines returns the messages logged since openKmsg that mention match, without their "driver addr: "
// prefix.
func (k *kmsgFile) Lines(match string) []string {
	var out []string
	buf := make([]byte, 8192)
	for range 256 {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EPIPE) { // records were overwritten: go on with the next
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		_, msg, ok := strings.Cut(string(buf[:n]), ";")
		if !ok {
			continue
		}
		msg, _, _ = strings.Cut(msg, "\n") // drop the SUBSYSTEM=/DEVICE= continuation lines
		if !strings.Contains(msg, match) {
			continue
		}
		if _, rest, ok := strings.Cut(msg, match+": "); ok {
			msg = rest
		}
		out = append(out, strings.TrimSpace(msg))
	}
	return out
}

func (k *kmsgFile) Close() {
	if k.fd >= 0 {
		unix.Close(k.fd)
		k.fd = -1
	}
}
