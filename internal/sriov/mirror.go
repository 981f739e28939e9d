package sriov

import (
	"fmt"
	"strings"
)

// MirrorRule is an offloaded switchdev rule of the NIC's embedded switch: frames addressed to MAC, from
// any port, are copied to every VF in VFs. On Linux it is one tc flower filter per ingress representor
// (`tc filter add dev REP ingress flower dst_mac MAC action mirred egress mirror dev VFREP ...`).
type MirrorRule struct {
	Name string `json:"name"`
	MAC  string `json:"mac"`
	VFs  []int  `json:"vfs"`
}

// String renders the rule for plans and logs.
func (r MirrorRule) String() string {
	ids := make([]string, len(r.VFs))
	for i, id := range r.VFs {
		ids[i] = fmt.Sprint(id)
	}
	return fmt.Sprintf("%s: dst %s -> vf %s", r.Name, r.MAC, strings.Join(ids, ","))
}

// IsMulticast reports whether a MAC is a group address (multicast or broadcast).
func IsMulticast(mac string) bool {
	var b byte
	if _, err := fmt.Sscanf(mac, "%02x", &b); err != nil {
		return false
	}
	return b&1 == 1
}
