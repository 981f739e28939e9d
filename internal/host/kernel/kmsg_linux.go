package kernel

import (
	"errors"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// openKmsg opens the kernel log (/dev/kmsg) once per Host, positioned at its end, so that a failed write
// can quote what the driver logged about it ("4 VFs already enabled. Disable before enabling 2 VFs",
// "vfio-pci: probe of ... failed with error -22"). Before each write Mark skips what was logged since
// (usually one read that finds nothing); there is no open per write. It returns nil when the log cannot
// be read (no permission, no /dev/kmsg in a container).
func openKmsg() *kmsgFile {
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

type kmsgFile struct {
	mu sync.Mutex
	fd int
}

func (k *kmsgFile) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fd >= 0 {
		unix.Close(k.fd)
		k.fd = -1
	}
}

// Mark drops the records logged so far.
func (k *kmsgFile) Mark() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.read(func(string) {})
}

// Lines returns the messages logged since Mark that mention match, without their "driver addr: " prefix.
func (k *kmsgFile) Lines(match string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	k.read(func(rec string) {
		if m, ok := recordMentioning(rec, match); ok {
			out = append(out, m)
		}
	})
	return out
}

// read passes each new record to f until none is left (a bounded number of reads).
func (k *kmsgFile) read(f func(string)) {
	if k.fd < 0 {
		return
	}
	buf := make([]byte, 8192)
	for range 1024 {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EPIPE) { // records were overwritten: go on with the next
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		f(string(buf[:n]))
	}
}

// recordMentioning reads one /dev/kmsg record ("prio,seq,time,flags;driver addr: text\n KEY=value...")
// and returns its text without the "driver addr: " prefix when it mentions match.
func recordMentioning(rec, match string) (string, bool) {
	_, msg, ok := strings.Cut(rec, ";")
	if !ok {
		return "", false
	}
	msg, _, _ = strings.Cut(msg, "\n") // drop the SUBSYSTEM=/DEVICE= continuation lines
	if !strings.Contains(msg, match) {
		return "", false
	}
	if _, rest, ok := strings.Cut(msg, match+": "); ok {
		msg = rest
	}
	return strings.TrimSpace(msg), true
}
