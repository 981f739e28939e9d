// Package lab is the emulated lab host: a directory holding the state of SR-IOV NICs that behave like
// real ones (the kernel's numvfs rules, each driver's refusals with its errno and wording, admin MAC and
// VF driver reload rules) following the profiles in package nicprofile. It implements host.Host and
// host.StatsReader, persists every change atomically under a file lock so that concurrent processes see
// one host (a bbolt database with one record per VF, so a write costs the same on any size of lab), can
// inject faults (fail the Nth write before or after it takes effect, slow every write), emulate a reboot
// or a PF reset, and send frames through the switch model of package eswitch, counting them per port.
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// NIC asks lab init for one PF.
type NIC struct {
	Name     string // netdev name, e.g. ens1f0
	Profile  string // nicprofile name
	TotalVFs int    // 0 = the profile's default
}

// DefaultNICs is the lab created when no NIC is named: one PF per profile.
var DefaultNICs = []NIC{
	{Name: "ens1f0", Profile: "ixgbe"},
	{Name: "ens2f0", Profile: "i40e"},
	{Name: "ens3f0", Profile: "ice"},
	{Name: "ens4f0", Profile: "mlx5"},
	{Name: "ens5f0", Profile: "igb"},
}

// MaxTotalVFs bounds a NIC's --nic TOTALVFS (the PCI SR-IOV capability allows at most 65535; no NIC
// we emulate goes beyond a few hundred).
const MaxTotalVFs = 4096

