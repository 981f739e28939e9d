// Package sriov is the domain model of SR-IOV network devices: Physical Functions (PFs), their
// Virtual Functions (VFs) and each VF's administrative configuration, with the validation rules the
// kernel and iproute2 apply. It does no I/O: backends fill these types and planners compare them.
package sriov

import (
	"fmt"
	"net"
	"strings"
)

// LinkState is a VF's administrative link state (IFLA_VF_LINK_STATE).
type LinkState string

// The link states, with the netlink values auto=0, enable=1, disable=2.
const (
	LinkStateAuto    LinkState = "auto"
	LinkStateEnable  LinkState = "enable"
	LinkStateDisable LinkState = "disable"
)

// VLANProto is the tag protocol of a VF's port VLAN.
type VLANProto string

// The VLAN protocols a port VLAN may use.
const (
	VLANProto8021Q  VLANProto = "802.1Q"
	VLANProto8021AD VLANProto = "802.1ad"
)

// Limits from the kernel and 802.1Q.
const (
	MaxVLAN = 4094 // 4095 is reserved by 802.1Q; some drivers accept it, we refuse it ourselves.
	MaxQoS  = 7
	// MaxRateMbps bounds rate fields to what fits the kernel's u32 Mbps attribute with headroom; the
	// driver refuses rates above its link speed.
	MaxRateMbps = 1_000_000
	// MinMTU is the smallest MTU the kernel lets an Ethernet device take (ETH_MIN_MTU: IPv4 needs 68).
	MinMTU = 68
	// MaxMTU bounds an MTU in a policy file before the PF is known: the kernel's ETH_MAX_MTU. Each NIC
	// allows less (its profile's maxMtu); the planner checks that.
	MaxMTU = 65535
	// DefaultMaxMTU is the largest MTU assumed for a NIC sriovctl has no profile for: the jumbo limit
	// i40e and ice share (9728-byte frames less headers). The kernel refuses more itself.
	DefaultMaxMTU = 9702
)

// VFConfig is the administrative configuration of one VF, as `ip link show` reports it on the PF.
type VFConfig struct {
	MAC           string    `json:"mac"`
	VLAN          int       `json:"vlan"`
	QoS           int       `json:"qos"`
	VLANProto     VLANProto `json:"vlanProto"`
	SpoofCheck    bool      `json:"spoofchk"`
	Trust         bool      `json:"trust"`
	LinkState     LinkState `json:"linkState"`
	MinTxRateMbps int       `json:"minTxRateMbps"`
	MaxTxRateMbps int       `json:"maxTxRateMbps"`
	QueryRSS      bool      `json:"queryRss"`
}

// DefaultVFConfig is what a freshly created VF reports on every supported driver.
func DefaultVFConfig() VFConfig {
	return VFConfig{
		MAC:        ZeroMAC,
		VLANProto:  VLANProto8021Q,
		SpoofCheck: true,
		LinkState:  LinkStateAuto,
	}
}

// VF is one Virtual Function as observed on a host.
type VF struct {
	ID         int    `json:"id"`
	PCIAddress string `json:"pciAddress"`
	// Netdev is the VF's network interface name; empty while it is bound to vfio-pci or no driver.
	Netdev string `json:"netdev"`
	// Driver is the driver the VF is bound to now ("" for none).
	Driver string `json:"driver"`
	VFConfig
	// NetdevMAC is the MAC the VF's own netdev carries. It differs from the admin MAC when a driver
	// (igb) applies an admin MAC only after the VF driver is reloaded.
	NetdevMAC string `json:"netdevMac,omitempty"`
	// Representor is the VF's representor netdev while the PF's eswitch is in switchdev mode (from the
	// devlink port of flavour pcivf with this VF number); "" otherwise.
	Representor string `json:"representor,omitempty"`
}

// PF is one Physical Function with its VFs.
type PF struct {
	Name       string `json:"name"`
	PCIAddress string `json:"pciAddress"`
	Driver     string `json:"driver"`
	VendorID   string `json:"vendorId"`
	DeviceID   string `json:"deviceId"`
	// VFDeviceID is the PCI device ID the PF's VFs carry (sysfs sriov_vf_device), e.g. 10ca for igb;
	// "" when the host does not report it.
	VFDeviceID  string `json:"vfDeviceId,omitempty"`
	TotalVFs    int    `json:"totalVfs"`
	NumVFs      int    `json:"numVfs"`
	MAC         string `json:"mac"`
	MTU         int    `json:"mtu"`
	OperState   string `json:"operState"`
	EswitchMode string `json:"eswitchMode"`
	// VFsHaveNoDevice is set when the PF's VFs exist only in its driver, with no PCI function (netdevsim):
	// each VF's pciAddress, driver and netdev are empty because there is none, and it cannot be bound.
	VFsHaveNoDevice bool `json:"vfsHaveNoDevice,omitempty"`
	// VFInfoTruncated is set when the kernel returned fewer VF entries than numvfs (IFLA_VFINFO_LIST
	// overflow): VFs lists only what the kernel reported.
	VFInfoTruncated bool `json:"vfInfoTruncated,omitempty"`
	VFs             []VF `json:"vfs"`
	// MirrorRules are the offloaded mirror rules of a PF in switchdev mode (tc mirred on representors).
	MirrorRules []MirrorRule `json:"mirrorRules,omitempty"`
}

// VF returns the PF's VF with the given id, or nil.
func (p *PF) VF(id int) *VF {
	for i := range p.VFs {
		if p.VFs[i].ID == id {
			return &p.VFs[i]
		}
	}
	return nil
}

// Host is the observed state of every SR-IOV PF of a host.
type Host struct {
	PFs []PF `json:"pfs"`
}

