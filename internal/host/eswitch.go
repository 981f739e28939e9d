package host

import "context"

// EswitchSetter is a Host whose PFs' eswitch mode can be switched between "legacy" and "switchdev"
// (devlink on the kernel backend, the emulated switch on the lab). The driver's rules apply: most refuse
// while the PF has VFs.
type EswitchSetter interface {
	SetEswitchMode(ctx context.Context, pf, mode string) error
}
