// Package export writes the policy that describes a host as it is: per PF the VF count and eswitch mode,
// and per VF every setting that differs from what a freshly created VF of that NIC reports, and its driver
// when it is not the NIC's default VF driver. Planning the result against the same host gives no changes;
// applying it to a host with the same NICs and no VFs makes them the same. It is a pure function of the
// observed state.
//
// What a policy cannot say is left out with a note: a VF bound to no driver, an igb VF whose admin MAC
// has not reached its netdev yet (naming the MAC would make the plan reload the VF driver), offloaded
// mirror rules (mirror groups are sriovctl's own records, not host state).
package export

import (
	"fmt"
	"strings"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Options tune an export.
type Options struct {
	// ByPCIAddress names PFs by PCI address instead of netdev name.
	ByPCIAddress bool
}

// pfFields copy the PF settings a policy can state from the observed PF; a new PF field of the policy is
// one more line here.
var pfFields = []func(p *sriov.PF, out *policy.PF){
	func(p *sriov.PF, out *policy.PF) { out.NumVFs = adopt.Ptr(p.NumVFs) },
	func(p *sriov.PF, out *policy.PF) { out.EswitchMode = p.EswitchMode }, // "" when the NIC has none
	func(p *sriov.PF, out *policy.PF) { // Ethernet's default MTU is what a new PF has: no need to state it
		if p.MTU != 0 && p.MTU != defaultMTU {
			out.MTU = adopt.Ptr(p.MTU)
		}
	},
}

// defaultMTU is the MTU an Ethernet netdev starts with.
const defaultMTU = 1500

// Export describes pfs as a policy, with notes on what it leaves out. A PF whose VF list the kernel cut
// short cannot be described: an error naming it.
func Export(pfs []sriov.PF, o Options) (*policy.Policy, adopt.Notes, error) {
	pol := &policy.Policy{PFs: []policy.PF{}}
	var notes adopt.Notes
	for i := range pfs {
		p := &pfs[i]
		if p.VFInfoTruncated {
			return nil, nil, fmt.Errorf("%s: the kernel reported %d of %d VFs (IFLA_VFINFO_LIST cut short): cannot export without every VF's settings", p.Name, len(p.VFs), p.NumVFs)
		}
		out := policy.PF{Name: p.Name}
		if o.ByPCIAddress || p.Name == "" {
			out = policy.PF{PCIAddress: p.PCIAddress}
		}
		for _, f := range pfFields {
			f(p, &out)
		}
		prof := nicprofile.ForDriver(p.Driver)
		vfs := map[int]adopt.VF{}
		for _, v := range p.VFs {
			vfs[v.ID] = vfWant(p, prof, v, &notes)
		}
		out.VFs = adopt.Groups(vfs)
		if len(p.MirrorRules) > 0 {
			names := make([]string, 0, len(p.MirrorRules))
			for _, r := range p.MirrorRules {
				names = append(names, r.Name)
			}
			notes.Add(p.Name, "offloaded mirror rules (%s) are not exported: they belong to sriovctl's mirror groups (`sriovctl mirror list`); give them as mirrors: entries", strings.Join(names, ", "))
		}
		pol.PFs = append(pol.PFs, out)
	}
	return pol, notes, nil
}

// vfWant is what the policy says about one VF: the fields that differ from a fresh VF of the NIC.
func vfWant(p *sriov.PF, prof *nicprofile.Profile, v sriov.VF, notes *adopt.Notes) adopt.VF {
	fresh, c := prof.FreshVFConfig(), v.VFConfig
	var s sriov.VFSettings
	where := fmt.Sprintf("%s vf %d", p.Name, v.ID)
	if !strings.EqualFold(c.MAC, fresh.MAC) {
		// igb: an admin MAC reaches the VF netdev only after a VF driver reload (or, on a trusted VF, a
		// write of the netdev's address); a policy naming it makes the plan do that, so a MAC still
		// waiting for it is left out.
		if prof.MACNeedsVFReload && v.Driver == prof.VFDriver && v.NetdevMAC != "" && !strings.EqualFold(v.NetdevMAC, c.MAC) {
			how := "reload " + prof.VFDriver
			if change.OwnMACWrite(prof, v, c, false) {
				how = "write it as the netdev's own address (the VF is trusted)"
			}
			notes.Add(where, "admin MAC %s has not reached the VF's netdev (which carries %s); left out, since naming it makes the plan %s: add `mac: %q` to have sriovctl do that", c.MAC, v.NetdevMAC, how, c.MAC)
		} else {
			s.MAC = adopt.Ptr(c.MAC)
		}
	}
	// A VLAN without qos and vlanProto means qos 0 and 802.1Q (as `ip link ... vf N vlan V`), so those two
	// are named only when they differ from that.
	if c.VLAN != fresh.VLAN || c.QoS != fresh.QoS || c.VLANProto != fresh.VLANProto {
		s.VLAN = adopt.Ptr(c.VLAN)
	}
	if c.QoS != 0 {
		s.QoS = adopt.Ptr(c.QoS)
	}
	if c.VLANProto != sriov.VLANProto8021Q {
		s.VLANProto = adopt.Ptr(c.VLANProto)
	}
	differs(&s.SpoofCheck, c.SpoofCheck, fresh.SpoofCheck)
	differs(&s.Trust, c.Trust, fresh.Trust)
	differs(&s.LinkState, c.LinkState, fresh.LinkState)
	differs(&s.MinTxRateMbps, c.MinTxRateMbps, fresh.MinTxRateMbps)
	differs(&s.MaxTxRateMbps, c.MaxTxRateMbps, fresh.MaxTxRateMbps)
	differs(&s.QueryRSS, c.QueryRSS, fresh.QueryRSS)
	w := adopt.VF{Settings: s}
	switch {
	case p.VFsHaveNoDevice || v.Driver == prof.VFDriver:
	case v.Driver == "":
		notes.Add(where, "bound to no driver: a policy cannot unbind a VF, so its driver is left out (`sriovctl vf bind %s %d none` does it)", p.Name, v.ID)
	default:
		w.Driver = adopt.Ptr(v.Driver)
	}
	return w
}

// differs sets *dst to cur when cur is not what a fresh VF has.
func differs[T comparable](dst **T, cur, fresh T) {
	if cur != fresh {
		*dst = adopt.Ptr(cur)
	}
}
