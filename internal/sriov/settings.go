package sriov

// VFSettings is a partial VF configuration: nil fields are left as they are. Commands (vf set, assign)
// and the policy file describe changes with it.
type VFSettings struct {
	MAC           *string    `json:"mac,omitempty"`
	VLAN          *int       `json:"vlan,omitempty"`
	QoS           *int       `json:"qos,omitempty"`
	VLANProto     *VLANProto `json:"vlanProto,omitempty"`
	SpoofCheck    *bool      `json:"spoofchk,omitempty"`
	Trust         *bool      `json:"trust,omitempty"`
	LinkState     *LinkState `json:"linkState,omitempty"`
	MinTxRateMbps *int       `json:"minTxRateMbps,omitempty"`
	MaxTxRateMbps *int       `json:"maxTxRateMbps,omitempty"`
	QueryRSS      *bool      `json:"queryRss,omitempty"`
}

// IsEmpty reports whether no field is set.
func (s VFSettings) IsEmpty() bool { return s == VFSettings{} }

// ApplyTo returns c with the set fields of s replaced. Setting a VLAN without a QoS resets QoS to 0 and
// the protocol to 802.1Q, as `ip link set ... vf N vlan V` does.
func (s VFSettings) ApplyTo(c VFConfig) VFConfig {
	if s.MAC != nil {
		c.MAC = *s.MAC
	}
	if s.VLAN != nil {
		c.VLAN = *s.VLAN
		if s.QoS == nil {
			c.QoS = 0
		}
		if s.VLANProto == nil {
			c.VLANProto = VLANProto8021Q
		}
	}
	if s.QoS != nil {
		c.QoS = *s.QoS
	}
	if s.VLANProto != nil {
		c.VLANProto = *s.VLANProto
	}
	if s.VLAN != nil && *s.VLAN == 0 && s.QoS == nil && s.VLANProto == nil {
		// Going flat: no priority tag or protocol to keep.
		c.QoS, c.VLANProto = 0, VLANProto8021Q
	}
	if s.SpoofCheck != nil {
		c.SpoofCheck = *s.SpoofCheck
	}
	if s.Trust != nil {
		c.Trust = *s.Trust
	}
	if s.LinkState != nil {
		c.LinkState = *s.LinkState
	}
	if s.MinTxRateMbps != nil {
		c.MinTxRateMbps = *s.MinTxRateMbps
	}
	if s.MaxTxRateMbps != nil {
		c.MaxTxRateMbps = *s.MaxTxRateMbps
	}
	if s.QueryRSS != nil {
		c.QueryRSS = *s.QueryRSS
	}
	return c
}

// Validate checks each set field on its own (field names as the policy file spells them).
func (s VFSettings) Validate() error {
	if s.MAC != nil {
		m, err := ParseMAC("mac", *s.MAC)
		if err != nil {
			return err
		}
		*s.MAC = m
	}
	if s.VLAN != nil {
		if err := ValidateVLAN("vlan", *s.VLAN); err != nil {
			return err
		}
	}
	if s.QoS != nil {
		if err := ValidateQoS("qos", *s.QoS); err != nil {
			return err
		}
	}
	if s.VLANProto != nil {
		p, err := ParseVLANProto("vlanProto", string(*s.VLANProto))
		if err != nil {
			return err
		}
		*s.VLANProto = p
	}
	if s.LinkState != nil {
		if _, err := ParseLinkState("linkState", string(*s.LinkState)); err != nil {
			return err
		}
	}
	if s.MinTxRateMbps != nil {
		if err := ValidateRate("minTxRateMbps", *s.MinTxRateMbps); err != nil {
			return err
		}
	}
	if s.MaxTxRateMbps != nil {
		if err := ValidateRate("maxTxRateMbps", *s.MaxTxRateMbps); err != nil {
			return err
		}
	}
	return nil
}
