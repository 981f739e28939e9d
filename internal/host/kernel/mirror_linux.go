package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Mirror rules on a switchdev eswitch (host.MirrorRules): a rule is one tc flower filter per ingress
// representor — the uplink (the PF's own netdev in switchdev mode) and every VF's representor — matching
// the destination MAC, with one `mirred egress mirror` action per member VF's representor other than the
// ingress one. Its identity is the filter handle (sriov.MirrorRuleHandle), at priority mirrorPrio on the
// ingress qdisc. The driver offloads it to the NIC; what it cannot offload, the kernel runs in software on
// the representors, with the same effect.

var _ host.MirrorRules = (*Host)(nil)

const mirrorPrio = 1

// switchdevPF resolves a PF reference and finds its VF representors.
func (h *Host) switchdevPF(op, pfRef string) (string, map[int]string, error) {
	e, err := h.resolvePF(op, pfRef)
	if err != nil {
		return "", nil, err
	}
	reps, err := h.representors(op, e)
	return e.name, reps, err
}

// ifindex reads a netdev's ifindex from sysfs: no netlink lookup by name (see nlconn_linux.go).
func (h *Host) ifindex(dev string) (int, error) {
	i, err := readInt(h.netDir(dev) + "/ifindex")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: no netdev %s", syscall.ENODEV, dev)
		}
		return 0, err
	}
	return i, nil
}

// AddMirrorRule installs r on every ingress representor of pf; on a failure it removes what it added.
func (h *Host) AddMirrorRule(_ context.Context, pfRef string, r sriov.MirrorRule) error {
	op := fmt.Sprintf("add mirror rule %s on %s", r.Name, pfRef)
	pf, reps, err := h.switchdevPF(op, pfRef)
	if err != nil {
		return err
	}
	for _, id := range r.VFs {
		if reps[id] == "" {
			return host.Errorf(op, syscall.ENODEV, "no representor for VF %d of %s", id, pf)
		}
	}
	if err := h.installMirror(pf, reps, r); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// DeleteMirrorRule removes the rule named name from every representor of pf.
func (h *Host) DeleteMirrorRule(_ context.Context, pfRef, name string) error {
	op := fmt.Sprintf("delete mirror rule %s on %s", name, pfRef)
	pf, reps, err := h.switchdevPF(op, pfRef)
	if err != nil {
		return err
	}
	if err := h.removeMirror(pf, reps, name); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// observeMirrorRules lists the mirror rules of a switchdev PF, whose representors are reps; a failure
// to read them is returned, so that nobody plans on a partial view.
func (h *Host) observeMirrorRules(pf string, reps map[int]string) ([]sriov.MirrorRule, error) {
	return h.listMirror(pf, reps)
}

// installMirror adds rule r's filters: on uplink (the PF's netdev) and on each representor in reps (VF id
// -> netdev name). It is the netlink half of AddMirrorRule, separate so that it can run on any netdevs.
func (h *Host) installMirror(uplink string, reps map[int]string, r sriov.MirrorRule) error {
	mac, err := net.ParseMAC(r.MAC)
	if err != nil {
		return fmt.Errorf("%w: mirror rule MAC %q", syscall.EINVAL, r.MAC)
	}
	targets := map[int]int{} // VF id -> representor ifindex
	for _, id := range r.VFs {
		idx, err := h.ifindex(reps[id])
		if err != nil {
			return fmt.Errorf("representor %s of VF %d: %w", reps[id], id, err)
		}
		targets[id] = idx
	}
	handle := sriov.MirrorRuleHandle(r.Name)
	type port struct {
		dev string
		vf  int
	}
	ports := []port{{uplink, -1}}
	ids := make([]int, 0, len(reps))
	for id := range reps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ports = append(ports, port{reps[id], id})
	}
	var done []string
	for _, p := range ports {
		var acts []netlink.Action
		for _, id := range r.VFs {
			if id == p.vf {
				continue
			}
			a := netlink.NewMirredAction(targets[id])
			a.MirredAction = netlink.TCA_EGRESS_MIRROR
			a.Attrs().Action = netlink.TC_ACT_PIPE
			acts = append(acts, a)
		}
		if len(acts) == 0 {
			continue
		}
		idx, err := h.ifindex(p.dev)
		if err == nil {
			err = ensureIngress(idx)
		}
		if err == nil {
			f := &netlink.Flower{FilterAttrs: mirrorFilterAttrs(idx, handle), DestMac: mac, Actions: acts}
			err = netlink.FilterAdd(f)
		}
		if err != nil {
			for _, d := range done {
				_ = h.delFilter(d, handle) // undo; the error returned is the one that matters
			}
			return fmt.Errorf("tc filter on %s: %w", p.dev, err)
		}
		done = append(done, p.dev)
	}
	return nil
}

func mirrorFilterAttrs(ifindex int, handle uint32) netlink.FilterAttrs {
	return netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_INGRESS, Handle: handle, Priority: mirrorPrio, Protocol: unix.ETH_P_ALL}
}

