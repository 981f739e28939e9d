package v1alpha1

// PolicyDocument is a policy file's content: the desired VF counts and VF settings per PF, the VF pools
// and the mirror groups. Field names and JSON are those of the policy file (internal/policy.Policy).
type PolicyDocument struct {
	// PFs lists the PFs to configure; PFs it does not name are not touched.
	// (The list bounds keep the API server's cost estimate of the per-entry CEL rules within its budget.)
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	PFs []PFPolicy `json:"pfs"`
	// Mirrors are groups of VFs of one PF that receive the same frames.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Mirrors []Mirror `json:"mirrors,omitempty"`
	// Pools are sets of VFs of one PF handed out to VMs by `sriovctl assign`.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Pools []Pool `json:"pools,omitempty"`
}

// PFPolicy is the desired state of one PF, named by netdev name, by PCI address or by match (exactly one).
// +kubebuilder:validation:XValidation:rule="(has(self.name) ? 1 : 0) + (has(self.pciAddress) ? 1 : 0) + (has(self.match) ? 1 : 0) == 1",message="give name (netdev, e.g. ens2f0), pciAddress (e.g. 0000:3b:00.0) or match, exactly one"
type PFPolicy struct {
	// Name is the PF's netdev name, e.g. ens2f0.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[^/\s:]+$`
	Name string `json:"name,omitempty"`
	// PCIAddress is the PF's PCI address, e.g. 0000:3b:00.0.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$`
	PCIAddress string `json:"pciAddress,omitempty"`
	// Match selects the PF by what it is, for nodes whose interface names differ; it must select exactly
	// one PF of the node (none is reported as a nomatch problem, several as invalid).
	// +optional
	Match *PFMatch `json:"match,omitempty"`
	// NumVFs is the desired VF count (0 to the PF's sriov_totalvfs). Changing the count of a PF that has
	// VFs destroys them: a disruptive change.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	NumVFs *int `json:"numVfs,omitempty"`
	// EswitchMode is the desired eswitch mode; empty leaves it as it is. Changing it on a PF that has VFs
	// goes through 0 VFs: a disruptive change.
	// +optional
	// +kubebuilder:validation:Enum=legacy;switchdev
	EswitchMode string `json:"eswitchMode,omitempty"`
	// MTU is the PF netdev's MTU, set before its VFs are created; the node's agent checks it against the
	// NIC's maximum.
	// +optional
	// +kubebuilder:validation:Minimum=68
	// +kubebuilder:validation:Maximum=65535
	MTU *int `json:"mtu,omitempty"`
	// VFs are the settings of sets of VFs; a VF may appear in one entry only.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	// +listType=atomic
	VFs []VFGroup `json:"vfs,omitempty"`
}

// PFMatch selects a PF by what it is: every field given must hold.
// +kubebuilder:validation:XValidation:rule="has(self.vendorId) || has(self.deviceId) || has(self.driver) || has(self.pciAddress)",message="give at least one of vendorId, deviceId, driver and pciAddress"
type PFMatch struct {
	// VendorID is the PCI vendor ID as lspci -n shows it, e.g. 8086.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0[xX])?[0-9a-fA-F]{4}$`
	VendorID string `json:"vendorId,omitempty"`
	// DeviceID is the PCI device ID as lspci -n shows it, e.g. 159b.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0[xX])?[0-9a-fA-F]{4}$`
	DeviceID string `json:"deviceId,omitempty"`
	// Driver is the PF's driver, e.g. ice.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[^/\s*?\[]+$`
	Driver string `json:"driver,omitempty"`
	// PCIAddress is a shell glob over the PF's PCI address, e.g. 0000:3b:00.* (3b:00.* means domain 0000).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PCIAddress string `json:"pciAddress,omitempty"`
}

