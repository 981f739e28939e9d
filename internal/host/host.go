// Package host defines the one interface through which sriovctl observes and changes a host's SR-IOV
// devices, and the error kinds every backend (kernel, lab) reports, so that callers can decide on
// EBUSY, ERANGE, EOPNOTSUPP... the same way whichever backend answered.
package host

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Host is everything sriovctl needs from a host. A PF is named by netdev name or PCI address.
// Every setter changes exactly one attribute group (one rtnetlink or sysfs write), so that planners can
// count writes and undo them one by one.
type Host interface {
	// Observe returns every SR-IOV capable PF with its VFs, in one pass.
	Observe(ctx context.Context) (*sriov.Host, error)
	// SetPFMTU sets the PF netdev's MTU (RTM_SETLINK IFLA_MTU). Several drivers bound a VF's MTU by
	// the PF's, so planners set it before creating VFs.
	SetPFMTU(ctx context.Context, pf string, mtu int) error
	// SetNumVFs writes sriov_numvfs, with the kernel's rules (EBUSY for M>0 -> N>0, ERANGE above total).
	SetNumVFs(ctx context.Context, pf string, n int) error
	// SetVFMAC sets the VF's admin MAC (00:00:00:00:00:00 clears it).
	SetVFMAC(ctx context.Context, pf string, vf int, mac string) error
	// SetVFVLAN sets the port VLAN (0 = none), its 802.1p priority and tag protocol.
	SetVFVLAN(ctx context.Context, pf string, vf int, vlan, qos int, proto sriov.VLANProto) error
	SetVFSpoofCheck(ctx context.Context, pf string, vf int, on bool) error
	SetVFTrust(ctx context.Context, pf string, vf int, on bool) error
	SetVFLinkState(ctx context.Context, pf string, vf int, state sriov.LinkState) error
	// SetVFRate sets min and max TX rates in Mbps together (0 = unlimited), as IFLA_VF_RATE does.
	SetVFRate(ctx context.Context, pf string, vf int, minMbps, maxMbps int) error
	SetVFQueryRSS(ctx context.Context, pf string, vf int, on bool) error
	// BindVF binds the VF to driver; "" unbinds it. Binding to the current driver is a no-op.
	BindVF(ctx context.Context, pf string, vf int, driver string) error
}

// PFObserver is a Host that can observe one PF alone: one request for that PF instead of one per PF of
// the host (a host with four 256-VF PFs answers 1024 VFs to every full observation). Writers that touch
// one PF (assign, vf set, pf set) observe through ObserveOne.
type PFObserver interface {
	// ObservePF returns the PF named ref (netdev name or PCI address) with its VFs, as Observe would
	// report it; ok is false when the host has no PF by that name.
	ObservePF(ctx context.Context, ref string) (pf *sriov.PF, ok bool, err error)
}

// ObserveOne observes the PF named ref alone where h can, else (or when h knows no PF by that name, so
// that callers can list the PFs there are) the whole host. The result holds that PF if it exists.
func ObserveOne(ctx context.Context, h Host, ref string) (*sriov.Host, error) {
	if o, ok := h.(PFObserver); ok {
		pf, found, err := o.ObservePF(ctx, ref)
		if err != nil {
			return nil, err
		}
		if found {
			return &sriov.Host{PFs: []sriov.PF{*pf}}, nil
		}
	}
	return h.Observe(ctx)
}

// Kind classifies a host error so callers can test it with errors.Is(err, host.ErrBusy) etc.
type Kind int

// The error kinds.
const (
	KindFailed       Kind = iota // any other operational failure (I/O error...)
	KindBusy                     // EBUSY
	KindOutOfRange               // ERANGE
	KindNotSupported             // EOPNOTSUPP, EPROTONOSUPPORT
	KindInvalid                  // EINVAL
	KindNotFound                 // ENODEV, ENOENT: no such PF, VF or driver
	KindExists                   // EEXIST
)

var kindNames = map[Kind]string{
	KindFailed: "failed", KindBusy: "busy", KindOutOfRange: "out of range",
	KindNotSupported: "not supported", KindInvalid: "invalid", KindNotFound: "not found", KindExists: "exists",
}

func (k Kind) String() string { return kindNames[k] }

// MarshalText makes kinds readable in JSON output.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Sentinel errors for errors.Is.
var (
	ErrBusy         = &Error{Kind: KindBusy}
	ErrOutOfRange   = &Error{Kind: KindOutOfRange}
	ErrNotSupported = &Error{Kind: KindNotSupported}
	ErrInvalid      = &Error{Kind: KindInvalid}
	ErrNotFound     = &Error{Kind: KindNotFound}
	ErrExists       = &Error{Kind: KindExists}
	ErrFailed       = &Error{Kind: KindFailed}
)

