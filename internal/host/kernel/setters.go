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
// driver, its netdev), or until the VFs are gone when shrinking to 0. The kernel's answers are kept:
// EBUSY for M>0 -> N>0 with N != M, ERANGE above sriov_totalvfs.
func (h *Host) SetNumVFs(ctx context.Context, pfRef string, n int) error {
	op := fmt.Sprintf("set numvfs %d on %s", n, pfRef)
	pf, err := h.resolvePF(op, pfRef)
	if err != nil {
		return err
	}
	op = fmt.Sprintf("set numvfs %d on %s", n, pf)
	carrier := filepath.Join(h.netDir(pf), "carrier")
	hadLink, _ := readString(carrier)
	log := h.openLog()
	err = writeSysfs(filepath.Join(h.netDir(pf), "device/sriov_numvfs"), strconv.Itoa(n))
	if err = withKernelLog(mapErr(op, err), log, linkBase(filepath.Join(h.netDir(pf), "device"))); err != nil {
		return err
	}
	if err := h.waitVFs(ctx, op, pf, n); err != nil {
		return err
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
				return ctx.Err()
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
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
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// countReady counts VFs 0..n-1 whose virtfnN link exists and that have a netdev if a network driver is
// bound (a VF with no driver, or bound to vfio-pci, is ready without one); present counts every virtfnN
// link, so that stale VFs beyond n keep the wait going.
func (h *Host) countReady(pf string, n int) (ready, present int) {
	ents, _ := filepath.Glob(filepath.Join(h.netDir(pf), "device", "virtfn*"))
	present = len(ents)
	for id := 0; id < n; id++ {
		dir := h.vfDir(pf, id)
		if linkBase(dir) == "" {
			continue
		}
		if drv := linkBase(filepath.Join(dir, "driver")); drv != "" && isNetDriver(drv) && vfNetdev(dir) == "" {
			continue
		}
		ready++
	}
	return ready, present
}

// isNetDriver reports whether a PCI driver makes netdevs; VFIO and stub drivers do not.
func isNetDriver(drv string) bool {
	switch drv {
	case "vfio-pci", "pci-stub", "uio_pci_generic", "igb_uio":
		return false
	}
	return true
}

// vfOp resolves the PF and names the operation "set vf 3 mac on ens5f0".
func (h *Host) vfOp(pfRef string, vf int, what string) (pf, op string, err error) {
	op = fmt.Sprintf("set vf %d %s on %s", vf, what, pfRef)
	pf, err = h.resolvePF(op, pfRef)
	if err != nil {
		return "", op, err
	}
	return pf, fmt.Sprintf("set vf %d %s on %s", vf, what, pf), nil
}

// setLink runs one RTM_SETLINK on pf and maps its error, quoting the driver's log when the kernel gave
// no extended-ack message.
func (h *Host) setLink(op, pf string, set func() error) error {
	log := h.openLog()
	return withKernelLog(mapErr(op, set()), log, linkBase(filepath.Join(h.netDir(pf), "device")))
}

// SetVFMAC sets the admin MAC with RTM_SETLINK (IFLA_VF_MAC).
func (h *Host) SetVFMAC(_ context.Context, pfRef string, vf int, mac string) error {
	pf, op, err := h.vfOp(pfRef, vf, "mac")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetMAC(pf, vf, mac) })
}

// SetVFVLAN sets the port VLAN, priority and protocol (IFLA_VF_VLAN or IFLA_VF_VLAN_LIST for 802.1ad).
func (h *Host) SetVFVLAN(_ context.Context, pfRef string, vf int, vlan, qos int, proto sriov.VLANProto) error {
	pf, op, err := h.vfOp(pfRef, vf, "vlan")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetVLAN(pf, vf, vlan, qos, proto) })
}

// SetVFSpoofCheck sets IFLA_VF_SPOOFCHK.
func (h *Host) SetVFSpoofCheck(_ context.Context, pfRef string, vf int, on bool) error {
	pf, op, err := h.vfOp(pfRef, vf, "spoofchk")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetSpoofCheck(pf, vf, on) })
}

