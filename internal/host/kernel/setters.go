package kernel

import (
	"context"
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

const pollInterval = 50 * time.Millisecond

// SetNumVFs writes sriov_numvfs and waits until every VF's virtfnN link exists (and, for VFs bound to a
// driver that makes netdevs, its netdev), or until the VFs are gone when shrinking to 0. The kernel's
// answers are kept: EBUSY for M>0 -> N>0 with N != M, ERANGE above sriov_totalvfs. Once the write was
// made, a failed or cancelled wait returns host.WrittenUnconfirmed: the VFs may well exist.
func (h *Host) SetNumVFs(ctx context.Context, pfRef string, n int) error {
	return h.withPF(fmt.Sprintf("set numvfs %d on %s", n, pfRef), pfRef, func(e pfEntry) error {
		return h.setNumVFs(ctx, e, n)
	})
}

func (h *Host) setNumVFs(ctx context.Context, e pfEntry, n int) error {
	op := fmt.Sprintf("set numvfs %d on %s", n, e.name)
	carrier := filepath.Join(h.netDir(e.name), "carrier")
	hadLink, _ := readString(carrier)
	h.markLog()
	if err := h.writeNumVFs(ctx, op, e, n); err != nil {
		return h.withKernelLog(err, e.addr)
	}
	if e.bus != "pci" {
		return nil // VFs without PCI functions (netdevsim) exist once the write returns; nothing to wait for
	}
	if err := h.waitVFs(ctx, op, e.name, n); err != nil {
		return host.WrittenUnconfirmed(err)
	}
	if hadLink == "1" {
		// Some PF drivers (igb) reset the PF to change VFs and its link drops for a few seconds; igb refuses
		// rate limits (EINVAL) until the link is back. Wait for it, best effort.
		deadline := time.Now().Add(min(h.timeout, 30*time.Second))
		for time.Now().Before(deadline) {
			if c, _ := readString(carrier); c == "1" {
				break
			}
			select {
			case <-ctx.Done():
				return host.WrittenUnconfirmed(fmt.Errorf("%s: waiting for the PF's link: %w", op, ctx.Err()))
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
}

// writeNumVFs writes sriov_numvfs, bounded by the Host's timeout and ctx. The write itself can block:
// removing a VF that vfio-pci hands to a running VM waits in the kernel until the VM lets it go. When the
// bound passes, the write is still pending in the kernel (it may complete later), so the error is
// host.WrittenUnconfirmed and names the VFs vfio-pci holds.
func (h *Host) writeNumVFs(ctx context.Context, op string, e pfEntry, n int) error {
	held := h.vfioHeld(e.name)
	done := make(chan error, 1)
	go func() { done <- h.write(filepath.Join(h.netDir(e.name), "device/sriov_numvfs"), strconv.Itoa(n)) }()
	timer := time.NewTimer(h.timeout)
	defer timer.Stop()
	pending := func(why string) string {
		detail := fmt.Sprintf("the sriov_numvfs write %s and is still pending in the kernel", why)
		if len(held) > 0 {
			detail += fmt.Sprintf("; VFs %s are bound to vfio-pci: the kernel removes them only once their user (a VM) releases them, so shut the VM down or detach the devices, then run the command again",
				strings.Join(held, ", "))
		}
		return detail
	}
	select {
	case err := <-done:
		return mapErr(op, err)
	case <-ctx.Done():
		return host.WrittenUnconfirmed(fmt.Errorf("%s: %s: %w", op, pending("was interrupted"), ctx.Err()))
	case <-timer.C:
		return host.WrittenUnconfirmed(host.Errorf(op, syscall.ETIMEDOUT, "%s", pending("did not return within "+h.timeout.String())))
	}
}

// vfioHeld lists the VFs of pf bound to vfio-pci ("VF 3 (0000:01:10.6)").
func (h *Host) vfioHeld(pf string) []string {
	ents, _ := filepath.Glob(filepath.Join(h.netDir(pf), "device", "virtfn*"))
	var out []string
	for _, ent := range ents {
		if linkBase(filepath.Join(ent, "driver")) == "vfio-pci" {
			out = append(out, fmt.Sprintf("%s (%s)", strings.Replace(filepath.Base(ent), "virtfn", "VF ", 1), linkBase(ent)))
		}
	}
	return out
}

// waitVFs polls sysfs until the PF has exactly n ready VFs.
func (h *Host) waitVFs(ctx context.Context, op, pf string, n int) error {
	deadline := time.Now().Add(h.timeout)
	last := -1
	for {
		ready, present := h.countReady(pf, n)
		if ready == n && present == n {
			if h.progress != nil && n > 0 && last >= 0 && last != n {
				h.progress(n, n)
			}
			return nil
		}
		if h.progress != nil && n > 0 && ready != last {
			h.progress(ready, n)
		}
		last = ready
		if time.Now().After(deadline) {
			if h.progress != nil && last >= 0 {
				h.progress(-1, n) // ends the progress line
			}
			return host.Errorf(op, syscall.ETIMEDOUT, "only %d of %d VFs ready after %s", ready, n, h.timeout)
		}
		select {
		case <-ctx.Done():
			if h.progress != nil && last >= 0 {
				h.progress(-1, n)
			}
			return fmt.Errorf("%s: waiting for VFs: %w", op, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// countReady counts VFs 0..n-1 whose virtfnN link exists and that have a netdev if a driver that makes
// netdevs is bound (a VF with no driver, or bound to vfio-pci, is ready without one); present counts
// every virtfnN link, so that stale VFs beyond n keep the wait going.
func (h *Host) countReady(pf string, n int) (ready, present int) {
	ents, _ := filepath.Glob(filepath.Join(h.netDir(pf), "device", "virtfn*"))
	present = len(ents)
	netDrv := map[string]bool{}
	for id := 0; id < n; id++ {
		dir := h.vfDir(pf, id)
		if linkBase(dir) == "" {
			continue
		}
		if drv := linkBase(filepath.Join(dir, "driver")); drv != "" && vfNetdev(dir) == "" {
			is, ok := netDrv[drv]
			if !ok {
				is = h.makesNetdevs(drv)
				netDrv[drv] = is
			}
			if is {
				continue
			}
		}
		ready++
	}
	return ready, present
}

// netdevDrivers are PCI drivers known to create a netdev for every device they bind (VF drivers and the
// PF drivers that also bind their own VFs).
var netdevDrivers = map[string]bool{
	"igbvf": true, "ixgbevf": true, "iavf": true, "i40evf": true, "ice": true, "i40e": true, "ixgbe": true,
	"igb": true, "mlx5_core": true, "mlx4_core": true, "bnxt_en": true, "qede": true, "ena": true,
	"hinic": true, "rvu_nicvf": true, "sfc": true, "enic": true, "cxgb4vf": true, "liquidio_vf": true,
	"fm10k": true, "nfp": true, "virtio-pci": true, "octeon_ep_vf": true, "idpf": true, "gve": true,
}

// makesNetdevs reports whether binding drv to a VF gives it a netdev: a known network driver, or one
// whose other bound devices have netdevs. Anything else (vfio-pci, mlx5_vfio_pci, pci-stub, uio, a
// driver with no device bound yet) is not waited for.
func (h *Host) makesNetdevs(drv string) bool {
	if netdevDrivers[drv] {
		return true
	}
	dir := filepath.Join(h.sys, "bus/pci/drivers", drv)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !strings.Contains(e.Name(), ":") { // bind, unbind, new_id, module...: not a device
			continue
		}
		if vfNetdev(filepath.Join(dir, e.Name())) != "" {
			return true
		}
	}
	return false
}

// setVF runs one RTM_SETLINK for VF vf of pfRef, naming the operation "set vf 3 mac on ens5f0" and
// quoting the driver's log when the kernel gave no extended-ack message.
func (h *Host) setVF(pfRef string, vf int, what string, set func(ifindex int) error) error {
	return h.withPF(fmt.Sprintf("set vf %d %s on %s", vf, what, pfRef), pfRef, func(e pfEntry) error {
		op := fmt.Sprintf("set vf %d %s on %s", vf, what, e.name)
		h.markLog()
		return h.withKernelLog(mapErr(op, set(e.ifindex)), e.addr)
	})
}

// SetVFMAC sets the admin MAC with RTM_SETLINK (IFLA_VF_MAC).
func (h *Host) SetVFMAC(_ context.Context, pfRef string, vf int, mac string) error {
	return h.setVF(pfRef, vf, "mac", func(i int) error { return h.nl.SetMAC(i, vf, mac) })
}

// SetVFVLAN sets the port VLAN, priority and protocol (IFLA_VF_VLAN or IFLA_VF_VLAN_LIST for 802.1ad).
func (h *Host) SetVFVLAN(_ context.Context, pfRef string, vf int, vlan, qos int, proto sriov.VLANProto) error {
	return h.setVF(pfRef, vf, "vlan", func(i int) error { return h.nl.SetVLAN(i, vf, vlan, qos, proto) })
}

// SetVFSpoofCheck sets IFLA_VF_SPOOFCHK.
func (h *Host) SetVFSpoofCheck(_ context.Context, pfRef string, vf int, on bool) error {
	return h.setVF(pfRef, vf, "spoofchk", func(i int) error { return h.nl.SetSpoofCheck(i, vf, on) })
}

// SetVFTrust sets IFLA_VF_TRUST.
func (h *Host) SetVFTrust(_ context.Context, pfRef string, vf int, on bool) error {
	return h.setVF(pfRef, vf, "trust", func(i int) error { return h.nl.SetTrust(i, vf, on) })
}

// SetVFLinkState sets IFLA_VF_LINK_STATE.
func (h *Host) SetVFLinkState(_ context.Context, pfRef string, vf int, state sriov.LinkState) error {
	return h.setVF(pfRef, vf, "link state", func(i int) error { return h.nl.SetLinkState(i, vf, state) })
}

// SetVFRate sets IFLA_VF_RATE (min and max together).
func (h *Host) SetVFRate(_ context.Context, pfRef string, vf int, minMbps, maxMbps int) error {
	return h.setVF(pfRef, vf, "rate", func(i int) error { return h.nl.SetRate(i, vf, minMbps, maxMbps) })
}

// SetVFQueryRSS sets IFLA_VF_RSS_QUERY_EN.
func (h *Host) SetVFQueryRSS(_ context.Context, pfRef string, vf int, on bool) error {
	return h.setVF(pfRef, vf, "query_rss", func(i int) error { return h.nl.SetQueryRSS(i, vf, on) })
}

// noOverride is how sysfs shows an empty driver_override.
const noOverride = "(null)"

// BindVF binds a VF to driver through driver_override, unbind and drivers_probe; "" unbinds it and clears
// driver_override, so that a later reprobe (a module load, drivers_probe) does not bind the old driver
// again. Binding to the driver it already has does nothing. After binding a driver that makes netdevs it
// waits for the netdev; when that wait fails the bind was made, so the error is host.WrittenUnconfirmed.
func (h *Host) BindVF(ctx context.Context, pfRef string, vf int, driver string) error {
	what := "bind " + driver
	if driver == "" {
		what = "unbind"
	}
	return h.withPF(fmt.Sprintf("%s vf %d of %s", what, vf, pfRef), pfRef, func(e pfEntry) error {
		return h.bindVF(ctx, fmt.Sprintf("%s vf %d of %s", what, vf, e.name), e, vf, driver)
	})
}

func (h *Host) bindVF(ctx context.Context, op string, e pfEntry, vf int, driver string) error {
	if e.bus != "pci" {
		return host.Errorf(op, syscall.EOPNOTSUPP, "the VFs of %s (%s) have no PCI function to bind a driver to", e.name, e.addr)
	}
	dir := h.vfDir(e.name, vf)
	addr := linkBase(dir)
	if addr == "" {
		n, _ := readInt(filepath.Join(h.netDir(e.name), "device/sriov_numvfs"))
		return host.Errorf(op, syscall.ENODEV, "%s has no VF %d (numvfs %d)", e.name, vf, n)
	}
	override := filepath.Join(dir, "driver_override")
	oldOverride, _ := readString(override)
	cur := linkBase(filepath.Join(dir, "driver"))
	if driver == "" {
		if cur != "" {
			if err := h.write(filepath.Join(dir, "driver/unbind"), addr); err != nil {
				return mapErr(op+": unbind from "+cur, err)
			}
		}
		if oldOverride != "" && oldOverride != noOverride {
			// Writing an empty line clears the override. The unbind is done: a failure here leaves a
			// changed host behind.
			if err := h.write(override, ""); err != nil {
				err = mapErr(op+": clear driver_override", err)
				if cur != "" {
					return host.WrittenUnconfirmed(err)
				}
				return err
			}
		}
		return nil
	}
	if cur == driver {
		return nil
	}
	if _, err := os.Stat(filepath.Join(h.sys, "bus/pci/drivers", driver)); err != nil {
		hint := "load its module first"
		if driver == "vfio-pci" {
			hint = "load it first (modprobe vfio-pci)"
		}
		return host.Errorf(op, syscall.ENOENT, "driver %s is not loaded: %s", driver, hint)
	}
	if driver == "vfio-pci" {
		if _, err := os.Lstat(filepath.Join(dir, "iommu_group")); err != nil {
			return host.Errorf(op, syscall.EOPNOTSUPP,
				"VF %s has no IOMMU group: vfio-pci needs an IOMMU (boot with intel_iommu=on or amd_iommu=on and enable VT-d/AMD-Vi in the firmware)", addr)
		}
	}
	// The override makes drivers_probe (and later reprobes) pick this driver and no other.
	if err := h.write(override, driver); err != nil {
		return mapErr(op+": driver_override", err)
	}
	restoreOverride := func() {
		v := oldOverride
		if v == noOverride {
			v = ""
		}
		_ = h.write(override, v) // best effort: the error being returned says what failed
	}
	if cur != "" {
		if err := h.write(filepath.Join(dir, "driver/unbind"), addr); err != nil {
			restoreOverride()
			return mapErr(op+": unbind from "+cur, err)
		}
	}
	h.markLog()
	perr := h.write(filepath.Join(h.sys, "bus/pci/drivers_probe"), addr)
	got := linkBase(filepath.Join(dir, "driver"))
	if got != driver {
		detail := fmt.Sprintf("%s did not bind %s (now bound to %q)", driver, addr, got)
		if h.klog != nil {
			if logged := h.klog.Lines(addr); len(logged) > 0 {
				detail += "; kernel: " + strings.Join(logged, "; ")
			}
		}
		if driver == "vfio-pci" {
			detail += "; vfio-pci refuses devices without a working IOMMU (dmesg shows \"vfio-pci: probe ... failed\")"
		}
		errno := errnoOf(perr)
		if errno == 0 {
			errno = syscall.EIO
		}
		// Put the VF back as it was: its driver (if it had one) and its override.
		back := got == cur
		if cur != "" && got == "" {
			back = h.write(override, cur) == nil && h.write(filepath.Join(h.sys, "bus/pci/drivers_probe"), addr) == nil &&
				linkBase(filepath.Join(dir, "driver")) == cur
			if back {
				detail += "; rebound to " + cur
			}
		}
		restoreOverride()
		err := host.Errorf(op, errno, "%s", detail)
		if !back {
			return host.WrittenUnconfirmed(err) // the VF is left on another driver or none
		}
		return err
	}
	if h.makesNetdevs(driver) {
		if err := h.waitNetdev(ctx, op, dir); err != nil {
			return host.WrittenUnconfirmed(err)
		}
	}
	return nil
}

// waitNetdev waits for a freshly bound VF's netdev.
func (h *Host) waitNetdev(ctx context.Context, op, dir string) error {
	deadline := time.Now().Add(h.timeout)
	for vfNetdev(dir) == "" {
		if time.Now().After(deadline) {
			return host.Errorf(op, syscall.ETIMEDOUT, "no netdev after %s", h.timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for the VF's netdev: %w", op, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
	return nil
}

// maxConcurrentBinds bounds the driver binds and unbinds run at once: a VF driver's probe mostly waits
// (mailbox to the PF, register_netdev), so a few in parallel overlap those waits; more would only queue
// on the PF's mailbox.
const maxConcurrentBinds = 8

// ConcurrentBinds says that binds and unbinds of different VFs may run in parallel: each touches only
// its own VF's sysfs directory (driver_override, unbind) and the bus's drivers_probe.
func (h *Host) ConcurrentBinds() int { return maxConcurrentBinds }

// SetVFAttrs writes every set group of a in one RTM_SETLINK. When the kernel refuses one, the groups it
// applies before it have landed: the VF is read back (one RTM_GETLINK) so that the caller can tell which,
// and the error names the first group, in the kernel's order, that the VF does not show.
func (h *Host) SetVFAttrs(_ context.Context, pfRef string, vf int, a host.VFAttrs) (*sriov.VFConfig, error) {
	var after *sriov.VFConfig
	what := strings.Join(attrNames(a), ",")
	err := h.withPF(fmt.Sprintf("set vf %d %s on %s", vf, what, pfRef), pfRef, func(e pfEntry) error {
		h.markLog()
		err := h.nl.SetVFAttrs(e.ifindex, vf, a)
		if err == nil {
			return nil
		}
		if list, rerr := h.nl.VFInfo(e.ifindex, false); rerr == nil {
			for _, v := range list.VFs {
				if v.ID == vf {
					c := v.Config
					after = &c
				}
			}
		}
		if after != nil {
			if refused := firstMissing(a, *after); refused != "" {
				what = refused
			}
		}
		return h.withKernelLog(mapErr(fmt.Sprintf("set vf %d %s on %s", vf, what, e.name), err), e.addr)
	})
	return after, err
}

// attrNames names the set groups of a in the kernel's order, as the single setters name them.
func attrNames(a host.VFAttrs) []string {
	var n []string
	for _, g := range []struct {
		set  bool
		name string
	}{
		{a.MAC != nil, "mac"}, {a.VLAN != nil, "vlan"}, {a.Rate != nil, "rate"}, {a.SpoofCheck != nil, "spoofchk"},
		{a.LinkState != nil, "link state"}, {a.QueryRSS != nil, "query_rss"}, {a.Trust != nil, "trust"},
	} {
		if g.set {
			n = append(n, g.name)
		}
	}
	return n
}

// firstMissing names the first group of a, in the kernel's order, whose value c does not show: the one
// the kernel refused, since it stops there. "" when c shows them all.
func firstMissing(a host.VFAttrs, c sriov.VFConfig) string {
	proto := func(p sriov.VLANProto) sriov.VLANProto {
		if p == "" {
			return sriov.VLANProto8021Q
		}
		return p
	}
	switch {
	case a.MAC != nil && !strings.EqualFold(*a.MAC, c.MAC):
		return "mac"
	case a.VLAN != nil && (a.VLAN.VLAN != c.VLAN || a.VLAN.QoS != c.QoS || proto(a.VLAN.Proto) != proto(c.VLANProto)):
		return "vlan"
	case a.Rate != nil && (a.Rate.MinMbps != c.MinTxRateMbps || a.Rate.MaxMbps != c.MaxTxRateMbps):
		return "rate"
	case a.SpoofCheck != nil && *a.SpoofCheck != c.SpoofCheck:
		return "spoofchk"
	case a.LinkState != nil && *a.LinkState != c.LinkState:
		return "link state"
	case a.QueryRSS != nil && *a.QueryRSS != c.QueryRSS:
		return "query_rss"
	case a.Trust != nil && *a.Trust != c.Trust:
		return "trust"
	}
	return ""
}
