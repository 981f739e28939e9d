package cli

import (
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/kernel"
)

// waitTimeout is the --wait-timeout flag: how long the kernel backend waits for VFs after a numvfs write
// or a driver bind.
var waitTimeout = kernel.DefaultWaitTimeout

func init() {
	NewKernelHost = func(a *App) (host.Host, error) {
		// While it waits for VFs, the backend says how many are ready; a terminal shows it (progress.go).
		h, err := kernel.New(kernel.Options{WaitTimeout: waitTimeout, Progress: a.progress().vfWait})
		if err != nil {
			return nil, &OpError{What: "kernel backend", Err: err}
		}
		return h, nil
	}
}

// addWaitTimeoutFlag adds --wait-timeout to a command that creates VFs or binds drivers.
func addWaitTimeoutFlag(c interface {
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	c.DurationVar(&waitTimeout, "wait-timeout", kernel.DefaultWaitTimeout, "wait up to `DURATION` for VFs and their netdevs to appear (kernel backend)")
}
