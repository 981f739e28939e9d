package pool

import (
	"fmt"
	"strings"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Contributor is the pools' plan.Contributor: it keeps plans (plan, apply, restore) away from the VFs
// of recs, the ledger's records (read by the caller), as CheckPlan says.
func Contributor(recs []ledger.Record) plan.Contributor {
	return plan.Contributor{Name: "pools", Check: func(b *plan.Builder) { CheckPlan(b, recs) }}
}

// heldVF follows one assigned VF through a plan's operations.
type heldVF struct {
	rec         ledger.Record
	pf          string // the PF's netdev name on this host
	exists      bool
	destroyed   bool // a numvfs write destroyed it, even if a later one created it again
	cfg, start  sriov.VFConfig
	drv, start0 string
}

// CheckPlan refuses, unless the plan is forced, every plan that would take a VF from its owner: one that
// removes it or destroys it on the way (any numvfs change of its PF goes through 0 and pulls the VF out of
// the VM using it), or that changes its settings or driver. Each problem names the owner. With --force the
// plan goes ahead with a note: the owners' ledger records stay until they are released.
func CheckPlan(b *plan.Builder, recs []ledger.Record) {
	var held []*heldVF
	for _, r := range recs {
		pf := b.Host.FindPF(r.PFAddress)
		if pf == nil {
			continue
		}
		v := pf.VF(r.VF)
		if v == nil {
			continue // gone already (reboot, PF reset): no VM can be using it, the plan takes nothing away
		}
		held = append(held, &heldVF{rec: r, pf: pf.Name, exists: true, cfg: v.VFConfig, drv: v.Driver, start: v.VFConfig, start0: v.Driver})
	}
	if len(held) == 0 {
		return
	}
	for _, o := range b.Plan.Ops {
		for _, h := range held {
			if o.PF != h.pf {
				continue
			}
			switch {
			case o.Kind == change.KindNumVFs:
				h.destroyed = h.destroyed || h.exists
				h.exists = h.rec.VF < o.To.NumVFs
				h.cfg, h.drv = sriov.DefaultVFConfig(), defaultDriver(b, h.pf)
			case o.VF == h.rec.VF:
				applyOp(&h.cfg, &h.drv, o)
			}
		}
	}
	for _, h := range held {
		r := h.rec
		var what string
		switch {
		case !h.exists && h.destroyed:
			what = "removes it"
		case h.destroyed:
			what = "destroys and recreates it (numvfs goes through 0)"
		case h.cfg != h.start || h.drv != h.start0:
			what = "changes its " + strings.Join(changed(h.start, h.cfg, h.start0, h.drv), ", ")
		default:
			continue
		}
		if b.Opts.Force {
			b.Note("--force: %s vf %d is assigned to %s (pool %s) and the plan %s; its assignment stays in the ledger until `sriovctl release --owner %s`",
				h.pf, r.VF, r.Owner, r.Pool, what, r.Owner)
			continue
		}
		b.Problemf(plan.ProblemRefused, h.pf, r.VF, "", 0, "assigned to %s (pool %s): the plan %s; release it first (sriovctl release --owner %s) or use --force",
			r.Owner, r.Pool, what, r.Owner)
	}
}

func defaultDriver(b *plan.Builder, pf string) string {
	if p := b.Host.FindPF(pf); p != nil {
		return nicprofile.ForDriver(p.Driver).VFDriver
	}
	return ""
}

// applyOp applies what a VF operation writes to a configuration and driver.
func applyOp(c *sriov.VFConfig, drv *string, o change.Op) {
	v := o.To
	switch o.Kind {
	case change.KindMAC:
		c.MAC = v.MAC
	case change.KindVLAN:
		c.VLAN, c.QoS, c.VLANProto = v.VLAN, v.QoS, v.VLANProto
		if c.VLANProto == "" {
			c.VLANProto = sriov.VLANProto8021Q
		}
	case change.KindSpoofCheck:
		c.SpoofCheck = v.On
	case change.KindTrust:
		c.Trust = v.On
	case change.KindLinkState:
		c.LinkState = v.LinkState
	case change.KindRate:
		c.MinTxRateMbps, c.MaxTxRateMbps = v.MinMbps, v.MaxMbps
	case change.KindQueryRSS:
		c.QueryRSS = v.On
	case change.KindDriver:
		*drv = v.Driver
	}
}

// changed names the attribute groups that differ, for messages.
func changed(a, b sriov.VFConfig, drvA, drvB string) []string {
	var out []string
	add := func(diff bool, name string, from, to any) {
		if diff {
			out = append(out, fmt.Sprintf("%s (%v -> %v)", name, from, to))
		}
	}
	add(a.MAC != b.MAC, "mac", a.MAC, b.MAC)
	add(a.VLAN != b.VLAN || a.QoS != b.QoS || a.VLANProto != b.VLANProto, "vlan", fmt.Sprintf("%d qos %d", a.VLAN, a.QoS), fmt.Sprintf("%d qos %d", b.VLAN, b.QoS))
	add(a.SpoofCheck != b.SpoofCheck, "spoofchk", a.SpoofCheck, b.SpoofCheck)
	add(a.Trust != b.Trust, "trust", a.Trust, b.Trust)
	add(a.LinkState != b.LinkState, "link state", a.LinkState, b.LinkState)
	add(a.MinTxRateMbps != b.MinTxRateMbps || a.MaxTxRateMbps != b.MaxTxRateMbps, "rates",
		fmt.Sprintf("%d/%d", a.MinTxRateMbps, a.MaxTxRateMbps), fmt.Sprintf("%d/%d", b.MinTxRateMbps, b.MaxTxRateMbps))
	add(a.QueryRSS != b.QueryRSS, "query_rss", a.QueryRSS, b.QueryRSS)
	add(drvA != drvB, "driver", drvA, drvB)
	return out
}
