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

// vfInfoListLimit is what the kernel can put in one IFLA_VFINFO_LIST: its length is a 16-bit field.
const vfInfoListLimit = 65535

func (h *Host) netDir(name string) string { return filepath.Join(h.sys, "class/net", name) }

// pfNames lists the PF netdevs (isPF), sorted.
func (h *Host) pfNames() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(h.sys, "class/net"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if h.isPF(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// isPF: the netdev's device has sriov_totalvfs > 0, or (netdevsim) sriov_numvfs without sriov_totalvfs,
// and the netdev is not a VF representor (whose device is its PF's on mlx5, ice and netdevsim).
func (h *Host) isPF(name string) bool {
	dev := filepath.Join(h.netDir(name), "device")
	if n, err := readInt(filepath.Join(dev, "sriov_totalvfs")); err == nil {
		return n > 0 && !h.isRepresentor(name)
	}
	_, err := os.Stat(filepath.Join(dev, "sriov_numvfs"))
	return err == nil && !h.isRepresentor(name)
}

// repPort is a representor's phys_port_name taken apart: pf0vf3 (PF 0's VF 3), c1pf0vf3 (the same on
// controller 1, an external host), pf0sf1 (a subfunction).
type repPort struct {
	controller bool   // a "cN" prefix: a function of another (external) controller
	pf         int    // N of "pfN"
	kind       string // "vf" or "sf"
	index      int
}

// parseRepPort reads a representor's phys_port_name, the shape (c\d+)?pf\d+(vf|sf)\d+; ok is false
// for anything else (a PF's own "p0", an empty name). Every command that observes the host checks each
// PF's name this way, so it is written out rather than a regexp compiled per process.
func parseRepPort(s string) (p repPort, ok bool) {
	digits := func() (int, bool) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, false
		}
		n, _ := strconv.Atoi(s[:i])
		s = s[i:]
		return n, true
	}
	if strings.HasPrefix(s, "c") {
		s = s[1:]
		if _, ok := digits(); !ok {
			return p, false
		}
		p.controller = true
	}
	var cut bool
	if s, cut = strings.CutPrefix(s, "pf"); !cut {
		return p, false
	}
	if p.pf, ok = digits(); !ok || len(s) < 2 {
		return p, false
	}
	if p.kind, s = s[:2], s[2:]; p.kind != "vf" && p.kind != "sf" {
		return p, false
	}
	if p.index, ok = digits(); !ok || s != "" {
		return p, false
	}
	return p, true
}

func (h *Host) isRepresentor(name string) bool {
	_, ok := parseRepPort(sysStr(filepath.Join(h.netDir(name), "phys_port_name")))
	return ok
}

// sysStr is a sysfs attribute, "" when it cannot be read (drivers without switchdev answer EOPNOTSUPP).
func sysStr(path string) string {
	s, _ := readString(path)
	return s
}

// totalVFs is the PF's VF limit: sriov_totalvfs for PCI devices; netdevsim publishes it in debugfs
// (max_vfs, under sysfs's kernel/debug when debugfs is mounted there), else 0 (unknown).
func (h *Host) totalVFs(dev, bus, devName string) int {
	if n, err := readInt(filepath.Join(dev, "sriov_totalvfs")); err == nil {
		return n
	}
	if bus == "netdevsim" {
		if n, err := readInt(filepath.Join(h.sys, "kernel/debug/netdevsim", devName, "max_vfs")); err == nil {
			return n
		}
	}
	return 0
}

// entryOf reads what a write needs about the PF netdev name.
func (h *Host) entryOf(name string) (pfEntry, bool) {
	if name == "" || strings.ContainsRune(name, '/') || !h.isPF(name) {
		return pfEntry{}, false
	}
	idx, err := readInt(filepath.Join(h.netDir(name), "ifindex"))
	if err != nil || idx <= 0 {
		return pfEntry{}, false
	}
	dev := filepath.Join(h.netDir(name), "device")
	return pfEntry{name: name, addr: linkBase(dev), bus: busOf(dev), ifindex: idx}, true
}

