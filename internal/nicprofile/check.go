package nicprofile

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// CheckChange predicts the driver's answer to changing a VF from cur to want: the first attribute the
// driver refuses, as the host.Error the driver would return, or nil. Only changed attributes count,
// since writing nothing cannot be refused.
func (p *Profile) CheckChange(pf string, vf int, cur, want sriov.VFConfig) error {
	return p.CheckChangeIn("", pf, vf, cur, want)
}

// CheckChangeIn is CheckChange on a PF whose eswitch is in mode, with the refusals of that mode.
func (p *Profile) CheckChangeIn(mode, pf string, vf int, cur, want sriov.VFConfig) error {
	refused := func(what string, a Attr) error {
		if r, ok := p.RefusalIn(a, mode); ok {
			op := fmt.Sprintf("set vf %d %s on %s", vf, what, pf)
			if strings.HasSuffix(what, " on") || strings.HasSuffix(what, " off") {
				op = fmt.Sprintf("turn %s for %s vf %d", what, pf, vf) // not "query_rss on on ens5f0"
			}
			return host.Errorf(op, r.ErrnoValue(), "%s: %s", p.Driver, r.Message)
		}
		return nil
	}
	type check struct {
		changed bool
		what    string
		attr    Attr
	}
	checks := []check{
		{want.VLANProto == sriov.VLANProto8021AD && cur.VLANProto != want.VLANProto, "vlan proto 802.1ad", AttrVLANProto8021AD},
		{want.LinkState != cur.LinkState, "state " + string(want.LinkState), AttrLinkState},
		{want.MinTxRateMbps != cur.MinTxRateMbps && want.MinTxRateMbps != 0, fmt.Sprintf("min_tx_rate %d", want.MinTxRateMbps), AttrMinTxRate},
		{want.MaxTxRateMbps != cur.MaxTxRateMbps && want.MaxTxRateMbps != 0, fmt.Sprintf("max_tx_rate %d", want.MaxTxRateMbps), AttrMaxTxRate},
		{want.QueryRSS != cur.QueryRSS, "query_rss " + onOff(want.QueryRSS), AttrQueryRSS},
		{want.Trust != cur.Trust, "trust " + onOff(want.Trust), AttrTrust},
		{want.SpoofCheck != cur.SpoofCheck, "spoofchk " + onOff(want.SpoofCheck), AttrSpoofCheck},
	}
	for _, c := range checks {
		if c.changed {
			if err := refused(c.what, c.attr); err != nil {
				return err
			}
		}
	}
	if p.LinkSpeedMbps > 0 {
		for _, r := range []struct {
			name string
			v    int
		}{{"min_tx_rate", want.MinTxRateMbps}, {"max_tx_rate", want.MaxTxRateMbps}} {
			if r.v > p.LinkSpeedMbps {
				return host.Errorf(fmt.Sprintf("set vf %d %s %d on %s", vf, r.name, r.v, pf), syscall.EINVAL,
					"%s: rate above the %d Mbps link speed", p.Driver, p.LinkSpeedMbps)
			}
		}
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
