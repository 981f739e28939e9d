package kernel

import (
	"encoding/binary"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Attribute numbers of include/uapi/linux/if_link.h used by the lenient IFLA_VFINFO_LIST parser.
const (
	iflaNumVF      = 21 // IFLA_NUM_VF
	iflaVFInfoList = 22 // IFLA_VFINFO_LIST
	iflaVFInfo     = 1  // IFLA_VF_INFO
	iflaVFMAC      = 1
	iflaVFVLAN     = 2
	iflaVFTxRate   = 3
	iflaVFSpoofChk = 4
	iflaVFLink     = 5
	iflaVFRate     = 6
	iflaVFRSSQuery = 7
	iflaVFStats    = 8
	iflaVFTrust    = 9
	iflaVFVLANList = 12
	ifInfoMsgLen   = 16 // struct ifinfomsg
	nlaNested      = 1 << 15
	nlaHdrLen      = 4
	notReported    = ^uint32(0) // the kernel's -1 for a setting the driver does not report
)

// IFLA_VF_STATS members (IFLA_VF_STATS_*, u64 each; 6 is IFLA_VF_STATS_PAD).
const (
	vfStatsRxPackets = 0
	vfStatsTxPackets = 1
	vfStatsRxBytes   = 2
	vfStatsTxBytes   = 3
	vfStatsBroadcast = 4
	vfStatsMulticast = 5
	vfStatsRxDropped = 7
	vfStatsTxDropped = 8
)

// parseVFList reads IFLA_NUM_VF and the IFLA_VFINFO_LIST of an RTM_NEWLINK payload (ifinfomsg and
// attributes) and keeps every complete IFLA_VF_INFO it finds. It stops quietly at the first malformed
// entry: when the list outgrows the 16-bit attribute length, the length the kernel writes wraps and the
// list reads as shorter than it is; the caller compares the count with NumVFs (checkComplete).
func parseVFList(payload []byte) vfList {
	out := vfList{NumVFs: -1}
	if len(payload) < ifInfoMsgLen {
		return out
	}
	walkAttrs(payload[ifInfoMsgLen:], func(typ uint16, val []byte) bool {
		if typ == iflaNumVF && len(val) >= 4 {
			out.NumVFs = int(binary.NativeEndian.Uint32(val))
		}
		if typ != iflaVFInfoList {
			return true
		}
		walkAttrs(val, func(typ uint16, entry []byte) bool {
			if typ != iflaVFInfo {
				return false
			}
			if v, ok := parseVFEntry(entry, len(out.VFs)); ok {
				out.VFs = append(out.VFs, v)
				return true
			}
			return false
		})
		return false
	})
	return out
}

// walkAttrs calls f for each well-formed netlink attribute of b until f returns false or an attribute
// does not fit.
func walkAttrs(b []byte, f func(typ uint16, val []byte) bool) {
	for len(b) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ nlaNested
		if l < nlaHdrLen || l > len(b) {
			return
		}
		if !f(typ, b[nlaHdrLen:l]) {
			return
		}
		next := (l + 3) &^ 3
		if next > len(b) {
			return
		}
		b = b[next:]
	}
}

// parseVFEntry reads one IFLA_VF_INFO; index is its position, used when it has no IFLA_VF_MAC.
func parseVFEntry(b []byte, index int) (vfInfo, bool) {
	c := sriov.DefaultVFConfig()
	id, ok := index, false
	var stats *host.VFStats
	u32 := func(v []byte, i int) uint32 {
		if len(v) < 4*(i+1) {
			return 0
		}
		return binary.NativeEndian.Uint32(v[4*i:])
	}
	set := func(v uint32) bool { return v != 0 && v != notReported }
	walkAttrs(b, func(typ uint16, v []byte) bool {
		switch typ {
		case iflaVFMAC: // struct ifla_vf_mac { __u32 vf; __u8 mac[32]; }
			if len(v) >= 10 {
				id, ok = int(u32(v, 0)), true
				c.MAC = macString(v[4:10])
			}
		case iflaVFVLAN: // { vf, vlan, qos }
			c.VLAN, c.QoS = int(u32(v, 1)), int(u32(v, 2))
		case iflaVFVLANList: // nested IFLA_VF_VLAN_INFO { vf, vlan, qos, __be16 proto }
			walkAttrs(v, func(_ uint16, info []byte) bool {
				if len(info) >= 14 && binary.BigEndian.Uint16(info[12:14]) == 0x88a8 {
					c.VLANProto = sriov.VLANProto8021AD
				}
				return false
			})
		case iflaVFTxRate: // { vf, rate }
			if c.MaxTxRateMbps == 0 {
				c.MaxTxRateMbps = int(u32(v, 1))
			}
		case iflaVFRate: // { vf, min, max }
			c.MinTxRateMbps, c.MaxTxRateMbps = int(u32(v, 1)), int(u32(v, 2))
		case iflaVFSpoofChk:
			if s := u32(v, 1); s != notReported {
				c.SpoofCheck = s != 0
			}
		case iflaVFLink:
			c.LinkState = linkStateName(u32(v, 1))
		case iflaVFRSSQuery:
			c.QueryRSS = set(u32(v, 1))
		case iflaVFTrust:
			c.Trust = set(u32(v, 1))
		case iflaVFStats:
			stats = parseVFStats(v)
		}
		return true
	})
	return vfInfo{ID: id, Config: c, Stats: stats}, ok || len(b) > 0 // an entry without IFLA_VF_MAC keeps its position
}

// parseVFStats reads a nested IFLA_VF_STATS.
func parseVFStats(b []byte) *host.VFStats {
	s := &host.VFStats{Source: "vf_stats"}
	walkAttrs(b, func(typ uint16, v []byte) bool {
		if len(v) < 8 {
			return true
		}
		x := binary.NativeEndian.Uint64(v)
		switch typ {
		case vfStatsRxPackets:
			s.RxPackets = x
		case vfStatsTxPackets:
			s.TxPackets = x
		case vfStatsRxBytes:
			s.RxBytes = x
		case vfStatsTxBytes:
			s.TxBytes = x
		case vfStatsBroadcast:
			s.Broadcast = x
		case vfStatsMulticast:
			s.Multicast = x
		case vfStatsRxDropped:
			s.RxDropped = x
		case vfStatsTxDropped:
			s.TxDropped = x
		}
		return true
	})
	return s
}

func macString(b []byte) string {
	const hex = "0123456789abcdef"
	s := make([]byte, 0, 17)
	for i, x := range b {
		if i > 0 {
			s = append(s, ':')
		}
		s = append(s, hex[x>>4], hex[x&15])
	}
	return string(s)
}

// linkStateName maps IFLA_VF_LINK_STATE: auto=0, enable=1, disable=2.
func linkStateName(s uint32) sriov.LinkState {
	switch s {
	case 1:
		return sriov.LinkStateEnable
	case 2:
		return sriov.LinkStateDisable
	}
	return sriov.LinkStateAuto
}
