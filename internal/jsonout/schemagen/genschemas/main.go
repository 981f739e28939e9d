// Command genschemas writes the JSON Schemas of the policy file and of every command's --json output
// (generated from the Go types by package schemagen) into the repository's schemas/ directory:
//
//	go generate ./internal/jsonout
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sriovctl/sriovctl/internal/jsonout/schemagen"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	out := flag.String("out", "schemas", "the directory to write the schemas to")
	flag.Parse()
	if err := schemagen.WriteSchemas(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genschemas:", err)
		os.Exit(1)
	}
}
