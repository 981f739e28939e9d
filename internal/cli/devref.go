package cli

import (
	"context"

	"github.com/sriovctl/sriovctl/internal/devref"
)

// resolveVF turns the VF argument of a command on PF pfRef into its index: an index as it is, a VF PCI
// address or netdev name looked up on the observed host (package devref). Not found is exit 2.
func (a *App) resolveVF(ctx context.Context, pfRef, vfRef string) (int, error) {
	if devref.IsIndex(vfRef) {
		return devref.VF(nil, nil, "VF", vfRef)
	}
	_, st, err := a.HostState(ctx)
	if err != nil {
		return 0, err
	}
	p, err := FindPF(st, "PF", pfRef)
	if err != nil {
		return 0, err
	}
	return devref.VF(st, p, "VF", vfRef)
}
