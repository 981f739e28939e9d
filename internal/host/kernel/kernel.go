// Package kernel implements host.Host for a real Linux host: SR-IOV PFs and VFs are discovered from
// sysfs, VF attributes are read with one RTM_GETLINK per PF (IFLA_EXT_MASK=RTEXT_FILTER_VF) and set with
// RTM_SETLINK through github.com/vishvananda/netlink, sriov_numvfs and driver binding are written to sysfs.
// It never shells out. The sysfs root is configurable so that discovery, numvfs and binding can be
// tested on a fake tree; the netlink side sits behind the small vfLinks interface for the same reason.
package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Options configure the kernel backend.
type Options struct {
	// SysfsRoot is where sysfs is mounted; "" means /sys.
	SysfsRoot string
	// WaitTimeout bounds the wait for VFs (virtfnN links and netdevs) after sriov_numvfs is written and
	// for a VF's netdev after a driver bind; 0 means DefaultWaitTimeout.
	WaitTimeout time.Duration
	// Progress, when set, is called while waiting for VFs with how many are ready out of how many
	// ("waiting for VFs: 23/64"); the last call has ready == total, or ready == -1 when the wait failed.
	Progress func(ready, total int)
}

// DefaultWaitTimeout is long enough for mlx5 creating 125 VFs (~65 s).
const DefaultWaitTimeout = 120 * time.Second

// Host is the kernel backend. Create it with New.
type Host struct {
	sys      string
	timeout  time.Duration
	progress func(ready, total int)
	nl       vfLinks
	// kmsg opens the kernel log for quoting a driver's words on failure; nil in tests.
	kmsg func() kmsgTail
}

// kmsgTail reads the kernel log records logged after it was opened.
type kmsgTail interface {
	// Lines returns the records that mention match (a PCI address), without their "driver addr: " prefix.
	Lines(match string) []string
	Close()
}

// openLog starts a kernel-log tail, or returns nil.
func (h *Host) openLog() kmsgTail {
	if h.kmsg == nil {
		return nil
	}
	return h.kmsg()
}

// withKernelLog adds what the kernel logged about addr to a host error that has no detail of its own,
// and closes the tail.
func withKernelLog(err error, log kmsgTail, addr string) error {
	if log == nil {
		return err
	}
	defer log.Close()
	var he *host.Error
	if err == nil || addr == "" || !errors.As(err, &he) || he.Detail != "" {
		return err
	}
	if lines := log.Lines(addr); len(lines) > 0 {
		c := *he
		c.Detail = strings.Join(lines, "; ")
		return &c
	}
	return err
}

var _ host.Host = (*Host)(nil)

// vfInfo is one IFLA_VF_INFO entry of a PF's RTM_GETLINK answer.
type vfInfo struct {
	ID     int
	Config sriov.VFConfig
}

// vfLinks is the rtnetlink side of the backend: one RTM_GETLINK per PF to read every VF, one RTM_SETLINK
// per attribute to change one. Errors carry the kernel's errno (and extended-ack wording if any).
type vfLinks interface {
	VFInfo(pf string) ([]vfInfo, error)
	EswitchMode(pciAddr string) string
	SetMAC(pf string, vf int, mac string) error
	SetVLAN(pf string, vf, vlan, qos int, proto sriov.VLANProto) error
	SetSpoofCheck(pf string, vf int, on bool) error
	SetTrust(pf string, vf int, on bool) error
	SetLinkState(pf string, vf int, state sriov.LinkState) error
	SetRate(pf string, vf, minMbps, maxMbps int) error
	SetQueryRSS(pf string, vf int, on bool) error
}

func newHost(opts Options, nl vfLinks) (*Host, error) {
	root := opts.SysfsRoot
	if root == "" {
		root = "/sys"
	}
	t := opts.WaitTimeout
	if t <= 0 {
		t = DefaultWaitTimeout
	}
	h := &Host{sys: root, timeout: t, progress: opts.Progress, nl: nl}
	pfs, err := h.pfNames()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s: %v", host.ErrUnavailable, filepath.Join(root, "class/net"), err)
	}
	if len(pfs) == 0 {
		return nil, fmt.Errorf("%w: this host has no SR-IOV capable network device (no %s/class/net/*/device/sriov_totalvfs); use --lab DIR for an emulated host",
			host.ErrUnavailable, root)
	}
	return h, nil
}

// --- sysfs helpers ----------------------------------------------------------------------------------------

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readInt(path string) (int, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// linkBase returns the last element of a symlink's target ("" when there is no link).
func linkBase(path string) string {
	t, err := os.Readlink(path)
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// writeSysfs writes one value the way `echo v > file` does, returning the errno of the write.
func writeSysfs(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value + "\n")
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// errnoOf extracts the errno of an I/O or netlink error (0 when there is none).
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// mapErr turns a kernel error into a host.Error for op, keeping the kernel's wording: the extended-ack
// message of netlink errors, the errno's own text otherwise.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var he *host.Error
	if errors.As(err, &he) {
		return host.Wrap(op, err)
	}
	errno := errnoOf(err)
	if errno == 0 {
		return &host.Error{Op: op, Kind: host.KindFailed, Detail: err.Error()}
	}
	detail := ""
	if msg := err.Error(); strings.HasPrefix(msg, errno.Error()+": ") {
		detail = strings.TrimPrefix(msg, errno.Error()+": ") // netlink extended ack
	}
	return host.Errorf(op, errno, "%s", detail)
}