// lookupPF finds a PF by netdev name or PCI address by looking at just that name or address in sysfs;
// only when neither is there does it scan every netdev (to match an address or to list the PFs).
func (h *Host) lookupPF(op, ref string) (pfEntry, error) {
	if e, ok := h.entryOf(ref); ok {
		return e, nil
	}
	if !strings.ContainsRune(ref, '/') {
		if ents, err := os.ReadDir(filepath.Join(h.sys, "bus/pci/devices", ref, "net")); err == nil {
			for _, d := range ents {
				if e, ok := h.entryOf(d.Name()); ok && e.addr == ref {
					return e, nil
				}
			}
		}
	}
	names, err := h.pfNames()
	if err != nil {
		return pfEntry{}, mapErr(op, err)
	}
	for _, n := range names {
		if linkBase(filepath.Join(h.netDir(n), "device")) == ref {
			if e, ok := h.entryOf(n); ok {
				return e, nil
			}
		}
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	return pfEntry{}, host.Errorf(op, syscall.ENODEV, "no SR-IOV PF %q (PFs: %s)", ref, list)
}

// resolvePF returns the PF named ref, from the Host's cache when it was resolved before.
func (h *Host) resolvePF(op, ref string) (pfEntry, error) {
	h.mu.Lock()
	e, ok := h.pfs[ref]
	h.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := h.lookupPF(op, ref)
	if err != nil {
		return e, err
	}
	h.remember(ref, e)
	return e, nil
}

func (h *Host) remember(ref string, e pfEntry) {
	h.mu.Lock()
	h.pfs[ref] = e
	h.pfs[e.name] = e
	if e.addr != "" {
		h.pfs[e.addr] = e
	}
	h.mu.Unlock()
}

// forget drops every cache entry of the PF e.
func (h *Host) forget(e pfEntry) {
	h.mu.Lock()
	for k, v := range h.pfs {
		if v == e {
			delete(h.pfs, k)
		}
	}
	h.mu.Unlock()
}

// withPF resolves ref and runs f on it. When f fails with ENODEV or ENOENT before writing anything and
// the PF resolves differently now (it was renamed, removed and re-added, its driver reloaded), the cached
// entry was stale: f runs once more on the fresh one.
func (h *Host) withPF(op, ref string, f func(pfEntry) error) error {
	e, err := h.resolvePF(op, ref)
	if err != nil {
		return err
	}
	err = f(e)
	if err == nil || host.OutcomeOf(err) != host.NotWritten {
		return err
	}
	if errno := errnoOf(err); errno != syscall.ENODEV && errno != syscall.ENOENT {
		return err
	}
	h.forget(e)
	fresh, rerr := h.resolvePF(op, ref)
	if rerr != nil || fresh == e {
		return err
	}
	return f(fresh)
}

// busOf is the bus of a device directory ("pci", "netdevsim"); "pci" when sysfs does not say.
func busOf(dev string) string {
	if b := linkBase(filepath.Join(dev, "subsystem")); b != "" {
		return b
	}
	return "pci"
}

// readPF reads a PF and its VFs from sysfs only; VF configuration comes from netlink afterwards. VFs
// without PCI functions (netdevsim) are not in sysfs at all: observePF takes them from netlink.
func (h *Host) readPF(name string) (sriov.PF, error) {
	dev := filepath.Join(h.netDir(name), "device")
	pf := sriov.PF{Name: name, PCIAddress: linkBase(dev), Driver: linkBase(filepath.Join(dev, "driver")), VFs: []sriov.VF{}}
	bus := busOf(dev)
	pf.VFsHaveNoDevice = bus != "pci"
	pf.VendorID, _ = readString(filepath.Join(dev, "vendor"))
	pf.VendorID = strings.TrimPrefix(pf.VendorID, "0x")
	pf.DeviceID, _ = readString(filepath.Join(dev, "device"))
	pf.DeviceID = strings.TrimPrefix(pf.DeviceID, "0x")
	pf.VFDeviceID, _ = readString(filepath.Join(dev, "sriov_vf_device"))
	pf.VFDeviceID = strings.TrimPrefix(pf.VFDeviceID, "0x")
	var err error
	pf.TotalVFs = h.totalVFs(dev, bus, pf.PCIAddress)
	if pf.NumVFs, err = readInt(filepath.Join(dev, "sriov_numvfs")); err != nil {
		return pf, err
	}
	pf.MAC, _ = readString(filepath.Join(h.netDir(name), "address"))
	pf.MTU, _ = readInt(filepath.Join(h.netDir(name), "mtu"))
	pf.OperState, _ = readString(filepath.Join(h.netDir(name), "operstate"))
	for id := 0; id < pf.NumVFs && !pf.VFsHaveNoDevice; id++ {
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

// Observe reads every PF from sysfs and each PF's VF configuration with one RTM_GETLINK. A PF whose VF
// list the kernel could not fit into its answer is an error (see observePF), not a short list.
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

// ObservePF reads one PF (netdev name or PCI address) as Observe does, with one RTM_GETLINK for it
// alone; ok is false when there is no such SR-IOV PF.
func (h *Host) ObservePF(ctx context.Context, ref string) (*sriov.PF, bool, error) {
	e, err := h.lookupPF("observe "+ref, ref)
	if errors.Is(err, host.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	pf, err := h.observeEntry(e)
	if err != nil {
		return nil, false, err
	}
	return &pf, true, nil
}

func (h *Host) observePF(name string) (sriov.PF, error) {
	e, ok := h.entryOf(name)
	if !ok {
		return sriov.PF{}, host.Errorf("observe "+name, syscall.ENODEV, "PF %s disappeared", name)
	}
	return h.observeEntry(e)
}

// observeEntry reads the PF of e, found by the caller, and its VFs.
func (h *Host) observeEntry(e pfEntry) (sriov.PF, error) {
	name := e.name
	op := "observe " + name
	pf, err := h.readPF(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return pf, host.Errorf(op, syscall.ENODEV, "PF %s disappeared", name)
		}
		return pf, mapErr(op, err)
	}
	h.remember(name, e) // later writes need no lookup
	pf.EswitchMode = h.nl.EswitchMode(e.bus, e.addr)
	var reps map[int]string
	if pf.EswitchMode == "switchdev" {
		if reps, err = h.representors(op, e); err != nil {
			return pf, err
		}
		if pf.MirrorRules, err = h.observeMirrorRules(name, reps); err != nil {
			return pf, mapErr(op+": mirror rules", err)
		}
	}
	if pf.NumVFs == 0 {
		return pf, nil
	}
	list, err := h.nl.VFInfo(e.ifindex, false)
	if err != nil {
		return pf, mapErr(op+": RTM_GETLINK", err)
	}
	if err := checkComplete(op, list, pf.NumVFs, false); err != nil {
		return pf, err
	}
	if pf.VFsHaveNoDevice {
		// Only the PF driver knows these VFs: PCI address, driver and netdev do not exist (left empty).
		for _, in := range list.VFs {
			pf.VFs = append(pf.VFs, sriov.VF{ID: in.ID, VFConfig: in.Config})
		}
		sort.Slice(pf.VFs, func(i, j int) bool { return pf.VFs[i].ID < pf.VFs[j].ID })
	}
	byID := make(map[int]sriov.VFConfig, len(list.VFs))
	for _, in := range list.VFs {
		byID[in.ID] = in.Config
	}
	kept := pf.VFs[:0]
	for _, vf := range pf.VFs {
		cfg, ok := byID[vf.ID]
		if !ok {
			continue // the kernel did not report it: list only what it reported
		}
		vf.VFConfig = cfg
		vf.Representor = reps[vf.ID]
		kept = append(kept, vf)
	}
	pf.VFs = kept
	return pf, nil
}

// checkComplete fails when the kernel's answer holds fewer VF entries than the PF has: the VF list did
// not fit into one netlink attribute (its length is 16 bits, 65535 bytes). That is a limit of the running
// kernel, not of the input, so it is an operational error (KindFailed, EMSGSIZE) that says so.
func checkComplete(op string, list vfList, sysfsNum int, withStats bool) error {
	want := sysfsNum
	if list.NumVFs >= 0 {
		want = list.NumVFs
	}
	if len(list.VFs) >= want {
		return nil
	}
	per := "about 196 bytes per VF, so about 330 VFs, with statistics left out"
	if withStats {
		per = "about 300 bytes per VF with statistics, so about 220 VFs"
	}
	return &host.Error{Op: op, Kind: host.KindFailed, Errno: syscall.EMSGSIZE, Detail: "the kernel reported " +
		strconv.Itoa(len(list.VFs)) + " of " + strconv.Itoa(want) + " VFs: its VF list (IFLA_VFINFO_LIST) in one netlink answer is limited to " +
		strconv.Itoa(vfInfoListLimit) + " bytes (" + per + "); this PF has more VFs than this kernel can report"}
}
