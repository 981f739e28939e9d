// Command sriovctl-kube is sriovctl with its Kubernetes commands linked in: `agent --kubernetes` and
// `fleet`. It takes every sriovctl command line; sriovctl runs it for those two, so users need not call it
// by name (the DaemonSet does).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sriovctl/sriovctl/internal/cli"
	_ "github.com/sriovctl/sriovctl/internal/kubecli" // sets cli.Kube
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
