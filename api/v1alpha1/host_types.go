package v1alpha1

// The types below mirror the JSON documents of `sriovctl show --json` (internal/sriov.Host) and
// `sriovctl plan --json` (internal/plan.Plan) field for field, so an agent publishes them by a JSON round
// trip and nothing is pruned by the API server. A test fails when the two drift apart.

// HostState is every SR-IOV PF of a host with its VFs.
type HostState struct {
	// +listType=atomic
	PFs []PFState `json:"pfs"`
}

// PFState is one Physical Function as observed.
type PFState struct {
	Name       string `json:"name"`
	PCIAddress string `json:"pciAddress"`
	Driver     string `json:"driver"`
	VendorID   string `json:"vendorId"`
	DeviceID   string `json:"deviceId"`
	// +optional
	VFDeviceID  string `json:"vfDeviceId,omitempty"`
	TotalVFs    int    `json:"totalVfs"`
	NumVFs      int    `json:"numVfs"`
	MAC         string `json:"mac"`
	MTU         int    `json:"mtu"`
	OperState   string `json:"operState"`
	EswitchMode string `json:"eswitchMode"`
	// VFInfoTruncated is set when the kernel reported fewer VFs than numVfs.
	// +optional
	VFInfoTruncated bool `json:"vfInfoTruncated,omitempty"`
	// VFsHaveNoDevice is set when the PF's VFs exist only in its driver, with no PCI function (netdevsim).
	// +optional
	VFsHaveNoDevice bool `json:"vfsHaveNoDevice,omitempty"`
	// +listType=atomic
	VFs []VFState `json:"vfs"`
	// +optional
	// +listType=atomic
	MirrorRules []MirrorRule `json:"mirrorRules,omitempty"`
}

// VFConfig is a VF's administrative configuration as the PF reports it.
type VFConfig struct {
	MAC           string `json:"mac"`
	VLAN          int    `json:"vlan"`
	QoS           int    `json:"qos"`
	VLANProto     string `json:"vlanProto"`
	SpoofCheck    bool   `json:"spoofchk"`
	Trust         bool   `json:"trust"`
	LinkState     string `json:"linkState"`
	MinTxRateMbps int    `json:"minTxRateMbps"`
	MaxTxRateMbps int    `json:"maxTxRateMbps"`
	QueryRSS      bool   `json:"queryRss"`
}

// VFState is one Virtual Function as observed.
type VFState struct {
	ID         int    `json:"id"`
	PCIAddress string `json:"pciAddress"`
	// Netdev is empty while the VF is bound to vfio-pci or to no driver.
	Netdev   string `json:"netdev"`
	Driver   string `json:"driver"`
	VFConfig `json:",inline"`
	// NetdevMAC is the MAC the VF's own netdev carries, when it differs in meaning from the admin MAC (igb).
	// +optional
	NetdevMAC string `json:"netdevMac,omitempty"`
	// Representor is the VF's representor netdev while the PF's eswitch is in switchdev mode.
	// +optional
	Representor string `json:"representor,omitempty"`
}

// MirrorRule is an offloaded switchdev mirror rule: frames to MAC copied to every VF in VFs.
type MirrorRule struct {
	Name string `json:"name"`
	MAC  string `json:"mac"`
	// +listType=atomic
	VFs []int `json:"vfs"`
}

// Plan is the ordered host writes that bring a host to its desired state.
type Plan struct {
	// +listType=atomic
	Ops []Op `json:"ops"`
	// Problems stop the plan from being applied.
	// +optional
	// +listType=atomic
	Problems []Problem `json:"problems,omitempty"`
	// Notes explain operations a reader would not expect.
	// +optional
	// +listType=atomic
	Notes []string `json:"notes,omitempty"`
	// Resizes are the VF count changes, with the VFs restored and removed.
	// +optional
	// +listType=atomic
	Resizes []Resize `json:"resizes,omitempty"`
}

// Op is one host write with the value it replaces.
type Op struct {
	// Kind is the attribute group written: numvfs, mac, vlan, spoofchk, trust, linkState, rate, queryRss,
	// driver, mirrorRule, eswitchMode, mtu (the PF's, before its VFs are created).
	Kind string `json:"kind"`
	PF   string `json:"pf"`
	// PFAddress is the PF's PCI address, by which the write names the PF (a netdev rename cannot misdirect it).
	// +optional
	PFAddress string `json:"pfAddress,omitempty"`
	// VF is -1 for a PF-level operation.
	VF   int   `json:"vf"`
	To   Value `json:"to"`
	From Value `json:"from"`
	// PriorVFs are the VFs a numvfs write destroys.
	// +optional
	// +listType=atomic
	PriorVFs []VFState `json:"priorVfs,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// Disruptive is set on writes that destroy VFs.
	// +optional
	Disruptive bool `json:"disruptive,omitempty"`
}

// Value is the value an operation writes; which fields count depends on the operation's kind.
type Value struct {
	// +optional
	NumVFs int `json:"numVfs,omitempty"`
	// +optional
	MAC string `json:"mac,omitempty"`
	// +optional
	VLAN int `json:"vlan,omitempty"`
	// +optional
	QoS int `json:"qos,omitempty"`
	// +optional
	VLANProto string `json:"vlanProto,omitempty"`
	// +optional
	On bool `json:"on,omitempty"`
	// +optional
	LinkState string `json:"linkState,omitempty"`
	// +optional
	MinTxRateMbps int `json:"minTxRateMbps,omitempty"`
	// +optional
	MaxTxRateMbps int `json:"maxTxRateMbps,omitempty"`
	// +optional
	Driver string `json:"driver,omitempty"`
	// +optional
	Rule *MirrorRule `json:"rule,omitempty"`
	// EswitchMode is the mode an eswitchMode operation writes (legacy, switchdev).
	// +optional
	EswitchMode string `json:"eswitchMode,omitempty"`
	// MTU is the PF MTU an mtu operation writes.
	// +optional
	MTU int `json:"mtu,omitempty"`
}

// Problem is something that stops a plan from being applied.
type Problem struct {
	// Kind is invalid, unsupported, refused, or nomatch (a PF selected by match is not on this host).
	Kind string `json:"kind"`
	// +optional
	PF string `json:"pf,omitempty"`
	// VF is -1 for the PF itself or the policy as a whole.
	VF int `json:"vf"`
	// Field is the policy path, e.g. pfs[0].vfs[1].linkState.
	// +optional
	Field string `json:"field,omitempty"`
	// +optional
	Line int    `json:"line,omitempty"`
	Msg  string `json:"message"`
}

// Resize is one VF count change of an enabled PF.
type Resize struct {
	PF   string `json:"pf"`
	From int    `json:"from"`
	To   int    `json:"to"`
	// +optional
	// +listType=atomic
	Restored []int `json:"restored,omitempty"`
	// +optional
	// +listType=atomic
	Removed []int `json:"removed,omitempty"`
}
