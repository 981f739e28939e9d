// Command libfloor is bench/gofloor with the libraries sriovctl is built on linked in and initialised
// (spf13/cobra, sigs.k8s.io/yaml, vishvananda/netlink, go.etcd.io/bbolt, prometheus/client_golang,
// libvirt.org/go/libvirtxml): bench/start.sh times it beside `sriovctl version` to show what a Go
// program's start costs with those libraries alone, before any code of sriovctl's runs. Blank imports run
// each package's init; the linker drops what is not called, so this is a lower bound.
package main

import (
	"os"

	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "go.etcd.io/bbolt"
	_ "libvirt.org/go/libvirtxml"
	_ "sigs.k8s.io/yaml"
)

func main() { os.Stdout.WriteString("libfloor\n") }
