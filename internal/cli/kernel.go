package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/kernel"
)

// waitTimeout is the --wait-timeout flag: how long the kernel backend waits for VFs after a numvfs write
// or a driver bind.
var waitTimeout = kernel.DefaultWaitTimeout

func init() {
	NewKernelHost = func(a *App) (host.Host, error) {
		opts := kernel.Options{WaitTimeout: waitTimeout}
		if f, ok := a.Stderr.(*os.File); ok && isTerminal(f) {
			opts.Progress = func(ready, total int) {
				if ready < 0 { // the wait failed: end the line before the error
					fmt.Fprintln(f)
					return
				}
				fmt.Fprintf(f, "\rwaiting for VFs: %d/%d", ready, total)
				if ready == total {
					fmt.Fprintln(f)
				}
			}
		}
		h, err := kernel.New(opts)
		if err != nil {
			return nil, &OpError{What: "kernel backend", Err: err}
		}
		return h, nil
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// addWaitTimeoutFlag adds --wait-timeout to a command that creates VFs or binds drivers.
func addWaitTimeoutFlag(c interface {
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	c.DurationVar(&waitTimeout, "wait-timeout", kernel.DefaultWaitTimeout, "how long to wait for VFs and their netdevs to appear (kernel backend)")
}
