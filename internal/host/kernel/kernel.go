// Package kernel implements host.Host for a real Linux host: SR-IOV PFs and VFs are discovered from
// sysfs, VF attributes are read with one RTM_GETLINK per PF and set with one RTM_SETLINK per attribute
// group, or one per VF carrying all of its groups (SetVFAttrs, host.VFBatcher), both on a netlink socket
// of the package's own (sized to the answer, with extended acks so the kernel's own error text reaches
// the user), and sriov_numvfs and driver binding are written to sysfs. It never
// shells out. The sysfs root is configurable so that discovery, numvfs and binding can be tested on a fake
// tree; the netlink side sits behind the small vfLinks interface, and its wire format is tested on
// recorded and synthetic kernel answers.
//
// A Host resolves each PF once (name, PCI address, ifindex) and reuses that until the kernel answers
// ENODEV/ENOENT for it, so a write costs one netlink message or one sysfs write, not a rescan.
package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Options configure the kernel backend.
type Options struct {
	// SysfsRoot is where sysfs is mounted; "" means /sys.
	SysfsRoot string
	// WaitTimeout bounds the sriov_numvfs write itself (it blocks while vfio-pci's users hold VFs), the
	// wait for VFs (virtfnN links and netdevs) after it, and the wait for a VF's netdev after a driver
	// bind; 0 means DefaultWaitTimeout.
	WaitTimeout time.Duration
	// Progress, when set, is called while waiting for VFs with how many are ready out of how many
	// ("waiting for VFs: 23/64"); the last call has ready == total, or ready == -1 when the wait failed.
	Progress func(ready, total int)
}

// DefaultWaitTimeout is long enough for mlx5 creating 125 VFs (~65 s).
const DefaultWaitTimeout = 120 * time.Second

// Host is the kernel backend. Create it with New. Its methods may be called concurrently.
type Host struct {
	sys      string
	timeout  time.Duration
	progress func(ready, total int)
	nl       vfLinks
	// klog quotes the driver's words on a failed write; nil when the kernel log cannot be read (tests).
	klog kernelLog
	// write writes one sysfs attribute (writeSysfs; tests put a fake kernel's side effects here).
	write func(path, value string) error

	mu  sync.Mutex
	pfs map[string]pfEntry // resolved PFs by the reference callers used (name or PCI address)
}

// pfEntry is a resolved PF: what every write needs, found once per Host.
type pfEntry struct {
	name    string // netdev name
	addr    string // PCI address; the device's name on other buses ("netdevsim10")
	bus     string // the device's bus: "pci", "netdevsim"
	ifindex int
}

// kernelLog reads the kernel log records logged after Mark.
type kernelLog interface {
	// Mark forgets everything logged so far; call it right before a write.
	Mark()
	// Lines returns the records logged since Mark that mention match (a PCI address), without their
	// "driver addr: " prefix.
	Lines(match string) []string
}

// withKernelLog adds what the kernel logged about addr since Mark to a host error that has no detail of
// its own.
func (h *Host) withKernelLog(err error, addr string) error {
	if h.klog == nil || err == nil || addr == "" {
		return err
	}
	var he *host.Error
	if !errors.As(err, &he) || he.Detail != "" {
		return err
	}
	if lines := h.klog.Lines(addr); len(lines) > 0 {
		c := *he
		c.Detail = strings.Join(lines, "; ")
		if host.OutcomeOf(err) == host.Unconfirmed {
			return host.WrittenUnconfirmed(&c)
		}
		return &c
	}
	return err
}

// markLog starts a write's window of the kernel log.
func (h *Host) markLog() {
	if h.klog != nil {
		h.klog.Mark()
	}
}

// Close releases the Host's netlink socket and kernel-log descriptor; the Host must not be used after.
// A command that exits may skip it.
func (h *Host) Close() error {
	if c, ok := h.nl.(interface{ close() }); ok {
		c.close()
	}
	if c, ok := h.klog.(interface{ close() }); ok {
		c.close()
	}
	return nil
}

var _ host.Host = (*Host)(nil)
var _ host.StatsReader = (*Host)(nil)
var _ host.VFBatcher = (*Host)(nil)
var _ host.PFObserver = (*Host)(nil)

// vfInfo is one IFLA_VF_INFO entry of a PF's RTM_GETLINK answer.
type vfInfo struct {
	ID     int
	Config sriov.VFConfig
	// Stats are the entry's IFLA_VF_STATS; nil when the answer had none (requests that skip them).
	Stats *host.VFStats
}

// vfList is what one RTM_GETLINK says about a PF's VFs.
type vfList struct {
	VFs []vfInfo
	// NumVFs is the answer's IFLA_NUM_VF (how many VFs the kernel has), -1 when it carried none.
	NumVFs int
}

// vfLinks is the rtnetlink side of the backend, addressed by ifindex: one RTM_GETLINK per PF to read
// every VF, one RTM_SETLINK per attribute to change one. Errors carry the kernel's errno and its
// extended-ack text ("errno: text").
type vfLinks interface {
	// VFInfo reads every VF of the PF; withStats asks for IFLA_VF_STATS too (about 100 more bytes per VF,
	// so the list overflows sooner).
	VFInfo(ifindex int, withStats bool) (vfList, error)
	// EswitchMode asks devlink for the eswitch mode of the device bus/dev ("pci"/"0000:3b:00.0"): "legacy",
	// "switchdev", or "" when the driver has no devlink eswitch (igb).
	EswitchMode(bus, dev string) string
	// SetEswitchMode sets it (DEVLINK_CMD_ESWITCH_SET).
	SetEswitchMode(bus, dev, mode string) error
	// DevlinkPorts dumps every devlink port of the host.
	DevlinkPorts() ([]devlinkPort, error)
	SetMAC(ifindex, vf int, mac string) error
	SetVLAN(ifindex, vf, vlan, qos int, proto sriov.VLANProto) error
	SetSpoofCheck(ifindex, vf int, on bool) error
	SetTrust(ifindex, vf int, on bool) error
	SetLinkState(ifindex, vf int, state sriov.LinkState) error
	SetRate(ifindex, vf, minMbps, maxMbps int) error
	SetQueryRSS(ifindex, vf int, on bool) error
	// SetVFAttrs writes every set group of a in one RTM_SETLINK.
	SetVFAttrs(ifindex, vf int, a host.VFAttrs) error
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
	h := &Host{sys: root, timeout: t, progress: opts.Progress, nl: nl, write: writeSysfs, pfs: map[string]pfEntry{}}
	pfs, err := h.pfNames()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s: %v", host.ErrUnavailable, filepath.Join(root, "class/net"), err)
	}
	if len(pfs) == 0 {
		return nil, fmt.Errorf("%w: this host has no SR-IOV capable network device (no %s/class/net/*/device/sriov_totalvfs or sriov_numvfs); use --lab DIR for an emulated host",
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
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, errno.Error()+": "):
		detail = strings.TrimPrefix(msg, errno.Error()+": ") // netlink extended ack
	case msg != errno.Error() && !strings.HasSuffix(msg, ": "+errno.Error()):
		// Text after the errno, with its context ("tc filter on eth0: file exists: <extended ack>"). An
		// errno at the end ("write /sys/...: device or resource busy") adds nothing the op does not say,
		// and leaves room for the driver's log (withKernelLog).
		detail = msg
	}
	return host.Errorf(op, errno, "%s", detail)
}

var _ host.EswitchSetter = (*Host)(nil)
