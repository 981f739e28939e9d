package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/jsonout"
)

// Set at link time by release builds (see the Makefile):
//
//	go build -ldflags "-X github.com/sriovctl/sriovctl/internal/cli.version=v1.2.3 -X ...cli.commit=... -X ...cli.buildDate=..."
//
// When they are empty the Go build information fills in what it knows: the module version for
// `go install module@version`, the VCS revision and time for a build in a git checkout.
var (
	version   string
	commit    string
	buildDate string
)

// BuildInfo says which sriovctl this is: what `version --json` prints (jsonout.Version), with its text.
type BuildInfo jsonout.Version

// unknown fills a field that neither the linker flags nor the build information give.
const unknown = "unknown"

// ReadBuildInfo combines the linker-set variables with the binary's embedded build information.
func ReadBuildInfo() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfoFrom(bi, version, commit, buildDate)
}

func buildInfoFrom(bi *debug.BuildInfo, ver, rev, date string) BuildInfo {
	info := BuildInfo{Version: ver, Commit: rev, BuildDate: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		info.GoVersion = bi.GoVersion
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.BuildDate == "" {
					info.BuildDate = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = unknown
	}
	if info.BuildDate == "" {
		info.BuildDate = unknown
	}
	return info
}

// String is the text `sriovctl version` and `--version` print.
func (b BuildInfo) String() string {
	c := b.Commit
	if b.Modified {
		c += " (modified)"
	}
	return fmt.Sprintf("sriovctl %s\ncommit:     %s\nbuilt:      %s\ngo:         %s %s\n", b.Version, c, b.BuildDate, b.GoVersion, b.Platform)
}

func init() { register("version", newVersionCmd) }

func newVersionCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print sriovctl's version, commit, build date and Go version",
		Example: `  sriovctl version
  sriovctl version --json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			info := ReadBuildInfo()
			if a.JSON {
				return a.PrintJSON(jsonout.Version(info))
			}
			a.Printf("%s", info)
			return nil
		},
	}
}

// setVersion enables --version on the root, printing what `sriovctl version` prints.
func setVersion(root *cobra.Command) {
	info := ReadBuildInfo()
	root.Version = info.Version
	// Defined here so that cobra does not give it -v: -v is --verbose wherever a command writes the host.
	root.Flags().Bool("version", false, "print the version, commit, build date and Go version (as sriovctl version)")
	root.SetVersionTemplate(strings.ReplaceAll(info.String(), "{{", "{{`{{`}}"))
}