// SetVFTrust sets IFLA_VF_TRUST.
func (h *Host) SetVFTrust(_ context.Context, pfRef string, vf int, on bool) error {
	pf, op, err := h.vfOp(pfRef, vf, "trust")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetTrust(pf, vf, on) })
}

// SetVFLinkState sets IFLA_VF_LINK_STATE.
func (h *Host) SetVFLinkState(_ context.Context, pfRef string, vf int, state sriov.LinkState) error {
	pf, op, err := h.vfOp(pfRef, vf, "link state")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetLinkState(pf, vf, state) })
}

// SetVFRate sets IFLA_VF_RATE (min and max together).
func (h *Host) SetVFRate(_ context.Context, pfRef string, vf int, minMbps, maxMbps int) error {
	pf, op, err := h.vfOp(pfRef, vf, "rate")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetRate(pf, vf, minMbps, maxMbps) })
}

// SetVFQueryRSS sets IFLA_VF_RSS_QUERY_EN.
func (h *Host) SetVFQueryRSS(_ context.Context, pfRef string, vf int, on bool) error {
	pf, op, err := h.vfOp(pfRef, vf, "query_rss")
	if err != nil {
		return err
	}
	return h.setLink(op, pf, func() error { return h.nl.SetQueryRSS(pf, vf, on) })
}

// BindVF binds a VF to driver through driver_override, unbind and drivers_probe; "" unbinds it. Binding
// to the driver it already has does nothing. After binding a network driver it waits for the netdev.
func (h *Host) BindVF(ctx context.Context, pfRef string, vf int, driver string) error {
	what := "bind " + driver
	if driver == "" {
		what = "unbind"
	}
	op := fmt.Sprintf("%s vf %d of %s", what, vf, pfRef)
	pf, err := h.resolvePF(op, pfRef)
	if err != nil {
		return err
	}
	op = fmt.Sprintf("%s vf %d of %s", what, vf, pf)
	dir := h.vfDir(pf, vf)
	addr := linkBase(dir)
	if addr == "" {
		n, _ := readInt(filepath.Join(h.netDir(pf), "device/sriov_numvfs"))
		return host.Errorf(op, syscall.ENODEV, "%s has no VF %d (numvfs %d)", pf, vf, n)
	}
	cur := linkBase(filepath.Join(dir, "driver"))
	if cur == driver {
		return nil
	}
	if driver != "" {
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
		if err := writeSysfs(filepath.Join(dir, "driver_override"), driver); err != nil {
			return mapErr(op+": driver_override", err)
		}
	}
	if cur != "" {
		if err := writeSysfs(filepath.Join(dir, "driver/unbind"), addr); err != nil {
			return mapErr(op+": unbind from "+cur, err)
		}
	}
	if driver == "" {
		return nil
	}
	log := h.openLog()
	perr := writeSysfs(filepath.Join(h.sys, "bus/pci/drivers_probe"), addr)
	got := linkBase(filepath.Join(dir, "driver"))
	var logged []string
	if log != nil {
		logged = log.Lines(addr)
		log.Close()
	}
	if got != driver {
		detail := fmt.Sprintf("%s did not bind %s (now bound to %q)", driver, addr, got)
		if len(logged) > 0 {
			detail += "; kernel: " + strings.Join(logged, "; ")
		}
		if driver == "vfio-pci" {
			detail += "; vfio-pci refuses devices without a working IOMMU (dmesg shows \"vfio-pci: probe ... failed\")"
		}
		errno := errnoOf(perr)
		if errno == 0 {
			errno = syscall.EIO
		}
		if cur != "" && got == "" { // put the VF back on the driver it had
			if writeSysfs(filepath.Join(dir, "driver_override"), cur) == nil &&
				writeSysfs(filepath.Join(h.sys, "bus/pci/drivers_probe"), addr) == nil {
				detail += "; rebound to " + cur
			}
		}
		return host.Errorf(op, errno, "%s", detail)
	}
	if isNetDriver(driver) {
		return h.waitNetdev(ctx, op, dir)
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
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	return nil
}
