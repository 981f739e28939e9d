package lab

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// pf is one emulated PF as stored (its VFs are stored apart, one record each; see store.go). Profile
// names the nicprofile it follows.
type pf struct {
	Name        string `json:"name"`
	Profile     string `json:"profile"`
	PCIAddress  string `json:"pciAddress"`
	TotalVFs    int    `json:"totalVfs"`
	NumVFs      int    `json:"numVfs"`
	MAC         string `json:"mac"`
	MTU         int    `json:"mtu"`
	OperState   string `json:"operState"`
	EswitchMode string `json:"eswitchMode"`
	// MirrorRules are offloaded switchdev mirror rules (tc mirred on representors), see mirror.go.
	MirrorRules []sriov.MirrorRule `json:"mirrorRules,omitempty"`
}

// vf is one emulated VF.
type vf struct {
	ID     int    `json:"id"`
	Driver string `json:"driver"`
	// NetdevMAC is the MAC the VF's netdev carries (what the guest/VM sees).
	NetdevMAC string `json:"netdevMac"`
	sriov.VFConfig
}

// fault is the injected-fault configuration.
type fault struct {
	// FailAt counts down mutating operations; the one that brings it to 0 fails with Errno.
	FailAt int    `json:"failAt,omitempty"`
	Errno  string `json:"errno,omitempty"`
	// AfterWrite makes that operation take effect first and then fail to confirm (host.Unconfirmed).
	AfterWrite bool          `json:"afterWrite,omitempty"`
	Delay      time.Duration `json:"delay,omitempty"`
}

// errno is the injected failure's errno: the one asked for, else what the kernel gives for the kind of
// failure (a wait that timed out after a write, an I/O error before one).
func (f fault) errno() syscall.Errno {
	if e, ok := nicprofile.ParseErrno(f.Errno); ok {
		return e
	}
	if f.AfterWrite {
		return syscall.ETIMEDOUT
	}
	return syscall.EIO
}

// observe reads p's VFs and returns the PF as a host reports it.
func (t *tx) observe(p *pf) (sriov.PF, error) {
	vfs, err := t.vfs(p)
	if err != nil {
		return sriov.PF{}, err
	}
	return observePF(p, vfs), nil
}

// observePF is the PF as a host reports it.
func observePF(p *pf, vfs []*vf) sriov.PF {
	prof := profileOf(p)
	o := sriov.PF{
		Name: p.Name, PCIAddress: p.PCIAddress, Driver: prof.Driver, VendorID: prof.VendorID,
		DeviceID: prof.DeviceID, VFDeviceID: prof.VFDeviceID, TotalVFs: p.TotalVFs, NumVFs: len(vfs), MAC: p.MAC, MTU: p.MTU,
		OperState: p.OperState, EswitchMode: p.EswitchMode, VFs: make([]sriov.VF, 0, len(vfs)),
		MirrorRules: append([]sriov.MirrorRule(nil), p.MirrorRules...),
	}
	o.VFsHaveNoDevice = prof.NoVFDevices
	address := vfAddresses(p.PCIAddress, prof)
	for _, v := range vfs {
		netdev, netdevMAC, addr := "", "", ""
		if v.Driver == prof.VFDriver && !prof.NoVFDevices {
			netdev, netdevMAC = p.Name+"v"+strconv.Itoa(v.ID), v.NetdevMAC
		}
		if !prof.NoVFDevices { // netdevsim's VFs have no PCI function
			addr = address(v.ID)
		}
		o.VFs = append(o.VFs, sriov.VF{
			ID: v.ID, PCIAddress: addr, Netdev: netdev,
			Driver: v.Driver, VFConfig: v.VFConfig, NetdevMAC: netdevMAC,
		})
	}
	return o
}

func profileOf(p *pf) *nicprofile.Profile {
	prof, ok := nicprofile.ByName(p.Profile)
	if !ok {
		return nicprofile.ForDriver(p.Profile)
	}
	return prof
}

// derivedMAC makes a stable locally administered unicast MAC from a seed.
func derivedMAC(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	sum[0] = (sum[0] | 0x02) &^ 0x01
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4], sum[5])
}