// VFGroup is the settings for a set of VFs. Attributes it does not name are left as they are.
// +kubebuilder:validation:XValidation:rule="!has(self.qos) || self.qos == 0 || (has(self.vlan) && self.vlan != 0)",message="a QoS priority needs a VLAN in the same entry (vlan 1-4094)"
// +kubebuilder:validation:XValidation:rule="!has(self.minTxRateMbps) || !has(self.maxTxRateMbps) || self.maxTxRateMbps == 0 || self.minTxRateMbps <= self.maxTxRateMbps",message="minTxRateMbps must not exceed maxTxRateMbps (0 = unlimited)"
type VFGroup struct {
	// IDs are VF ids such as "0-3" or "0,2-5".
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^\s*[0-9]+\s*(-\s*[0-9]+\s*)?(,\s*[0-9]+\s*(-\s*[0-9]+\s*)?)*$`
	IDs string `json:"ids"`
	// MAC is the VF's admin MAC (a single VF only), e.g. 02:00:00:00:00:10; 00:00:00:00:00:00 clears it.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$`
	MAC *string `json:"mac,omitempty"`
	// VLAN is the port VLAN, 0 = none (flat).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4094
	VLAN *int `json:"vlan,omitempty"`
	// QoS is the 802.1p priority of the port VLAN.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=7
	QoS *int `json:"qos,omitempty"`
	// VLANProto is the port VLAN's tag protocol, 802.1Q or 802.1ad (any case).
	// +optional
	// +kubebuilder:validation:Pattern=`^802\.1([qQ]|[aA][dD])$`
	VLANProto *string `json:"vlanProto,omitempty"`
	// SpoofCheck turns the VF's source MAC spoof check on or off.
	// +optional
	SpoofCheck *bool `json:"spoofchk,omitempty"`
	// Trust lets the VF change its MAC and enter promiscuous or all-multicast mode.
	// +optional
	Trust *bool `json:"trust,omitempty"`
	// LinkState is the VF's administrative link state.
	// +optional
	// +kubebuilder:validation:Enum=auto;enable;disable
	LinkState *string `json:"linkState,omitempty"`
	// MinTxRateMbps is the guaranteed transmit rate, 0 = none.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	MinTxRateMbps *int `json:"minTxRateMbps,omitempty"`
	// MaxTxRateMbps is the transmit rate limit, 0 = unlimited.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	MaxTxRateMbps *int `json:"maxTxRateMbps,omitempty"`
	// QueryRSS lets the VF query the PF's RSS configuration.
	// +optional
	QueryRSS *bool `json:"queryRss,omitempty"`
	// Driver is the driver the VFs are bound to: vfio-pci for VMs, or the VF's netdev driver.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[^/\s]+$`
	Driver *string `json:"driver,omitempty"`
}

// Mirror is a mirror group: the frames to one MAC delivered to several VFs of one PF.
type Mirror struct {
	// Name names the group.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`
	Name string `json:"name"`
	// PF is the PF's netdev name or PCI address.
	// +kubebuilder:validation:MinLength=1
	PF string `json:"pf"`
	// VFs are the member VF ids (at least 2), e.g. "2,3".
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^\s*[0-9]+\s*(-\s*[0-9]+\s*)?(,\s*[0-9]+\s*(-\s*[0-9]+\s*)?)*$`
	VFs string `json:"vfs"`
	// MAC is the shared unicast MAC; absent = chosen by sriovctl.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$`
	MAC string `json:"mac,omitempty"`
	// Strategy is how the NIC is made to deliver to every member.
	// +optional
	// +kubebuilder:validation:Enum=auto;same-mac;switchdev-tc
	Strategy string `json:"strategy,omitempty"`
}

// Pool is a set of VFs of one PF handed out to VMs.
type Pool struct {
	// Name names the pool.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`
	Name string `json:"name"`
	// PF is the PF's netdev name or PCI address.
	// +kubebuilder:validation:MinLength=1
	PF string `json:"pf"`
	// IDs are the pool's VF ids, e.g. "0-7".
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^\s*[0-9]+\s*(-\s*[0-9]+\s*)?(,\s*[0-9]+\s*(-\s*[0-9]+\s*)?)*$`
	IDs string `json:"ids"`
	// Driver is the driver an assigned VF is bound to, e.g. vfio-pci.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[^/\s]+$`
	Driver string `json:"driver,omitempty"`
}