// ensureIngress adds the ingress qdisc unless the netdev has one.
func ensureIngress(ifindex int) error {
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, syscall.EEXIST) {
		return err
	}
	return nil
}

func (h *Host) delFilter(dev string, handle uint32) error {
	idx, err := h.ifindex(dev)
	if err != nil {
		return err
	}
	return netlink.FilterDel(&netlink.Flower{FilterAttrs: mirrorFilterAttrs(idx, handle)})
}

// removeMirror deletes the rule's filters wherever they are; ENOENT when there were none.
func (h *Host) removeMirror(uplink string, reps map[int]string, name string) error {
	handle := ruleHandle(name)
	found := false
	devs := []string{uplink}
	for _, d := range reps {
		devs = append(devs, d)
	}
	for _, d := range devs {
		err := h.delFilter(d, handle)
		switch {
		case err == nil:
			found = true
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EINVAL):
			// not on this representor (no qdisc, or no such filter)
		default:
			return fmt.Errorf("tc filter del on %s: %w", d, err)
		}
	}
	if !found {
		return fmt.Errorf("%w: no mirror rule %s (tc handle %#x) on %s", syscall.ENOENT, name, handle, uplink)
	}
	return nil
}

// listMirror reads the mirror rules back from the uplink's ingress filters: each flower filter at
// mirrorPrio with a destination MAC and mirred mirror actions to VF representors.
func (h *Host) listMirror(uplink string, reps map[int]string) ([]sriov.MirrorRule, error) {
	idx, err := h.ifindex(uplink)
	if err != nil {
		return nil, err
	}
	link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: uplink}}
	filters, err := retryInterrupted(func() ([]netlink.Filter, error) { return netlink.FilterList(link, netlink.HANDLE_INGRESS) })
	if err != nil {
		return nil, fmt.Errorf("tc filters of %s: %w", uplink, err)
	}
	vfOf := map[int]int{}
	for id, dev := range reps {
		i, err := h.ifindex(dev)
		if err != nil {
			return nil, fmt.Errorf("representor %s of VF %d: %w", dev, id, err)
		}
		vfOf[i] = id
	}
	var rules []sriov.MirrorRule
	for _, f := range filters {
		fl, ok := f.(*netlink.Flower)
		if !ok || fl.Priority != mirrorPrio || len(fl.DestMac) != 6 {
			continue
		}
		r := sriov.MirrorRule{Name: sriov.MirrorRuleNameOf(fl.Handle), MAC: fl.DestMac.String()}
		for _, a := range fl.Actions {
			if m, ok := a.(*netlink.MirredAction); ok && m.MirredAction == netlink.TCA_EGRESS_MIRROR {
				if id, ok := vfOf[m.Ifindex]; ok {
					r.VFs = append(r.VFs, id)
				}
			}
		}
		if len(r.VFs) > 0 {
			slices.Sort(r.VFs)
			rules = append(rules, r)
		}
	}
	return rules, nil
}
