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

// MirrorRuleHandle is the tc filter handle that carries a rule's identity on a real host (tc keeps no
// names): stable for a name, never 0.
func MirrorRuleHandle(name string) uint32 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return h&0x7fffffff | 1
}

// MirrorRuleNameOf is the name a backend reports for a rule it found by handle only.
func MirrorRuleNameOf(handle uint32) string { return fmt.Sprintf("tc-%08x", handle) }

// Named reports whether r is the rule named name, by name or, when a backend only knows the tc handle,
// by handle.
func (r MirrorRule) Named(name string) bool {
	return r.Name == name || r.Name == MirrorRuleNameOf(MirrorRuleHandle(name))
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
