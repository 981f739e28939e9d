// Command genprofiles writes profiles.json, the form of profiles.yaml that package nicprofile embeds and
// reads (run from the package directory):
//
//	go generate ./internal/nicprofile
package main

import (
	"fmt"
	"os"

	"github.com/sriovctl/sriovctl/internal/nicprofile"
)

func main() {
	data, err := os.ReadFile("profiles.yaml")
	if err == nil {
		data, err = nicprofile.GenerateJSON(data)
	}
	if err == nil {
		err = os.WriteFile("profiles.json", data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genprofiles:", err)
		os.Exit(1)
	}
}
