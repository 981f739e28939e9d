// Package lab is the emulated lab host: a directory holding the state of SR-IOV NICs that behave like
// real ones (the kernel's numvfs rules, each driver's refusals with its errno and wording, admin MAC and
// VF driver reload rules) following the profiles in package nicprofile. It implements host.Host, persists
// every change atomically under a file lock so that concurrent processes see one host, and can inject
// faults (fail the Nth write, slow every write) and emulate a reboot for tests of rollback and recovery.
package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

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

var nicSpec = regexp.MustCompile(`^([A-Za-z0-9_.-]{1,15})=([a-z0-9_]+)(?::([0-9]+))?$`)

// ParseNIC reads NAME=PROFILE[:TOTALVFS].
func ParseNIC(s string) (NIC, error) {
	m := nicSpec.FindStringSubmatch(s)
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
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a lab; remove it first or pick another directory", dir)
	}
	s := &state{Version: stateVersion, Created: time.Now().UTC().Format(time.RFC3339)}
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
		s.PFs = append(s.PFs, &pf{
			Name: n.Name, Profile: p.Name, PCIAddress: addr, TotalVFs: total,
			MAC: derivedMAC(dir + "/" + n.Name), MTU: 1500, OperState: "up", EswitchMode: eswitch,
		})
	}
	l := &Lab{dir: dir}
	err := withLock(dir, true, func() error { return save(dir, s) })
	return l, err
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

// vfAddress computes a VF's PCI address from the PF's routing ID plus offset + stride*id.
func vfAddress(pfAddr string, p *nicprofile.Profile, id int) string {
	var dom, bus, dev, fn int
	fmt.Sscanf(pfAddr, "%04x:%02x:%02x.%x", &dom, &bus, &dev, &fn)
	rid := bus<<8 | dev<<3 | fn
	rid += p.VFOffset + p.VFStride*id
	return fmt.Sprintf("%04x:%02x:%02x.%x", dom, (rid>>8)&0xff, (rid>>3)&0x1f, rid&7)
}

// Open opens an existing lab.
func Open(dir string) (*Lab, error) {
	l := &Lab{dir: dir}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return nil, fmt.Errorf("%s is not a lab (no %s): create one with `sriovctl lab init %s`", dir, stateFile, dir)
	}
	err := withLock(dir, false, func() error { _, err := load(dir); return err })
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Dir returns the lab directory.
func (l *Lab) Dir() string { return l.dir }

// Observe returns every PF and VF.
func (l *Lab) Observe(ctx context.Context) (*sriov.Host, error) {
	var out *sriov.Host
	err := withLock(l.dir, false, func() error {
		s, err := load(l.dir)
		if err != nil {
			return err
		}
		out = s.observe()
		return nil
	})
	return out, err
}

func (s *state) observe() *sriov.Host {
	h := &sriov.Host{PFs: []sriov.PF{}}
	for _, p := range s.PFs {
		prof := profileOf(p)
		o := sriov.PF{
			Name: p.Name, PCIAddress: p.PCIAddress, Driver: prof.Driver, VendorID: prof.VendorID,
			DeviceID: prof.DeviceID, VFDeviceID: prof.VFDeviceID, TotalVFs: p.TotalVFs, NumVFs: len(p.VFs), MAC: p.MAC, MTU: p.MTU,
			OperState: p.OperState, EswitchMode: p.EswitchMode, VFs: []sriov.VF{},
			MirrorRules: append([]sriov.MirrorRule(nil), p.MirrorRules...),
		}
		for _, v := range p.VFs {
			netdev, netdevMAC := "", ""
			if v.Driver == prof.VFDriver {
				netdev, netdevMAC = fmt.Sprintf("%sv%d", p.Name, v.ID), v.NetdevMAC
			}
			o.VFs = append(o.VFs, sriov.VF{
				ID: v.ID, PCIAddress: vfAddress(p.PCIAddress, prof, v.ID), Netdev: netdev,
				Driver: v.Driver, VFConfig: v.VFConfig, NetdevMAC: netdevMAC,
			})
		}
		h.PFs = append(h.PFs, o)
	}
	return h
}

func profileOf(p *pf) *nicprofile.Profile {
	prof, ok := nicprofile.ByName(p.Profile)
	if !ok {
		return nicprofile.ForDriver(p.Profile)
	}
	return prof
}

