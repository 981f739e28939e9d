package kernel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// truncationSuspectVFs is the VF count above which a failed RTM_GETLINK is retried with the lenient raw
// reader (the 16-bit IFLA_VFINFO_LIST length wraps at about 220 VFs; vishvananda/netlink's 64 KB receive
// buffer is too small from about 222 VFs, its issue #960).
const truncationSuspectVFs = 200

func (h *Host) netDir(name string) string { return filepath.Join(h.sys, "class/net", name) }

// pfNames lists the netdevs whose device has sriov_totalvfs > 0, sorted.
func (h *Host) pfNames() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(h.sys, "class/net"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if n, err := readInt(filepath.Join(h.netDir(e.Name()), "device/sriov_totalvfs")); err == nil && n > 0 {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// resolvePF finds a PF's netdev name from a netdev name or a PCI address.
func (h *Host) resolvePF(op, ref string) (string, error) {
	names, err := h.pfNames()
	if err != nil {
		return "", mapErr(op, err)
	}
	for _, n := range names {
		if n == ref || linkBase(filepath.Join(h.netDir(n), "device")) == ref {
			return n, nil
		}
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	return "", host.Errorf(op, syscall.ENODEV, "no SR-IOV PF %q (PFs: %s)", ref, list)
}

// readPF reads a PF and its VFs from sysfs only; VF configuration comes from netlink afterwards.
func (h *Host) readPF(name string) (sriov.PF, error) {
	dev := filepath.Join(h.netDir(name), "device")
	pf := sriov.PF{Name: name, PCIAddress: linkBase(dev), Driver: linkBase(filepath.Join(dev, "driver")), VFs: []sriov.VF{}}
	pf.VendorID, _ = readString(filepath.Join(dev, "vendor"))
	pf.VendorID = strings.TrimPrefix(pf.VendorID, "0x")
	pf.DeviceID, _ = readString(filepath.Join(dev, "device"))
	pf.DeviceID = strings.TrimPrefix(pf.DeviceID, "0x")
	pf.VFDeviceID, _ = readString(filepath.Join(dev, "sriov_vf_device"))
	pf.VFDeviceID = strings.TrimPrefix(pf.VFDeviceID, "0x")
	var err error
	if pf.TotalVFs, err = readInt(filepath.Join(dev, "sriov_totalvfs")); err != nil {
		return pf, err
	}
	if pf.NumVFs, err = readInt(filepath.Join(dev, "sriov_numvfs")); err != nil {
		return pf, err
	}
	pf.MAC, _ = readString(filepath.Join(h.netDir(name), "address"))
	pf.MTU, _ = readInt(filepath.Join(h.netDir(name), "mtu"))
	pf.OperState, _ = readString(filepath.Join(h.netDir(name), "operstate"))
	for id := 0; id < pf.NumVFs; id++ {
		vf, ok := h.readVF(name, id)
		if !ok {
			continue // not created yet (numvfs was just written)
		}
		pf.VFs = append(pf.VFs, vf)
	}
	if pf.VFDeviceID == "" && len(pf.VFs) > 0 {
		// Kernels without sriov_vf_device: the first VF's own device id.
		id, _ := readString(filepath.Join(h.vfDir(name, pf.VFs[0].ID), "device"))
		pf.VFDeviceID = strings.TrimPrefix(id, "0x")
	}
	return pf, nil
}

func (h *Host) vfDir(pf string, id int) string {
	return filepath.Join(h.netDir(pf), "device", "virtfn"+strconv.Itoa(id))
}

// readVF reads one VF's PCI address, driver and netdev; ok is false while its virtfnN link is missing.
func (h *Host) readVF(pf string, id int) (sriov.VF, bool) {
	dir := h.vfDir(pf, id)
	addr := linkBase(dir)
	if addr == "" {
		return sriov.VF{}, false
	}
	vf := sriov.VF{ID: id, PCIAddress: addr, Driver: linkBase(filepath.Join(dir, "driver")), VFConfig: sriov.DefaultVFConfig()}
	vf.Netdev = vfNetdev(dir)
	if vf.Netdev != "" {
		vf.NetdevMAC, _ = readString(filepath.Join(dir, "net", vf.Netdev, "address"))
	}
	return vf, true
}

// vfNetdev is the first entry of <vf>/net/ ("" while the VF has no network driver).
func vfNetdev(dir string) string {
	ents, err := os.ReadDir(filepath.Join(dir, "net"))
	if err != nil || len(ents) == 0 {
		return ""
	}
	return ents[0].Name()
}

// Observe reads every PF from sysfs and each PF's VF configuration with one RTM_GETLINK.
func (h *Host) Observe(ctx context.Context) (*sriov.Host, error) {
	names, err := h.pfNames()
	if err != nil {
		return nil, mapErr("observe", err)
	}
	out := &sriov.Host{PFs: []sriov.PF{}}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pf, err := h.observePF(n)
		if err != nil {
			return nil, err
		}
		out.PFs = append(out.PFs, pf)
	}
	return out, nil
}

func (h *Host) observePF(name string) (sriov.PF, error) {
	op := "observe " + name
	pf, err := h.readPF(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return pf, host.Errorf(op, syscall.ENODEV, "PF %s disappeared", name)
		}
		return pf, mapErr(op, err)
	}
	pf.EswitchMode = h.nl.EswitchMode(pf.PCIAddress)
	if pf.EswitchMode == "switchdev" {
		pf.MirrorRules = h.observeMirrorRules(name)
	}
	if pf.NumVFs == 0 {
		return pf, nil
	}
	infos, err := h.nl.VFInfo(name)
	if err != nil {
		return pf, mapErr(op+": RTM_GETLINK", err)
	}
	byID := make(map[int]sriov.VFConfig, len(infos))
	for _, in := range infos {
		byID[in.ID] = in.Config
	}
	kept := pf.VFs[:0]
	for _, vf := range pf.VFs {
		cfg, ok := byID[vf.ID]
		if !ok {
			continue // the kernel did not report it: list only what it reported
		}
		vf.VFConfig = cfg
		kept = append(kept, vf)
	}
	pf.VFs = kept
	if len(infos) < pf.NumVFs {
		pf.VFInfoTruncated = true
	}
	return pf, nil
}
