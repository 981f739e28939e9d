// Package devref resolves how people name SR-IOV devices on the command line, in one place for every
// command. A PF is named by its netdev name (ens5f0), its PCI address (0000:01:00.0), its devlink handle
// (pci/0000:01:00.0; netdevsim/netdevsim10 for devices on other buses) or lspci's short form (01:00.0,
// domain 0000). A VF is named by its index on the PF (3), its PCI address in any of those forms, or its
// netdev name. Netdev names cannot hold ':' or '/', so a reference with either is an address; a plain
// number is a VF index. The package is pure: it looks references up in an observed sriov.Host.
package devref

import (
	"fmt"
	"github.com/sriovctl/sriovctl/internal/suggest"
	"strconv"
	"strings"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// PCIAddress returns the canonical PCI address (lower-case DDDD:BB:DD.F) of s written as 0000:01:00.0,
// pci/0000:01:00.0 or 01:00.0 (domain 0000), and whether s is one of those.
func PCIAddress(s string) (string, bool) {
	s = strings.TrimPrefix(s, "pci/")
	switch {
	case sriov.IsPCIAddress(s):
		return strings.ToLower(s), true
	case sriov.IsShortPCIAddress(s):
		return "0000:" + strings.ToLower(s), true
	}
	return "", false
}

// Canonical is ref as sriov.Host.FindPF and the backends take it: a PCI address in any accepted form
// becomes the canonical address, a devlink handle of another bus (netdevsim/netdevsim10) its device
// name; anything else (a netdev name) is returned as it is.
func Canonical(ref string) string {
	if a, ok := PCIAddress(ref); ok {
		return a
	}
	if bus, dev, ok := strings.Cut(ref, "/"); ok && bus != "" && dev != "" && !strings.Contains(dev, "/") {
		return dev
	}
	return ref
}

// PF finds the PF named ref (see the package comment). Not found is a *sriov.FieldError for field that
// lists the PFs the host has (an input error, exit 2).
func PF(h *sriov.Host, field, ref string) (*sriov.PF, error) {
	if p := h.FindPF(Canonical(ref)); p != nil {
		return p, nil
	}
	names := make([]string, 0, len(h.PFs))
	for _, p := range h.PFs {
		names = append(names, p.Name)
	}
	return nil, &sriov.FieldError{Field: field, Value: ref, Allowed: "no such PF; PFs on this host: " + h.PFNames() + suggest.Hint(ref, names)}
}

// IsIndex reports whether ref is a VF index (a plain decimal number), which needs no host to resolve.
func IsIndex(ref string) bool { return sriov.IsDecimal(ref, 5, false) }

// VF returns the index on PF p of the VF named ref: an index (not checked against p's VF count, which
// the caller validates under its lock), a VF PCI address in any accepted form, or a VF netdev name. A
// VF of another PF, or none at all, is a *sriov.FieldError for field naming what exists.
func VF(h *sriov.Host, p *sriov.PF, field, ref string) (int, error) {
	if IsIndex(ref) {
		id, _ := strconv.Atoi(ref)
		return id, nil
	}
	addr, isAddr := PCIAddress(ref)
	match := func(v *sriov.VF) bool {
		if isAddr {
			return v.PCIAddress != "" && v.PCIAddress == addr
		}
		return v.Netdev != "" && v.Netdev == ref
	}
	for i := range p.VFs {
		if match(&p.VFs[i]) {
			return p.VFs[i].ID, nil
		}
	}
	for _, o := range h.PFs {
		for i := range o.VFs {
			if o.PCIAddress != p.PCIAddress && match(&o.VFs[i]) {
				return 0, &sriov.FieldError{Field: field, Value: ref, Allowed: fmt.Sprintf("that is VF %d of %s, not of %s", o.VFs[i].ID, o.Name, p.Name)}
			}
		}
	}
	want := "want a VF index, a VF PCI address or a VF netdev name"
	if p.NumVFs == 0 {
		return 0, &sriov.FieldError{Field: field, Value: ref, Allowed: fmt.Sprintf("%s has no VFs (set --numvfs first)", p.Name)}
	}
	return 0, &sriov.FieldError{Field: field, Value: ref, Allowed: fmt.Sprintf("no VF of %s has this %s (%s: 0-%d)", p.Name, kindOf(isAddr), want, p.NumVFs-1)}
}

func kindOf(isAddr bool) string {
	if isAddr {
		return "PCI address"
	}
	return "netdev name"
}