// mutate runs one mutating host operation under the exclusive lock: it applies injected faults, runs fn
// on the loaded state and saves the result. A failing fn leaves the state file as it was, apart from the
// fault countdown, which must persist so that "fail the Nth operation" counts across processes.
func (l *Lab) mutate(ctx context.Context, op string, fn func(s *state) error) error {
	return withLock(l.dir, true, func() error {
		s, err := load(l.dir)
		if err != nil {
			return err
		}
		if s.Fault.Delay > 0 {
			select {
			case <-time.After(s.Fault.Delay):
			case <-ctx.Done():
				return host.Wrap(op, ctx.Err())
			}
		}
		if s.Fault.FailAt > 0 {
			s.Fault.FailAt--
			if s.Fault.FailAt == 0 {
				errno, ok := nicprofile.ParseErrno(s.Fault.Errno)
				if !ok {
					errno = syscall.EIO
				}
				s.Fault.Errno = ""
				if err := save(l.dir, s); err != nil {
					return err
				}
				return host.Errorf(op, errno, "injected fault")
			}
			// The countdown must persist even if fn refuses.
			if err := fn(s); err != nil {
				fresh, lerr := load(l.dir)
				if lerr != nil {
					return lerr
				}
				fresh.Fault = s.Fault
				if serr := save(l.dir, fresh); serr != nil {
					return serr
				}
				return err
			}
			s.Ops++
			return save(l.dir, s)
		}
		// Refusals are decided before fn changes anything, so a refused operation writes nothing.
		if err := fn(s); err != nil {
			return err
		}
		s.Ops++
		return save(l.dir, s)
	})
}

func (s *state) findPF(op, ref string) (*pf, error) {
	for _, p := range s.PFs {
		if p.Name == ref || p.PCIAddress == ref {
			return p, nil
		}
	}
	return nil, host.Errorf(op, syscall.ENODEV, "no PF %q in this lab", ref)
}

