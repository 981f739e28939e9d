package kernel

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// nlTimeout bounds one netlink request (a driver applying a VF setting answers in milliseconds; mlx5
// firmware commands in up to a few seconds).
const nlTimeout = 30 * time.Second

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS: leave IFLA_VF_STATS out of IFLA_VF_INFO (kernel 5.12
// and later honour it there), about a third of each entry.
const rtextFilterSkipStats = 1 << 3

// New opens the kernel backend. It fails with an error wrapping host.ErrUnavailable (and a one-line
// hint) when the host has no SR-IOV capable PF.
func New(opts Options) (*Host, error) {
	h, err := newHost(opts, newRtnl(func() (nlTransport, error) { return openNLSocket(nlTimeout) }))
	if err != nil {
		return nil, err
	}
	// The tc and devlink calls of vishvananda/netlink's package functions: their per-call sockets then
	// ask for extended acks too.
	nl.EnableErrorMessageReporting = true
	if l := openKmsg(); l != nil {
		h.klog = l
	}
	return h, nil
}

// rtnl is vfLinks on the package's own rtnetlink socket.
type rtnl struct{ conn *nlConn }

func newRtnl(open func() (nlTransport, error)) *rtnl { return &rtnl{conn: &nlConn{open: open}} }

func (r *rtnl) close() {
	r.conn.mu.Lock()
	defer r.conn.mu.Unlock()
	if s, ok := r.conn.tr.(*nlSocket); ok {
		unix.Close(s.fd)
	}
	r.conn.tr = nil
}

// getLinkRequest is the body of the one RTM_GETLINK that reads every VF of ifindex.
func getLinkRequest(ifindex int, withStats bool) []byte {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	mask := uint32(nl.RTEXT_FILTER_VF)
	if !withStats {
		mask |= rtextFilterSkipStats
	}
	b := msg.Serialize()
	return append(b, nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(mask)).Serialize()...)
}

// VFInfo is one RTM_GETLINK on the PF with IFLA_EXT_MASK = RTEXT_FILTER_VF (and SKIP_STATS unless stats
// are wanted), read whole and parsed leniently (parseVFList).
func (r *rtnl) VFInfo(ifindex int, withStats bool) (vfList, error) {
	payload, err := r.conn.request(unix.RTM_GETLINK, 0, getLinkRequest(ifindex, withStats), unix.RTM_NEWLINK)
	if err != nil {
		return vfList{}, err
	}
	if payload == nil {
		return vfList{}, unix.ENODATA
	}
	return parseVFList(payload), nil
}

// setVF sends one RTM_SETLINK carrying IFLA_VFINFO_LIST { IFLA_VF_INFO { attrs } } and waits for the ack.
func (r *rtnl) setVF(ifindex int, attrs ...*nl.RtAttr) error {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	list := nl.NewRtAttr(unix.IFLA_VFINFO_LIST, nil)
	info := list.AddRtAttr(nl.IFLA_VF_INFO, nil)
	for _, a := range attrs {
		info.AddChild(a)
	}
	body := append(msg.Serialize(), list.Serialize()...)
	_, err := r.conn.request(unix.RTM_SETLINK, unix.NLM_F_ACK, body, 0)
	return err
}

// EswitchMode asks devlink; it is "" for drivers without devlink eswitch support (igb).
func (r *rtnl) EswitchMode(bus, dev string) string {
	d, err := retryInterrupted(func() (*netlink.DevlinkDevice, error) { return netlink.DevLinkGetDeviceByName(bus, dev) })
	if err != nil || d == nil {
		return ""
	}
	return d.Attrs.Eswitch.Mode
}

// SetEswitchMode is DEVLINK_CMD_ESWITCH_SET through vishvananda/netlink (with extended acks: the
// driver's reason for a refusal reaches the error).
func (r *rtnl) SetEswitchMode(bus, dev, mode string) error {
	return netlink.DevLinkSetEswitchMode(&netlink.DevlinkDevice{BusName: bus, DeviceName: dev}, mode)
}

// DevlinkPorts dumps every devlink port with vishvananda/netlink's generic-netlink request, decoding the
// port attributes its own DevlinkPort leaves out (PF and VF numbers, controller, external).
func (r *rtnl) DevlinkPorts() ([]devlinkPort, error) {
	return retryInterrupted(func() ([]devlinkPort, error) {
		f, err := netlink.GenlFamilyGet(nl.GENL_DEVLINK_NAME)
		if err != nil {
			return nil, err
		}
		req := nl.NewNetlinkRequest(int(f.ID), unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_DUMP)
		req.AddData(&nl.Genlmsg{Command: nl.DEVLINK_CMD_PORT_GET, Version: nl.GENL_DEVLINK_VERSION})
		msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
		if err != nil {
			return nil, err
		}
		return parseDevlinkPorts(msgs)
	})
}

func (r *rtnl) SetMAC(ifindex, vf int, mac string) error {
	a, err := macAttr(vf, mac)
	if err != nil {
		return err
	}
	return r.setVF(ifindex, a)
}

func (r *rtnl) SetVLAN(ifindex, vf, vlan, qos int, proto sriov.VLANProto) error {
	return r.setVF(ifindex, vlanAttr(vf, vlan, qos, proto))
}