// FindPF returns the PF named by netdev name or PCI address, or nil.
func (h *Host) FindPF(ref string) *PF {
	for i := range h.PFs {
		if h.PFs[i].Name == ref || h.PFs[i].PCIAddress == ref {
			return &h.PFs[i]
		}
	}
	return nil
}

// PFNames lists the PFs' netdev names, for error messages.
func (h *Host) PFNames() string {
	names := make([]string, 0, len(h.PFs))
	for _, p := range h.PFs {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// ZeroMAC is the MAC that means "no admin MAC set".
const ZeroMAC = "00:00:00:00:00:00"

// FieldError is a rejected input value: which field, what was given and what is allowed.
type FieldError struct {
	Field   string
	Value   string
	Allowed string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: invalid value %q: %s", e.Field, e.Value, e.Allowed)
}

// ParseMAC normalizes a MAC to lower-case colon form and rejects anything that is not a 48-bit
// unicast address (00:00:00:00:00:00 is allowed: it clears the admin MAC).
func ParseMAC(field, s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", &FieldError{field, s, "want a 48-bit MAC like 02:00:00:00:00:01"}
	}
	if hw[0]&1 == 1 {
		return "", &FieldError{field, s, "multicast and broadcast MACs are not allowed; want a unicast MAC (first octet even)"}
	}
	return hw.String(), nil
}

// ValidateVLAN checks a port VLAN id: 0 (none, flat) to 4094.
func ValidateVLAN(field string, v int) error {
	if v < 0 || v > MaxVLAN {
		return &FieldError{field, fmt.Sprint(v), fmt.Sprintf("allowed 0-%d (0 = no VLAN, flat)", MaxVLAN)}
	}
	return nil
}

// ValidateQoS checks an 802.1p priority: 0-7.
func ValidateQoS(field string, q int) error {
	if q < 0 || q > MaxQoS {
		return &FieldError{field, fmt.Sprint(q), fmt.Sprintf("allowed 0-%d", MaxQoS)}
	}
	return nil
}

// ParseVLANProto accepts 802.1Q and 802.1ad in any case.
func ParseVLANProto(field, s string) (VLANProto, error) {
	switch strings.ToLower(s) {
	case "802.1q":
		return VLANProto8021Q, nil
	case "802.1ad":
		return VLANProto8021AD, nil
	}
	return "", &FieldError{field, s, "allowed 802.1Q or 802.1ad"}
}

// ParseLinkState accepts auto, enable and disable.
func ParseLinkState(field, s string) (LinkState, error) {
	switch LinkState(s) {
	case LinkStateAuto, LinkStateEnable, LinkStateDisable:
		return LinkState(s), nil
	}
	return "", &FieldError{field, s, "allowed auto, enable or disable"}
}

// ValidateRate checks one rate in Mbps (0 = unlimited).
func ValidateRate(field string, r int) error {
	if r < 0 || r > MaxRateMbps {
		return &FieldError{field, fmt.Sprint(r), fmt.Sprintf("allowed 0-%d Mbps (0 = unlimited)", MaxRateMbps)}
	}
	return nil
}

// ValidateRates checks a min/max pair: each in range, and min <= max unless max is 0 (unlimited).
func ValidateRates(minField string, minMbps int, maxField string, maxMbps int) error {
	if err := ValidateRate(minField, minMbps); err != nil {
		return err
	}
	if err := ValidateRate(maxField, maxMbps); err != nil {
		return err
	}
	if maxMbps != 0 && minMbps > maxMbps {
		return &FieldError{minField, fmt.Sprint(minMbps), fmt.Sprintf("must not exceed %s (%d Mbps)", maxField, maxMbps)}
	}
	return nil
}

// ValidateVFID checks a VF index against a PF's current VF count.
func ValidateVFID(field string, id, numVFs int) error {
	if id < 0 || id >= numVFs {
		allowed := fmt.Sprintf("allowed 0-%d", numVFs-1)
		if numVFs == 0 {
			allowed = "the PF has no VFs (set --numvfs first)"
		}
		return &FieldError{field, fmt.Sprint(id), allowed}
	}
	return nil
}

// ValidateMTU checks a PF MTU against the range min..max the device allows.
func ValidateMTU(field string, mtu, maxMTU int) error {
	if mtu < MinMTU || mtu > maxMTU {
		return &FieldError{field, fmt.Sprint(mtu), fmt.Sprintf("allowed %d-%d", MinMTU, maxMTU)}
	}
	return nil
}

// ValidateNumVFs checks a VF count against the PF's sriov_totalvfs.
func ValidateNumVFs(field string, n, total int) error {
	if n < 0 || n > total {
		return &FieldError{field, fmt.Sprint(n), fmt.Sprintf("allowed 0-%d (sriov_totalvfs)", total)}
	}
	return nil
}

// Validate checks every field of a full VF configuration.
func (c VFConfig) Validate() error {
	if _, err := ParseMAC("mac", c.MAC); err != nil {
		return err
	}
	if err := ValidateVLAN("vlan", c.VLAN); err != nil {
		return err
	}
	if err := ValidateQoS("qos", c.QoS); err != nil {
		return err
	}
	if c.QoS != 0 && c.VLAN == 0 {
		return &FieldError{"qos", fmt.Sprint(c.QoS), "a QoS priority needs a VLAN (vlan 1-4094)"}
	}
	if _, err := ParseVLANProto("vlanProto", string(c.VLANProto)); err != nil {
		return err
	}
	if _, err := ParseLinkState("linkState", string(c.LinkState)); err != nil {
		return err
	}
	return ValidateRates("minTxRateMbps", c.MinTxRateMbps, "maxTxRateMbps", c.MaxTxRateMbps)
}