// findVF applies the kernel's rule: a VF index beyond numvfs is EINVAL.
func (s *state) findVF(op, ref string, id int) (*pf, *vf, *nicprofile.Profile, error) {
	p, err := s.findPF(op, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	if id < 0 || id >= len(p.VFs) {
		return nil, nil, nil, host.Errorf(op, syscall.EINVAL, "Invalid argument")
	}
	return p, p.VFs[id], profileOf(p), nil
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
	return l.mutate(ctx, op, func(s *state) error {
		p, err := s.findPF(op, ref)
		if err != nil {
			return err
		}
		cur := len(p.VFs)
		switch {
		case n < 0 || n > p.TotalVFs:
			return host.Errorf(op, syscall.ERANGE, "Numerical result out of range")
		case n == cur:
			return nil
		case cur > 0 && n > 0:
			return host.Errorf(op, syscall.EBUSY, "%d VFs already enabled. Disable before enabling %d VFs", cur, n)
		case n == 0:
			p.VFs, p.MirrorRules = nil, nil // representors go with their VFs
			return nil
		}
		prof := profileOf(p)
		for i := 0; i < n; i++ {
			s.Serial++
			p.VFs = append(p.VFs, &vf{
				ID: i, Driver: prof.VFDriver, VFConfig: sriov.DefaultVFConfig(),
				NetdevMAC: derivedMAC(fmt.Sprintf("%s/%s/%d/%d", l.dir, p.Name, i, s.Serial)),
			})
		}
		return nil
	})
}

// SetVFMAC follows the drivers: multicast is EINVAL, a duplicate is refused where the profile says so,
// and a driver that needs a VF driver reload keeps the netdev's MAC until the rebind.
func (l *Lab) SetVFMAC(ctx context.Context, ref string, id int, mac string) error {
	op := fmt.Sprintf("set vf %d mac %s on %s", id, mac, ref)
	return l.mutate(ctx, op, func(s *state) error {
		p, v, prof, err := s.findVF(op, ref, id)
		if err != nil {
			return err
		}
		norm, perr := sriov.ParseMAC("mac", mac)
		if perr != nil {
			return host.Errorf(op, syscall.EINVAL, "Invalid argument")
		}
		if norm != sriov.ZeroMAC && prof.DuplicateMAC == nicprofile.DuplicateMACRefused {
			for _, o := range p.VFs {
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
		return nil
	})
}

// SetVFVLAN sets vlan, qos and proto.
func (l *Lab) SetVFVLAN(ctx context.Context, ref string, id int, vlan, qos int, proto sriov.VLANProto) error {
	op := fmt.Sprintf("set vf %d vlan %d qos %d proto %s on %s", id, vlan, qos, proto, ref)
	return l.mutate(ctx, op, func(s *state) error {
		_, v, prof, err := s.findVF(op, ref, id)
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
		return nil
	})
}

func (l *Lab) setFlag(ctx context.Context, ref string, id int, name string, a nicprofile.Attr, on bool, set func(v *vf)) error {
	op := fmt.Sprintf("set vf %d %s %s on %s", id, name, onOff(on), ref)
	return l.mutate(ctx, op, func(s *state) error {
		_, v, prof, err := s.findVF(op, ref, id)
		if err != nil {
			return err
		}
		if err := refuse(op, prof, a); err != nil {
			return err
		}
		set(v)
		return nil
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
	return l.mutate(ctx, op, func(s *state) error {
		_, v, prof, err := s.findVF(op, ref, id)
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
		return nil
	})
}

// SetVFRate sets min and max TX rates. A nonzero min is refused where the driver refuses it; a rate above
// the link speed and min > max are EINVAL.
func (l *Lab) SetVFRate(ctx context.Context, ref string, id int, minMbps, maxMbps int) error {
	op := fmt.Sprintf("set vf %d min_tx_rate %d max_tx_rate %d on %s", id, minMbps, maxMbps, ref)
	return l.mutate(ctx, op, func(s *state) error {
		_, v, prof, err := s.findVF(op, ref, id)
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
		return nil
	})
}

// BindVF binds the VF to its default driver or vfio-pci, or unbinds it (""). Binding the VF driver
// again after an unbind is what makes igb's netdev pick up the admin MAC.
func (l *Lab) BindVF(ctx context.Context, ref string, id int, driver string) error {
	op := fmt.Sprintf("bind vf %d to %s on %s", id, driverName(driver), ref)
	return l.mutate(ctx, op, func(s *state) error {
		p, v, prof, err := s.findVF(op, ref, id)
		if err != nil {
			return err
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
				s.Serial++
				v.NetdevMAC = derivedMAC(fmt.Sprintf("%s/%s/%d/%d", l.dir, p.Name, id, s.Serial))
				if prof.RebindReportsVFMAC {
					v.MAC = v.NetdevMAC
				}
			}
		}
		return nil
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
	FailAt int           // fail the Nth mutating operation from now (0 = none)
	Errno  string        // errno name for the failure (default EIO)
	Delay  time.Duration // sleep before every mutating operation
}

// SetFault replaces the lab's fault configuration (not itself a host operation).
func (l *Lab) SetFault(fc FaultConfig) error {
	if fc.Errno != "" {
		if _, ok := nicprofile.ParseErrno(fc.Errno); !ok {
			return &sriov.FieldError{Field: "--errno", Value: fc.Errno, Allowed: "one of " + strings.Join(nicprofile.ErrnoNames(), ", ")}
		}
	}
	return withLock(l.dir, true, func() error {
		s, err := load(l.dir)
		if err != nil {
			return err
		}
		s.Fault = fault{FailAt: fc.FailAt, Errno: strings.ToUpper(fc.Errno), Delay: fc.Delay}
		return save(l.dir, s)
	})
}

// Fault returns the current fault configuration.
func (l *Lab) Fault() (FaultConfig, error) {
	var fc FaultConfig
	err := withLock(l.dir, false, func() error {
		s, err := load(l.dir)
		if err != nil {
			return err
		}
		fc = FaultConfig{FailAt: s.Fault.FailAt, Errno: s.Fault.Errno, Delay: s.Fault.Delay}
		return nil
	})
	return fc, err
}

// Reboot does what a reboot does to a host with nothing persisted: every PF back to 0 VFs and legacy
// eswitch mode. Injected faults stay (they belong to the test, not the host).
func (l *Lab) Reboot() error {
	return withLock(l.dir, true, func() error {
		s, err := load(l.dir)
		if err != nil {
			return err
		}
		for _, p := range s.PFs {
			p.VFs, p.MirrorRules = nil, nil
			if profileOf(p).Switchdev {
				p.EswitchMode = "legacy"
			}
		}
		return save(l.dir, s)
	})
}

// SetEswitchMode switches a PF between legacy and switchdev, as devlink does. Like the kernel, it
// refuses while VFs exist and on NICs without switchdev.
func (l *Lab) SetEswitchMode(ctx context.Context, ref, mode string) error {
	op := fmt.Sprintf("set eswitch mode %s on %s", mode, ref)
	return l.mutate(ctx, op, func(s *state) error {
		p, err := s.findPF(op, ref)
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
		if len(p.VFs) > 0 && mode != p.EswitchMode {
			return host.Errorf(op, syscall.EBUSY, "Device or resource busy: disable VFs before changing eswitch mode")
		}
		p.EswitchMode = mode
		return nil
	})
}

// MutatingOps returns how many mutating operations succeeded so far (tests count writes with it).
func (l *Lab) MutatingOps() (uint64, error) {
	var n uint64
	err := withLock(l.dir, false, func() error {
		s, err := load(l.dir)
		if err == nil {
			n = s.Ops
		}
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
