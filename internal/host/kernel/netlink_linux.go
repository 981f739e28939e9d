package kernel

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// New opens the kernel backend. It fails with an error wrapping host.ErrUnavailable (and a one-line
// hint) when the host has no SR-IOV capable PF.
func New(opts Options) (*Host, error) {
	h, err := newHost(opts, rtnl{})
	if err != nil {
		return nil, err
	}
	h.kmsg = openKmsg
	return h, nil
}

// rtnl is vfLinks on rtnetlink, through vishvananda/netlink's package handle.
type rtnl struct{}

func pfLink(pf string) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: pf}}
}

// VFInfo is one RTM_GETLINK on the PF with IFLA_EXT_MASK=RTEXT_FILTER_VF (netlink.LinkByName sends it).
func (rtnl) VFInfo(pf string) ([]vfInfo, error) {
	link, err := retryInterrupted(func() (netlink.Link, error) { return netlink.LinkByName(pf) })
	if err != nil {
		if n, _ := readInt("/sys/class/net/" + pf + "/device/sriov_numvfs"); n >= truncationSuspectVFs {
			return rawVFInfo(pf) // too big for vishvananda/netlink's buffer, or a wrapped list
		}
		return nil, err
	}
	vfs := link.Attrs().Vfs
	out := make([]vfInfo, 0, len(vfs))
	for _, v := range vfs {
		out = append(out, vfInfo{ID: v.ID, Config: configOf(v)})
	}
	return out, nil
}

// configOf converts one parsed IFLA_VF_INFO.
func configOf(v netlink.VfInfo) sriov.VFConfig {
	c := sriov.DefaultVFConfig()
	if len(v.Mac) == 6 {
		c.MAC = v.Mac.String()
	}
	c.VLAN, c.QoS = v.Vlan, v.Qos
	c.VLANProto = protoOf(v.VlanProto)
	c.SpoofCheck = v.Spoofchk
	// The kernel sends -1 for trust and query_rss when the driver does not report them (igb has no
	// query_rss): that is "off", not "on".
	c.Trust = v.Trust != 0 && v.Trust != notReported
	c.LinkState = linkStateName(v.LinkState)
	c.MinTxRateMbps, c.MaxTxRateMbps = int(v.MinTxRate), int(v.MaxTxRate)
	if c.MaxTxRateMbps == 0 && v.TxRate != 0 {
		c.MaxTxRateMbps = v.TxRate // drivers that only report IFLA_VF_TX_RATE
	}
	c.QueryRSS = v.RssQuery != 0 && v.RssQuery != notReported
	return c
}

// protoOf reads IFLA_VF_VLAN_LIST's protocol: netlink stores it as it came off the wire (big-endian), so
// accept both byte orders. Absent (0) means 802.1Q.
func protoOf(p int) sriov.VLANProto {
	switch p {
	case 0x88a8, 0xa888:
		return sriov.VLANProto8021AD
	}
	return sriov.VLANProto8021Q
}

// EswitchMode asks devlink; it is "" for drivers without devlink eswitch support (igb).
func (rtnl) EswitchMode(pciAddr string) string {
	dev, err := retryInterrupted(func() (*netlink.DevlinkDevice, error) { return netlink.DevLinkGetDeviceByName("pci", pciAddr) })
	if err != nil || dev == nil {
		return ""
	}
	return dev.Attrs.Eswitch.Mode
}

func (rtnl) SetMAC(pf string, vf int, mac string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return host.Errorf("", unix.EINVAL, "bad MAC %q", mac)
	}
	return netlink.LinkSetVfHardwareAddr(pfLink(pf), vf, hw)
}

func (rtnl) SetVLAN(pf string, vf, vlan, qos int, proto sriov.VLANProto) error {
	if proto == sriov.VLANProto8021AD {
		return netlink.LinkSetVfVlanQosProto(pfLink(pf), vf, vlan, qos, 0x88a8)
	}
	return netlink.LinkSetVfVlanQos(pfLink(pf), vf, vlan, qos)
}

func (rtnl) SetSpoofCheck(pf string, vf int, on bool) error {
	return netlink.LinkSetVfSpoofchk(pfLink(pf), vf, on)
}

func (rtnl) SetTrust(pf string, vf int, on bool) error {
	return netlink.LinkSetVfTrust(pfLink(pf), vf, on)
}

func (rtnl) SetLinkState(pf string, vf int, state sriov.LinkState) error {
	v := uint32(netlink.VF_LINK_STATE_AUTO)
	switch state {
	case sriov.LinkStateEnable:
		v = netlink.VF_LINK_STATE_ENABLE
	case sriov.LinkStateDisable:
		v = netlink.VF_LINK_STATE_DISABLE
	}
	return netlink.LinkSetVfState(pfLink(pf), vf, v)
}

func (rtnl) SetRate(pf string, vf, minMbps, maxMbps int) error {
	return netlink.LinkSetVfRate(pfLink(pf), vf, minMbps, maxMbps)
}

// SetQueryRSS sends IFLA_VF_RSS_QUERY_EN, which vishvananda/netlink has no setter for.
func (rtnl) SetQueryRSS(pf string, vf int, on bool) error {
	ifi, err := net.InterfaceByName(pf)
	if err != nil {
		return fmt.Errorf("%w: %v", unix.ENODEV, err)
	}
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifi.Index)
	req.AddData(msg)
	list := nl.NewRtAttr(unix.IFLA_VFINFO_LIST, nil)
	info := list.AddRtAttr(nl.IFLA_VF_INFO, nil)
	setting := nl.VfRssQueryEn{Vf: uint32(vf)}
	if on {
		setting.Setting = 1
	}
	info.AddRtAttr(nl.IFLA_VF_RSS_QUERY_EN, setting.Serialize())
	req.AddData(list)
	_, err = req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