// Error is a refusal or failure of the host.
type Error struct {
	Op    string        // what was attempted: "set vf 3 mac on ens5f0"
	Kind  Kind          // classification
	Errno syscall.Errno // the errno, 0 if none
	// Detail is the driver's or kernel's own wording ("4 VFs already enabled. Disable before enabling 2 VFs").
	Detail string
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Errno != 0 {
		msg += ": " + e.Errno.Error()
	} else if msg != "" {
		msg += ": " + e.Kind.String()
	} else {
		msg = e.Kind.String()
	}
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Is matches sentinels by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Errno == 0 && t.Detail == "" && t.Kind == e.Kind
}

// Unwrap exposes the errno for errors.Is(err, syscall.EBUSY).
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// KindOf maps an errno to its kind.
func KindOf(errno syscall.Errno) Kind {
	switch errno {
	case syscall.EBUSY:
		return KindBusy
	case syscall.ERANGE:
		return KindOutOfRange
	case syscall.EOPNOTSUPP, syscall.EPROTONOSUPPORT:
		return KindNotSupported
	case syscall.EINVAL:
		return KindInvalid
	case syscall.ENODEV, syscall.ENOENT:
		return KindNotFound
	case syscall.EEXIST:
		return KindExists
	}
	return KindFailed
}

// Errorf builds an Error for op from an errno and the driver's wording.
func Errorf(op string, errno syscall.Errno, detail string, args ...any) *Error {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	return &Error{Op: op, Kind: KindOf(errno), Errno: errno, Detail: detail}
}

// Wrap turns any error into a host Error for op, keeping an errno it carries.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var he *Error
	if errors.As(err, &he) {
		if he.Op == "" {
			c := *he
			c.Op = op
			return &c
		}
		return err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &Error{Op: op, Kind: KindOf(errno), Errno: errno}
	}
	return &Error{Op: op, Kind: KindFailed, Detail: err.Error()}
}

// KindOfError returns the kind of any error (KindFailed when it is no host error).
func KindOfError(err error) Kind {
	var he *Error
	if errors.As(err, &he) {
		return he.Kind
	}
	return KindFailed
}

// ErrUnavailable says the backend cannot run on this machine (no SR-IOV, no sysfs...).
var ErrUnavailable = errors.New("backend unavailable")

// VFAttrs is a set of attribute groups to write to one VF; nil fields are left as they are.
type VFAttrs struct {
	MAC        *string
	VLAN       *VFVLAN
	SpoofCheck *bool
	Trust      *bool
	LinkState  *sriov.LinkState
	Rate       *VFRate
	QueryRSS   *bool
}

// VFVLAN is a port VLAN (0 = none) with its 802.1p priority and tag protocol.
type VFVLAN struct {
	VLAN, QoS int
	Proto     sriov.VLANProto
}

// VFRate is a VF's min and max TX rate in Mbps (0 = unlimited).
type VFRate struct{ MinMbps, MaxMbps int }

// VFBatcher is implemented by backends that can write several attribute groups of one VF in one host
// operation (the kernel: one RTM_SETLINK carrying every IFLA_VF_* attribute) and bind drivers of
// different VFs concurrently. Executors use it when present; every Host setter still works alone.
type VFBatcher interface {
	// SetVFAttrs writes every set group of a to VF vf of pf in one operation. The host applies them in an
	// order of its own (the kernel's: MAC, VLAN, rate, spoof check, link state, query RSS, trust) and
	// stops at the first refusal, keeping what it applied before it. So on error, after is the VF's
	// configuration read back after the failure, from which the caller tells what landed; nil when it could
	// not be read (then any group may have landed). The error names the refused group where known.
	SetVFAttrs(ctx context.Context, pf string, vf int, a VFAttrs) (after *sriov.VFConfig, err error)
	// ConcurrentBinds is how many driver binds and unbinds of different VFs may run at once (at least 1).
	ConcurrentBinds() int
}

// VFNetdevAddresser is implemented by backends that can set the address of a VF's own netdev (RTM_SETLINK
// IFLA_ADDRESS on the VF netdev, as `ip link set VFNETDEV address MAC` does), the netdev the VF driver
// bound in this network namespace. The VF driver may ask the PF first, which may refuse (igb refuses an
// untrusted VF that has an admin MAC: EADDRNOTAVAIL).
type VFNetdevAddresser interface {
	SetVFNetdevMAC(ctx context.Context, pf string, vf int, mac string) error
}
