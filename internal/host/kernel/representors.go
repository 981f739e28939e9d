package kernel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// representors finds the VF representors of a PF whose eswitch devlink reports in switchdev mode: from
// the devlink port dump (local pcivf ports of the PF's devlink instance), and only when devlink lists
// none, from sysfs names (sysfsRepresentors). A PF that is not in switchdev mode has none: EOPNOTSUPP.
func (h *Host) representors(op string, e pfEntry) (map[int]string, error) {
	if mode := h.nl.EswitchMode(e.bus, e.addr); mode != "switchdev" {
		if mode == "" {
			mode = "without a devlink eswitch"
		} else {
			mode = "in " + mode + " mode"
		}
		return nil, host.Errorf(op, syscall.EOPNOTSUPP, "the eswitch of %s is %s, not switchdev (sriovctl pf set %s --eswitch-mode switchdev)", e.name, mode, e.name)
	}
	if ports, err := h.nl.DevlinkPorts(); err == nil {
		pfNum := -1
		if nums := pfNumbers(ports, e.bus, e.addr); len(nums) > 1 {
			pfNum = h.uplinkNumber(e.name) // several PFs on one devlink instance: the uplink's own
		}
		if reps := vfRepresentors(ports, e.bus, e.addr, pfNum); len(reps) > 0 {
			return reps, nil
		}
	}
	return h.sysfsRepresentors(op, e.name)
}

// uplinkNumber is N of the uplink's phys_port_name p<N> (-1 when it has none).
func (h *Host) uplinkNumber(pf string) int {
	if p := sysStr(h.netDir(pf) + "/phys_port_name"); strings.HasPrefix(p, "p") {
		if n, err := strconv.Atoi(p[1:]); err == nil {
			return n
		}
	}
	return -1
}

// sysfsRepresentors is the fallback for drivers whose devlink ports do not say: netdevs with the PF's
// phys_switch_id whose phys_port_name is pf<N>vf<M>. N is the PF's number, which is the uplink's p<N> on
// mlx5 but p<N+1> on netdevsim (p1, pf0vfM): the uplink's number is preferred, else the one PF number
// the representors share.
func (h *Host) sysfsRepresentors(op, pf string) (map[int]string, error) {
	sw := sysStr(h.netDir(pf) + "/phys_switch_id")
	if sw == "" {
		return nil, host.Errorf(op, syscall.EOPNOTSUPP, "%s has no phys_switch_id and devlink lists no VF representors", pf)
	}
	ents, err := os.ReadDir(h.netDir(""))
	if err != nil {
		return nil, mapErr(op, err)
	}
	byPF := map[int]map[int]string{}
	for _, e := range ents {
		name := e.Name()
		if name == pf || sysStr(h.netDir(name)+"/phys_switch_id") != sw {
			continue
		}
		rp, ok := parseRepPort(sysStr(filepath.Join(h.netDir(name), "phys_port_name")))
		if !ok || rp.kind != "vf" || rp.controller {
			continue // an SF, or a VF of another (external) controller
		}
		n, vf := rp.pf, rp.index
		if byPF[n] == nil {
			byPF[n] = map[int]string{}
		}
		byPF[n][vf] = name
	}
	if reps, ok := byPF[h.uplinkNumber(pf)]; ok {
		return reps, nil
	}
	if len(byPF) == 1 {
		for _, reps := range byPF {
			return reps, nil
		}
	}
	return map[int]string{}, nil
}

// SetEswitchMode switches the PF's eswitch to legacy or switchdev through devlink
// (DEVLINK_CMD_ESWITCH_SET over generic netlink), with the driver's rules: most refuse while VFs exist;
// netdevsim switches with VFs, and falls back to legacy by itself when its VFs go to 0. Setting the mode
// it has is a no-op.
func (h *Host) SetEswitchMode(_ context.Context, pfRef, mode string) error {
	op := fmt.Sprintf("set eswitch mode %s on %s", mode, pfRef)
	if !slices.Contains([]string{"legacy", "switchdev"}, mode) {
		return host.Errorf(op, syscall.EINVAL, "mode must be legacy or switchdev")
	}
	return h.withPF(op, pfRef, func(e pfEntry) error {
		op := fmt.Sprintf("set eswitch mode %s on %s", mode, e.name)
		cur := h.nl.EswitchMode(e.bus, e.addr)
		if cur == mode {
			return nil
		}
		if cur == "" {
			return host.Errorf(op, syscall.EOPNOTSUPP, "%s (%s) has no devlink eswitch", e.name, e.bus+"/"+e.addr)
		}
		h.markLog()
		return h.withKernelLog(mapErr(op, h.nl.SetEswitchMode(e.bus, e.addr, mode)), e.addr)
	})
}

// ruleHandle is the tc handle of the mirror rule named name. The backend reads rules back by handle
// only, named MirrorRuleNameOf(handle) ("tc-2af74aa3"), and callers delete what they observed by that
// name: such a name is its own handle, not hashed again.
func ruleHandle(name string) uint32 {
	if hex, ok := strings.CutPrefix(name, "tc-"); ok && len(hex) == 8 {
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil && sriov.MirrorRuleNameOf(uint32(v)) == name {
			return uint32(v)
		}
	}
	return sriov.MirrorRuleHandle(name)
}