func (r *rtnl) SetSpoofCheck(ifindex, vf int, on bool) error {
	return r.setVF(ifindex, spoofCheckAttr(vf, on))
}

func (r *rtnl) SetTrust(ifindex, vf int, on bool) error { return r.setVF(ifindex, trustAttr(vf, on)) }

func (r *rtnl) SetLinkState(ifindex, vf int, state sriov.LinkState) error {
	return r.setVF(ifindex, linkStateAttr(vf, state))
}

func (r *rtnl) SetRate(ifindex, vf, minMbps, maxMbps int) error {
	return r.setVF(ifindex, rateAttr(vf, minMbps, maxMbps))
}

func (r *rtnl) SetQueryRSS(ifindex, vf int, on bool) error {
	return r.setVF(ifindex, queryRSSAttr(vf, on))
}

// SetVFAttrs sends one RTM_SETLINK whose IFLA_VF_INFO carries every set group of a, in the order the
// kernel applies them (do_setvfinfo: MAC, VLAN, rate, spoof check, link state, query RSS, trust).
func (r *rtnl) SetVFAttrs(ifindex, vf int, a host.VFAttrs) error {
	var attrs []*nl.RtAttr
	if a.MAC != nil {
		m, err := macAttr(vf, *a.MAC)
		if err != nil {
			return err
		}
		attrs = append(attrs, m)
	}
	if a.VLAN != nil {
		attrs = append(attrs, vlanAttr(vf, a.VLAN.VLAN, a.VLAN.QoS, a.VLAN.Proto))
	}
	if a.Rate != nil {
		attrs = append(attrs, rateAttr(vf, a.Rate.MinMbps, a.Rate.MaxMbps))
	}
	if a.SpoofCheck != nil {
		attrs = append(attrs, spoofCheckAttr(vf, *a.SpoofCheck))
	}
	if a.LinkState != nil {
		attrs = append(attrs, linkStateAttr(vf, *a.LinkState))
	}
	if a.QueryRSS != nil {
		attrs = append(attrs, queryRSSAttr(vf, *a.QueryRSS))
	}
	if a.Trust != nil {
		attrs = append(attrs, trustAttr(vf, *a.Trust))
	}
	return r.setVF(ifindex, attrs...)
}

// The IFLA_VF_* attributes, built with vishvananda/netlink's nl package.

func macAttr(vf int, mac string) (*nl.RtAttr, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, host.Errorf("", unix.EINVAL, "bad MAC %q", mac)
	}
	m := nl.VfMac{Vf: uint32(vf)}
	copy(m.Mac[:], hw)
	return nl.NewRtAttr(nl.IFLA_VF_MAC, m.Serialize()), nil
}

func vlanAttr(vf, vlan, qos int, proto sriov.VLANProto) *nl.RtAttr {
	v := nl.VfVlan{Vf: uint32(vf), Vlan: uint32(vlan), Qos: uint32(qos)}
	if proto != sriov.VLANProto8021AD {
		return nl.NewRtAttr(nl.IFLA_VF_VLAN, v.Serialize())
	}
	// 802.1ad needs IFLA_VF_VLAN_LIST, whose protocol is big-endian on the wire.
	info := nl.VfVlanInfo{VfVlan: v, VlanProto: binary.NativeEndian.Uint16([]byte{0x88, 0xa8})}
	list := nl.NewRtAttr(nl.IFLA_VF_VLAN_LIST, nil)
	list.AddRtAttr(nl.IFLA_VF_VLAN_INFO, info.Serialize())
	return list
}

func spoofCheckAttr(vf int, on bool) *nl.RtAttr {
	s := nl.VfSpoofchk{Vf: uint32(vf), Setting: b2u(on)}
	return nl.NewRtAttr(nl.IFLA_VF_SPOOFCHK, s.Serialize())
}

func trustAttr(vf int, on bool) *nl.RtAttr {
	s := nl.VfTrust{Vf: uint32(vf), Setting: b2u(on)}
	return nl.NewRtAttr(nl.IFLA_VF_TRUST, s.Serialize())
}

func linkStateAttr(vf int, state sriov.LinkState) *nl.RtAttr {
	s := nl.VfLinkState{Vf: uint32(vf), LinkState: nl.IFLA_VF_LINK_STATE_AUTO}
	switch state {
	case sriov.LinkStateEnable:
		s.LinkState = nl.IFLA_VF_LINK_STATE_ENABLE
	case sriov.LinkStateDisable:
		s.LinkState = nl.IFLA_VF_LINK_STATE_DISABLE
	}
	return nl.NewRtAttr(nl.IFLA_VF_LINK_STATE, s.Serialize())
}

func rateAttr(vf, minMbps, maxMbps int) *nl.RtAttr {
	s := nl.VfRate{Vf: uint32(vf), MinTxRate: uint32(minMbps), MaxTxRate: uint32(maxMbps)}
	return nl.NewRtAttr(nl.IFLA_VF_RATE, s.Serialize())
}

func queryRSSAttr(vf int, on bool) *nl.RtAttr {
	s := nl.VfRssQueryEn{Vf: uint32(vf), Setting: b2u(on)}
	return nl.NewRtAttr(nl.IFLA_VF_RSS_QUERY_EN, s.Serialize())
}

func b2u(on bool) uint32 {
	if on {
		return 1
	}
	return 0
}