var nicSpec = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([A-Za-z0-9_.-]{1,15})=([a-z0-9_]+)(?::([0-9]+))?$`)
})

// ParseNIC reads NAME=PROFILE[:TOTALVFS].
func ParseNIC(s string) (NIC, error) {
	m := nicSpec().FindStringSubmatch(s)
	if m == nil {
		return NIC{}, &sriov.FieldError{Field: "--nic", Value: s, Allowed: "want NAME=PROFILE[:TOTALVFS], e.g. ens1f0=igb:7 (NAME up to 15 characters)"}
	}
	n := NIC{Name: m[1], Profile: m[2]}
	if _, ok := nicprofile.ByName(n.Profile); !ok {
		return NIC{}, &sriov.FieldError{Field: "--nic", Value: s, Allowed: "profile must be one of " + strings.Join(nicprofile.Names(), ", ")}
	}
	if m[3] != "" {
		t, err := strconv.Atoi(m[3])
		if err != nil || t < 1 || t > MaxTotalVFs {
			return NIC{}, &sriov.FieldError{Field: "--nic", Value: s, Allowed: fmt.Sprintf("TOTALVFS must be 1-%d", MaxTotalVFs)}
		}
		n.TotalVFs = t
	}
	return n, nil
}

// Lab is an opened lab directory. It is safe for use by many processes at once.
type Lab struct {
	dir string
}

var _ host.Host = (*Lab)(nil)
var _ host.PFObserver = (*Lab)(nil)

// Init creates a lab in dir (created if missing; it must not already hold a lab).
func Init(dir string, nics []NIC) (*Lab, error) {
	if len(nics) == 0 {
		nics = DefaultNICs
	}
	seen := map[string]bool{}
	for _, n := range nics {
		if seen[n.Name] {
			return nil, &sriov.FieldError{Field: "--nic", Value: n.Name, Allowed: "each NIC name may appear once"}
		}
		seen[n.Name] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var pfs []*pf
	usedBus := map[int]bool{}
	for _, n := range nics {
		p, _ := nicprofile.ByName(n.Profile)
		total := p.TotalVFs
		if n.TotalVFs > 0 {
			total = n.TotalVFs
		}
		addr := pfAddress(usedBus, p)
		eswitch := ""
		if p.Switchdev {
			eswitch = "legacy"
		}
		pfs = append(pfs, &pf{
			Name: n.Name, Profile: p.Name, PCIAddress: addr, TotalVFs: total,
			MAC: derivedMAC(dir + "/" + n.Name), MTU: DefaultMTU, OperState: "up", EswitchMode: eswitch,
		})
	}
	unlock, err := lockLab(context.Background(), dir, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, f := range []string{dbFile, legacyFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("%s already holds a lab; remove it first or pick another directory", dir)
		}
	}
	if err := writeNew(dir, time.Now().UTC().Format(time.RFC3339), pfs, nil, fault{}, 0, 0); err != nil {
		return nil, fmt.Errorf("lab %s: %w", dir, err)
	}
	return &Lab{dir: dir}, nil
}

// pfAddress gives a PF its profile's preferred bus (like a server's slots; igb on 01 as on QEMU's q35),
// or the next free one. VFs follow at offset/stride, so buses are spaced to leave room for them.
func pfAddress(used map[int]bool, p *nicprofile.Profile) string {
	bus, err := strconv.ParseInt(p.PCIBus, 16, 32)
	if err != nil || bus <= 0 {
		bus = 0x10
	}
	for used[int(bus)] || used[int(bus)+1] {
		bus = (bus + 2) % 0xfe
	}
	// The bus after a PF is reserved for VFs that overflow it (offset + stride*id beyond 0xff).
	used[int(bus)], used[int(bus)+1] = true, true
	return fmt.Sprintf("0000:%02x:00.0", bus)
}

// vfAddresses returns the function that gives a VF of the PF at pfAddr its PCI address: the PF's routing
// ID plus offset + stride*id. The PF's address is parsed once: observing a PF names every VF.
func vfAddresses(pfAddr string, p *nicprofile.Profile) func(id int) string {
	var dom, bus, dev, fn int
	fmt.Sscanf(pfAddr, "%04x:%02x:%02x.%x", &dom, &bus, &dev, &fn)
	first := (bus<<8 | dev<<3 | fn) + p.VFOffset
	return func(id int) string {
		rid := first + p.VFStride*id
		b := make([]byte, 0, len("0000:00:00.0"))
		b = appendHex(b, dom, 4)
		b = appendHex(append(b, ':'), (rid>>8)&0xff, 2)
		b = appendHex(append(b, ':'), (rid>>3)&0x1f, 2)
		b = appendHex(append(b, '.'), rid&7, 1)
		return string(b)
	}
}

// appendHex appends n in lower-case hex, zero-padded to width digits (as %0*x).
func appendHex(b []byte, n, width int) []byte {
	const digits = "0123456789abcdef"
	var buf [16]byte
	i := len(buf)
	for n > 0 || i > len(buf)-width {
		i--
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return append(b, buf[i:]...)
}

// Open opens an existing lab without reading it (each operation checks the database it reads, under the
// lab's lock, so that a wait for the lock can end with the operation's context). A lab made by an older
// sriovctl (one lab.json file) is migrated to the current format by its first operation.
func Open(dir string) (*Lab, error) {
	for _, f := range []string{dbFile, legacyFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return &Lab{dir: dir}, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("lab %s: %w", dir, err)
		}
	}
	return nil, errNotLab(dir)
}

// Dir returns the lab directory.
func (l *Lab) Dir() string { return l.dir }

// Observe returns every PF and VF, read in one transaction.
func (l *Lab) Observe(ctx context.Context) (*sriov.Host, error) {
	h := &sriov.Host{PFs: []sriov.PF{}}
	err := view(ctx, l.dir, func(t *tx) error {
		names, err := t.order()
		if err != nil {
			return err
		}
		for _, name := range names {
			p, err := t.pf("observe", name)
			if err != nil {
				return err
			}
			o, err := t.observe(p)
			if err != nil {
				return err
			}
			h.PFs = append(h.PFs, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ObservePF returns one PF and its VFs, read in one transaction; ok is false when the lab has no PF
// named (netdev name or PCI address) ref.
func (l *Lab) ObservePF(ctx context.Context, ref string) (*sriov.PF, bool, error) {
	var out *sriov.PF
	err := view(ctx, l.dir, func(t *tx) error {
		p, err := t.pf("observe "+ref, ref)
		if errors.Is(err, host.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		o, err := t.observe(p)
		out = &o
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, out != nil, nil
}

// mutate runs one mutating host operation in one write transaction under the exclusive lock: it applies
// injected faults, then fn. A refusal by fn rolls back everything fn did; the fault countdown persists
// anyway, so that "fail the Nth operation" counts across processes.
func (l *Lab) mutate(ctx context.Context, op string, fn func(t *tx) error) error {
	err := l.mutateOnce(ctx, op, false, fn)
	var d errDelay
	if !errors.As(err, &d) {
		return err
	}
	// The injected delay is slept with the lab unlocked, as a slow driver write does not stop others
	// from reading the host; then the operation runs (and reads the fault settings again).
	timer := time.NewTimer(time.Duration(d))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return host.Wrap(op, ctx.Err())
	}
	return l.mutateOnce(ctx, op, true, fn)
}

// errDelay asks mutate to sleep this long outside the lock, then run the operation.
type errDelay time.Duration

func (errDelay) Error() string { return "lab: injected delay" }

func (l *Lab) mutateOnce(ctx context.Context, op string, delayed bool, fn func(t *tx) error) error {
	return withDB(ctx, l.dir, true, func(db *bolt.DB) error {
		var fc fault
		var counting bool
		var injected, refused error
		err := db.Update(func(b *bolt.Tx) error {
			return begin(b, l.dir, func(t *tx) error {
				var err error
				if fc, err = t.fault(); err != nil {
					return err
				}
				if fc.Delay > 0 && !delayed {
					return errDelay(fc.Delay) // rolls back the (empty) transaction
				}
				if fc.FailAt > 0 {
					counting = true
					fc.FailAt--
					if fc.FailAt == 0 {
						if fc.AfterWrite {
							injected = host.WrittenUnconfirmed(host.Errorf(op, fc.errno(), "injected fault: written, then confirming it failed"))
						} else {
							injected = host.Errorf(op, fc.errno(), "injected fault")
						}
						fc = fault{Delay: fc.Delay}
					}
					if err := t.putFault(fc); err != nil {
						return err
					}
					if injected != nil && host.OutcomeOf(injected) == host.NotWritten {
						return nil // commit the countdown only
					}
				}
				// A refusal rolls back whatever fn wrote, with the transaction.
				if err := fn(t); err != nil {
					refused = err
					return err
				}
				if _, err := t.bump(keyGen); err != nil {
					return err
				}
				_, err = t.bump(keyOps)
				return err
			})
		})
		if refused != nil {
			if counting {
				if err := db.Update(func(b *bolt.Tx) error { return (&tx{b: b, dir: l.dir}).putFault(fc) }); err != nil {
					return err
				}
			}
			return refused
		}
		if err != nil {
			return err
		}
		return injected
	})
}

// findVF loads a PF and one of its VFs.
func (t *tx) findVF(op, ref string, id int) (*pf, *vf, *nicprofile.Profile, error) {
	p, err := t.pf(op, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := t.vf(op, p, id)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, v, profileOf(p), nil
}

func refuse(op string, prof *nicprofile.Profile, a nicprofile.Attr) error {
	if r, ok := prof.Refusal(a); ok {
		return host.Errorf(op, r.ErrnoValue(), "%s: %s", prof.Driver, r.Message)
	}
	return nil
}

// SetNumVFs follows sriov_numvfs_store: same value is a no-op, M>0 -> N>0 is EBUSY, N>total is ERANGE,
// 0 destroys every VF with its configuration.
func (l *Lab) SetNumVFs(ctx context.Context, ref string, n int) error {
	op := fmt.Sprintf("set numvfs %d on %s", n, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, err := t.pf(op, ref)
		if err != nil {
			return err
		}
		cur := p.NumVFs
		prof := profileOf(p)
		switch {
		case prof.TooManyVFs != nil && n > p.TotalVFs && (cur == 0 || n == cur):
			// netdevsim: its own errno above the maximum, after its busy check
			return host.Errorf(op, prof.TooManyVFs.ErrnoValue(), "%s", prof.TooManyVFs.Message)
		case n < 0 || n > p.TotalVFs && prof.TooManyVFs == nil:
			return host.Errorf(op, syscall.ERANGE, "Numerical result out of range")
		case n == cur:
			return nil
		case cur > 0 && n > 0:
			return host.Errorf(op, syscall.EBUSY, "%d VFs already enabled. Disable before enabling %d VFs", cur, n)
		case n == 0:
			return t.destroyVFs(p) // representors and their mirror rules go with their VFs
		}
		p.NumVFs = n
		for i := 0; i < n; i++ {
			serial, err := t.bump(keySerial)
			if err != nil {
				return err
			}
			v := &vf{
				ID: i, Driver: prof.VFDriver, VFConfig: prof.FreshVFConfig(),
				NetdevMAC: derivedMAC(fmt.Sprintf("%s/%s/%d/%d", l.dir, p.Name, i, serial)),
			}
			if err := t.putVF(p, v); err != nil {
				return err
			}
		}
		return t.putPF(p)
	})
}

// DefaultMTU is the MTU a PF netdev comes up with (Ethernet's 1500), at lab init and after a reboot or a
// driver reload.
const DefaultMTU = 1500

// SetPFMTU sets a PF's MTU, as dev_set_mtu does: an MTU outside the device's range (68 to the profile's
// maxMtu) is EINVAL with the kernel's own wording; the same MTU is a no-op.
func (l *Lab) SetPFMTU(ctx context.Context, ref string, mtu int) error {
	op := fmt.Sprintf("set mtu %d on %s", mtu, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, err := t.pf(op, ref)
		if err != nil {
			return err
		}
		switch limit := profileOf(p).MTULimit(); {
		case mtu < sriov.MinMTU:
			return host.Errorf(op, syscall.EINVAL, "mtu less than device minimum")
		case mtu > limit:
			return host.Errorf(op, syscall.EINVAL, "mtu greater than device maximum")
		case mtu == p.MTU:
			return nil
		}
		p.MTU = mtu
		return t.putPF(p)
	})
}

// SetVFMAC follows the drivers: multicast is EINVAL, a duplicate is refused where the profile says so,
// and a driver that needs a VF driver reload keeps the netdev's MAC until the rebind.
func (l *Lab) SetVFMAC(ctx context.Context, ref string, id int, mac string) error {
	op := fmt.Sprintf("set vf %d mac %s on %s", id, mac, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		norm, perr := sriov.ParseMAC("mac", mac)
		if perr != nil {
			return host.Errorf(op, syscall.EINVAL, "Invalid argument")
		}
		if norm != sriov.ZeroMAC && prof.DuplicateMAC == nicprofile.DuplicateMACRefused {
			all, err := t.vfs(p)
			if err != nil {
				return err
			}
			for _, o := range all {
				if o.ID != id && o.MAC == norm {
					r := prof.DuplicateMACRefusal
					return host.Errorf(op, r.ErrnoValue(), "%s: %s", prof.Driver, r.Message)
				}
			}
		}
		v.MAC = norm
		if norm != sriov.ZeroMAC && !(prof.MACNeedsVFReload && v.Driver == prof.VFDriver) {
			v.NetdevMAC = norm
		}
		return t.putVF(p, v)
	})
}

// SetVFVLAN sets vlan, qos and proto.
func (l *Lab) SetVFVLAN(ctx context.Context, ref string, id int, vlan, qos int, proto sriov.VLANProto) error {
	op := fmt.Sprintf("set vf %d vlan %d qos %d proto %s on %s", id, vlan, qos, proto, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		if vlan < 0 || vlan > 4095 || (vlan == 4095 && !prof.AcceptsVLAN4095) || qos < 0 || qos > 7 {
			return host.Errorf(op, syscall.EINVAL, "Invalid argument")
		}
		switch proto {
		case sriov.VLANProto8021Q, "":
			proto = sriov.VLANProto8021Q
		case sriov.VLANProto8021AD:
			if err := refuse(op, prof, nicprofile.AttrVLANProto8021AD); err != nil {
				return err
			}
		default:
			return host.Errorf(op, syscall.EPROTONOSUPPORT, "Protocol not supported")
		}
		v.VLAN, v.QoS, v.VLANProto = vlan, qos, proto
		return t.putVF(p, v)
	})
}

func (l *Lab) setFlag(ctx context.Context, ref string, id int, name string, a nicprofile.Attr, on bool, set func(v *vf)) error {
	// "turn query_rss on for ens5f0 vf 0", not "set vf 0 query_rss on on ens5f0".
	op := fmt.Sprintf("turn %s %s for %s vf %d", name, onOff(on), ref, id)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		if err := refuse(op, prof, a); err != nil {
			return err
		}
		set(v)
		return t.putVF(p, v)
	})
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// SetVFSpoofCheck sets spoof checking.
func (l *Lab) SetVFSpoofCheck(ctx context.Context, ref string, id int, on bool) error {
	return l.setFlag(ctx, ref, id, "spoofchk", nicprofile.AttrSpoofCheck, on, func(v *vf) { v.SpoofCheck = on })
}

// SetVFTrust sets trust.
func (l *Lab) SetVFTrust(ctx context.Context, ref string, id int, on bool) error {
	return l.setFlag(ctx, ref, id, "trust", nicprofile.AttrTrust, on, func(v *vf) { v.Trust = on })
}

// SetVFQueryRSS sets RSS query permission.
func (l *Lab) SetVFQueryRSS(ctx context.Context, ref string, id int, on bool) error {
	return l.setFlag(ctx, ref, id, "query_rss", nicprofile.AttrQueryRSS, on, func(v *vf) { v.QueryRSS = on })
}

// SetVFLinkState sets the administrative link state.
func (l *Lab) SetVFLinkState(ctx context.Context, ref string, id int, st sriov.LinkState) error {
	op := fmt.Sprintf("set vf %d state %s on %s", id, st, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		if err := refuse(op, prof, nicprofile.AttrLinkState); err != nil {
			return err
		}
		if _, perr := sriov.ParseLinkState("state", string(st)); perr != nil {
			return host.Errorf(op, syscall.EINVAL, "Invalid argument")
		}
		v.LinkState = st
		return t.putVF(p, v)
	})
}

// SetVFRate sets min and max TX rates. A nonzero min is refused where the driver refuses it; a rate above
// the link speed and min > max are EINVAL.
func (l *Lab) SetVFRate(ctx context.Context, ref string, id int, minMbps, maxMbps int) error {
	op := fmt.Sprintf("set vf %d min_tx_rate %d max_tx_rate %d on %s", id, minMbps, maxMbps, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		if minMbps != 0 {
			if err := refuse(op, prof, nicprofile.AttrMinTxRate); err != nil {
				return err
			}
		}
		if maxMbps != 0 {
			if err := refuse(op, prof, nicprofile.AttrMaxTxRate); err != nil {
				return err
			}
		}
		speed := prof.LinkSpeedMbps
		if minMbps < 0 || maxMbps < 0 || (speed > 0 && (minMbps > speed || maxMbps > speed)) ||
			(maxMbps != 0 && minMbps > maxMbps) {
			return host.Errorf(op, syscall.EINVAL, "Invalid argument")
		}
		v.MinTxRateMbps, v.MaxTxRateMbps = minMbps, maxMbps
		return t.putVF(p, v)
	})
}

// BindVF binds the VF to its default driver or vfio-pci, or unbinds it (""). Binding the VF driver
// again after an unbind is what makes igb's netdev pick up the admin MAC.
func (l *Lab) BindVF(ctx context.Context, ref string, id int, driver string) error {
	op := fmt.Sprintf("bind vf %d to %s on %s", id, driverName(driver), ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		if prof.NoVFDevices { // as the kernel backend answers for netdevsim
			return host.Errorf(op, syscall.EOPNOTSUPP, "the VFs of %s have no PCI function to bind a driver to", p.Name)
		}
		if driver == v.Driver {
			return nil
		}
		switch driver {
		case "", prof.VFDriver, "vfio-pci":
		default:
			return host.Errorf(op, syscall.ENOENT, "driver %q is not loaded (lab VFs of %s bind to %s or vfio-pci)", driver, p.Name, prof.VFDriver)
		}
		v.Driver = driver
		if driver == prof.VFDriver {
			if v.MAC != sriov.ZeroMAC {
				v.NetdevMAC = v.MAC
			} else {
				serial, err := t.bump(keySerial)
				if err != nil {
					return err
				}
				v.NetdevMAC = derivedMAC(fmt.Sprintf("%s/%s/%d/%d", l.dir, p.Name, id, serial))
				if prof.RebindReportsVFMAC {
					v.MAC = v.NetdevMAC
				}
			}
		}
		return t.putVF(p, v)
	})
}

var _ host.VFNetdevAddresser = (*Lab)(nil)

// SetVFNetdevMAC sets the address of the VF's netdev, as `ip link set VFNETDEV address MAC` does. Only
// profiles whose VF driver asks the PF first are modelled (trustedVfSetsOwnMac, igb): the PF refuses an
// untrusted VF that has an admin MAC (EADDRNOTAVAIL) and otherwise takes the address as the VF's MAC,
// which the PF then reports. The lab keeps no separate "set by the admin" mark, so an untrusted VF whose
// PF reports igbvf's own MAC after a rebind is refused too, where igb would take it.
func (l *Lab) SetVFNetdevMAC(ctx context.Context, ref string, id int, mac string) error {
	op := fmt.Sprintf("set the netdev address of vf %d on %s to %s", id, ref, mac)
	return l.mutate(ctx, op, func(t *tx) error {
		p, v, prof, err := t.findVF(op, ref, id)
		if err != nil {
			return err
		}
		norm, perr := sriov.ParseMAC("mac", mac)
		if perr != nil || norm == sriov.ZeroMAC {
			return host.Errorf(op, syscall.EADDRNOTAVAIL, "Cannot assign requested address")
		}
		if v.Driver != prof.VFDriver || prof.NoVFDevices {
			return host.Errorf(op, syscall.ENODEV, "VF %d has no netdev in this network namespace (no driver that makes one is bound, or it was moved to another namespace)", id)
		}
		if !prof.TrustedVFSetsOwnMAC {
			return host.Errorf(op, syscall.EOPNOTSUPP, "the lab's %s profile does not model a VF setting its own netdev address", p.Profile)
		}
		if v.MAC != sriov.ZeroMAC && !v.Trust {
			return host.Errorf(op, syscall.EADDRNOTAVAIL, "Cannot assign requested address; %s: VF %d attempted to override administratively set MAC address", prof.Driver, id)
		}
		v.NetdevMAC, v.MAC = norm, norm
		return t.putVF(p, v)
	})
}

func driverName(d string) string {
	if d == "" {
		return "(none)"
	}
	return d
}

// FaultConfig is the injected-fault setting of a lab.
type FaultConfig struct {
	FailAt int    // fail the Nth mutating operation from now (0 = none)
	Errno  string // errno name for the failure (default EIO; ETIMEDOUT with AfterWrite)
	// AfterWrite makes the Nth operation take effect and then report that confirming it failed
	// (host.WrittenUnconfirmed), as the kernel backend does when sriov_numvfs was written but the VFs did
	// not appear in time. A refusal by the driver on that operation still wins, and uses up the fault.
	AfterWrite bool
	Delay      time.Duration // sleep before every mutating operation
}

// SetFault replaces the lab's fault configuration (not itself a host operation).
func (l *Lab) SetFault(fc FaultConfig) error { return l.SetFaultContext(context.Background(), fc) }

// SetFaultContext is SetFault giving up a wait for the lab's lock when ctx ends.
func (l *Lab) SetFaultContext(ctx context.Context, fc FaultConfig) error {
	if fc.Errno != "" {
		if _, ok := nicprofile.ParseErrno(fc.Errno); !ok {
			return &sriov.FieldError{Field: "--errno", Value: fc.Errno, Allowed: "one of " + strings.Join(nicprofile.ErrnoNames(), ", ")}
		}
	}
	return update(ctx, l.dir, func(t *tx) error {
		return t.putFault(fault{FailAt: fc.FailAt, Errno: strings.ToUpper(fc.Errno), AfterWrite: fc.AfterWrite && fc.FailAt > 0, Delay: fc.Delay})
	})
}

// Fault returns the current fault configuration.
func (l *Lab) Fault() (FaultConfig, error) { return l.FaultContext(context.Background()) }

// FaultContext is Fault giving up a wait for the lab's lock when ctx ends.
func (l *Lab) FaultContext(ctx context.Context) (FaultConfig, error) {
	var fc FaultConfig
	err := view(ctx, l.dir, func(t *tx) error {
		f, err := t.fault()
		fc = FaultConfig{FailAt: f.FailAt, Errno: f.Errno, AfterWrite: f.AfterWrite, Delay: f.Delay}
		return err
	})
	return fc, err
}

// Reboot does what a reboot does to a host with nothing persisted: every PF back to 0 VFs and legacy
// eswitch mode. Injected faults stay (they belong to the test, not the host).
func (l *Lab) Reboot() error { return l.RebootContext(context.Background()) }

// RebootContext is Reboot giving up a wait for the lab's lock when ctx ends.
func (l *Lab) RebootContext(ctx context.Context) error {
	return update(ctx, l.dir, func(t *tx) error {
		names, err := t.order()
		if err != nil {
			return err
		}
		if _, err := t.bump(keyGen); err != nil {
			return err
		}
		for _, name := range names {
			p, err := t.pf("reboot", name)
			if err != nil {
				return err
			}
			if err := t.resetPF(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// ResetPF does to one PF what a PF reset or a reload of its driver does, behind sriovctl's back: its VFs
// are destroyed with their configuration and counters, and its eswitch is back in legacy mode. It is not
// counted as a mutating operation and injected faults do not apply: it is not sriovctl writing.
func (l *Lab) ResetPF(ctx context.Context, ref string) error {
	return update(ctx, l.dir, func(t *tx) error {
		p, err := t.pf("reset "+ref, ref)
		if err != nil {
			return err
		}
		if _, err := t.bump(keyGen); err != nil {
			return err
		}
		return t.resetPF(p)
	})
}

// resetPF is a PF coming back from a reset (its driver probed again): no VFs, no PF counters, legacy
// eswitch, the default MTU.
func (t *tx) resetPF(p *pf) error {
	p.MTU = DefaultMTU
	if profileOf(p).Switchdev {
		p.EswitchMode = "legacy"
	}
	if err := t.resetStats(p, false); err != nil {
		return err
	}
	return t.destroyVFs(p)
}

// SetEswitchMode switches a PF between legacy and switchdev, as devlink does. Like the kernel, it
// refuses while VFs exist and on NICs without switchdev.
func (l *Lab) SetEswitchMode(ctx context.Context, ref, mode string) error {
	op := fmt.Sprintf("set eswitch mode %s on %s", mode, ref)
	return l.mutate(ctx, op, func(t *tx) error {
		p, err := t.pf(op, ref)
		if err != nil {
			return err
		}
		prof := profileOf(p)
		if !prof.Switchdev {
			return host.Errorf(op, syscall.EOPNOTSUPP, "%s: Operation not supported", prof.Driver)
		}
		if mode != "legacy" && mode != "switchdev" {
			return host.Errorf(op, syscall.EINVAL, "Invalid argument")
		}
		if p.NumVFs > 0 && mode != p.EswitchMode {
			return host.Errorf(op, syscall.EBUSY, "Device or resource busy: disable VFs before changing eswitch mode")
		}
		p.EswitchMode = mode
		return t.putPF(p)
	})
}

// MutatingOps returns how many mutating operations took effect so far (tests count writes with it).
func (l *Lab) MutatingOps() (uint64, error) {
	var n uint64
	err := view(context.Background(), l.dir, func(t *tx) error {
		var err error
		n, err = t.counter(keyOps)
		return err
	})
	return n, err
}

// Generation is a number that changes whenever the emulated host's state does: a write by sriovctl
// (MutatingOps), a reboot or a PF reset, but not traffic counters. A watcher (the agent) polls it to
// observe the lab only after a change.
func (l *Lab) Generation(ctx context.Context) (uint64, error) {
	var n uint64
	err := view(ctx, l.dir, func(t *tx) error {
		var err error
		n, err = t.counter(keyGen)
		return err
	})
	return n, err
}

// ProfileNames lists the profiles a lab NIC may follow, sorted.
func ProfileNames() []string {
	n := nicprofile.Names()
	sort.Strings(n)
	return n
}
