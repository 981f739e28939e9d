package cli

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register("demo", newDemoCmd) }

// demoSection is one chapter of `sriovctl demo`. Feature files add theirs with addDemoSection; they run
// in Order.
type demoSection struct {
	Order int
	Title string
	Run   func(d *Demo) error
}

var demoSections []demoSection

func addDemoSection(s demoSection) { demoSections = append(demoSections, s) }

// Demo runs commands against the demo's lab and prints them as a user would type them.
type Demo struct {
	a      *App
	LabDir string
}

// Say prints narration.
func (d *Demo) Say(format string, args ...any) {
	d.a.Printf("\n# "+format+"\n", args...)
}

// Run runs one sriovctl command on the demo lab, prints it and its output, and fails the demo when the
// exit code is not want.
func (d *Demo) Run(want int, args ...string) (string, error) {
	d.a.Printf("$ sriovctl %s\n", quoteArgs(args))
	var out, errOut bytes.Buffer
	full := append([]string{"--lab", d.LabDir}, args...)
	code := Run(d.a.ctx(), full, strings.NewReader(""), &out, &errOut)
	d.a.Printf("%s", out.String())
	if errOut.Len() > 0 {
		d.a.Printf("%s", errOut.String())
	}
	if code != want {
		return out.String(), fmt.Errorf("demo step `sriovctl %s` exited %d, want %d", quoteArgs(args), code, want)
	}
	if want != 0 {
		d.a.Printf("(exit code %d)\n", code)
	}
	return out.String(), nil
}

// OK runs a command that must succeed.
func (d *Demo) OK(args ...string) (string, error) { return d.Run(0, args...) }

// WriteFile writes a file into the demo directory and shows it, for policy files and the like.
func (d *Demo) WriteFile(name, content string) (string, error) {
	path := d.LabDir + "/" + name
	d.a.Printf("$ cat %s\n%s", path, content)
	return path, os.WriteFile(path, []byte(content), 0o644)
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, s := range args {
		if s == "" || strings.ContainsAny(s, " \t\"'$*?{}[]|&;<>()") {
			s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
		q[i] = s
	}
	return strings.Join(q, " ")
}

func newDemoCmd(a *App) *cobra.Command {
	var dir string
	var keep bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Walk through what sriovctl does, on a temporary emulated lab host",
		Example: `  sriovctl demo
  sriovctl demo --keep --dir /tmp/demo   # keep the lab afterwards: sriovctl --lab /tmp/demo show`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.cmdCtx = cmd
			if dir == "" {
				d, err := os.MkdirTemp("", "sriovctl-demo-")
				if err != nil {
					return &OpError{What: "demo", Err: err}
				}
				dir = d + "/lab"
				if !keep {
					defer os.RemoveAll(d)
				}
			}
			d := &Demo{a: a, LabDir: dir}
			a.Printf("sriovctl demo: every step below is a real command on an emulated lab host.\n")
			a.Printf("$ export SRIOVCTL_LAB=%s   # the commands below run with --lab $SRIOVCTL_LAB\n", dir)
			sections := append([]demoSection(nil), demoSections...)
			sort.SliceStable(sections, func(i, j int) bool { return sections[i].Order < sections[j].Order })
			for i, s := range sections {
				a.Printf("\n== %d. %s ==\n", i+1, s.Title)
				if err := s.Run(d); err != nil {
					return &OpError{What: "demo", Err: err}
				}
			}
			a.Printf("\ndemo finished")
			if keep {
				a.Printf("; the lab stays in %s", dir)
			}
			a.Printf("\n")
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "create the demo lab in `DIR` (must not hold a lab yet)")
	c.Flags().BoolVar(&keep, "keep", false, "keep the demo lab afterwards")
	return c
}

func init() {
	addDemoSection(demoSection{Order: 10, Title: "An emulated host with five SR-IOV NICs", Run: func(d *Demo) error {
		d.Say("Create a lab host: one PF per NIC profile (ixgbe, i40e, ice, mlx5, igb).")
		d.a.Printf("$ sriovctl lab init %s\n", d.LabDir)
		var out bytes.Buffer
		if code := Run(d.a.ctx(), []string{"lab", "init", d.LabDir}, strings.NewReader(""), &out, &out); code != 0 {
			return fmt.Errorf("lab init: %s", out.String())
		}
		d.a.Printf("%s", out.String())
		_, err := d.OK("show", "ens5f0")
		return err
	}})
	addDemoSection(demoSection{Order: 20, Title: "Split a PF into VFs and configure them", Run: func(d *Demo) error {
		d.Say("Create 4 VFs on the igb NIC.")
		steps := [][]string{
			{"pf", "set", "ens5f0", "--numvfs", "4"},
			{"vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:10", "--vlan", "100", "--qos", "3"},
			{"vf", "set", "ens5f0", "1", "--mac", "02:00:00:00:00:11", "--vlan", "0", "--max-tx-rate", "500", "--reload-vf-driver"},
		}
		for _, s := range steps {
			if _, err := d.OK(s...); err != nil {
				return err
			}
		}
		d.Say("Bad input never reaches the host: it exits 2 and names the field and the allowed range.")
		if _, err := d.Run(2, "vf", "set", "ens5f0", "2", "--vlan", "4095"); err != nil {
			return err
		}
		d.Say("The igb driver refuses link state changes (EOPNOTSUPP): exit 1, nothing changed.")
		if _, err := d.Run(1, "vf", "set", "ens5f0", "2", "--trust", "on", "--state", "enable"); err != nil {
			return err
		}
		d.Say("Resizing an enabled PF must go through 0 and would destroy VF settings: refused without --force.")
		if _, err := d.Run(2, "pf", "set", "ens5f0", "--numvfs", "2"); err != nil {
			return err
		}
		_, err := d.OK("show", "ens5f0")
		return err
	}})
}

func (a *App) ctx() contextT {
	if a.cmdCtx != nil && a.cmdCtx.Context() != nil {
		return a.cmdCtx.Context()
	}
	return backgroundCtx()
}
