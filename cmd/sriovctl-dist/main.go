// Command sriovctl-dist writes the files the package ships besides the binary: a man page per command,
// generated from the command tree (cobra's doc generator), and the bash, zsh and fish completion scripts.
// It runs at build time on the build machine (`make dist`), so cross-built packages need no emulator.
//
//	go run ./cmd/sriovctl-dist -out build/dist [-version v1.2.3] [-date 2026-11-30]
//
// Output: OUT/man/man1/sriovctl*.1 and OUT/completion/{sriovctl.bash,_sriovctl,sriovctl.fish}.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/sriovctl/sriovctl/internal/cli"
	_ "github.com/sriovctl/sriovctl/internal/kubecli" // man pages of fleet and agent --kubernetes too
)

func main() {
	out := flag.String("out", "build/dist", "output directory")
	version := flag.String("version", "", "version shown in the man pages' footer (default: the build's)")
	date := flag.String("date", "", "date shown in the man pages, YYYY-MM-DD (default: $SOURCE_DATE_EPOCH, else today)")
	flag.Parse()
	if err := run(*out, *version, *date); err != nil {
		fmt.Fprintln(os.Stderr, "sriovctl-dist:", err)
		os.Exit(1)
	}
}

// completionFiles are the scripts' names, as bash-completion, zsh and fish look them up.
var completionFiles = map[string]string{"bash": "sriovctl.bash", "zsh": "_sriovctl", "fish": "sriovctl.fish"}

func run(out, version, date string) error {
	when, err := manDate(date)
	if err != nil {
		return err
	}
	if version == "" {
		version = cli.ReadBuildInfo().Version
	}
	root := cli.NewRoot(&cli.App{Stdout: io.Discard, Stderr: io.Discard, Stdin: bytes.NewReader(nil)})
	root.DisableAutoGenTag = true // the tag carries a date: keep the pages reproducible
	manDir := filepath.Join(out, "man", "man1")
	if err := os.MkdirAll(manDir, 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{Section: "1", Date: &when,
		Source: "sriovctl " + version, Manual: "sriovctl manual"}
	if err := doc.GenManTree(root, header, manDir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	compDir := filepath.Join(out, "completion")
	if err := os.MkdirAll(compDir, 0o755); err != nil {
		return err
	}
	for shell, name := range completionFiles {
		var b bytes.Buffer
		if err := cli.WriteCompletion(root, shell, &b); err != nil {
			return fmt.Errorf("%s completion: %w", shell, err)
		}
		if err := os.WriteFile(filepath.Join(compDir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// manDate is -date, else SOURCE_DATE_EPOCH (the reproducible-builds convention), else today.
func manDate(date string) (time.Time, error) {
	if date != "" {
		t, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return time.Time{}, fmt.Errorf("-date: invalid value %q: want YYYY-MM-DD", date)
		}
		return t, nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: invalid value %q: want seconds since 1970", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Now().UTC(), nil
}
