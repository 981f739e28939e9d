package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/devref"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func init() { register("completion", newCompletionCmd) }

func newCompletionCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script for bash, zsh or fish",
		Long: `Print a completion script. Besides commands and flags it completes, by reading this host (or the
--lab) and the state dir without writing anything: PF names and PCI addresses, VF ids of the PF named
before, pool names, owners, mirror group names and NIC profiles.

The .deb installs the scripts for all three shells. By hand:
  bash:  sriovctl completion bash > /etc/bash_completion.d/sriovctl
  zsh:   sriovctl completion zsh > "${fpath[1]}/_sriovctl"
  fish:  sriovctl completion fish > ~/.config/fish/completions/sriovctl.fish`,
		Example:   `  source <(sriovctl completion bash)`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs(1, "the shell: bash, zsh or fish"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return WriteCompletion(cmd.Root(), args[0], a.Stdout)
		},
	}
}

// WriteCompletion writes root's completion script for shell (bash, zsh or fish) to w; the man-page and
// package generator uses it too.
func WriteCompletion(root *cobra.Command, shell string, w interface{ Write([]byte) (int, error) }) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	}
	return &sriov.FieldError{Field: "shell", Value: shell, Allowed: "allowed bash, zsh or fish"}
}

// completer returns candidates ("value\tdescription") for the word being completed.
type completer func(c *completion, args []string, toComplete string) []string

// argCompleters completes positional arguments: per command (path without the program name), one
// completer per position; the last one repeats.
var argCompleters = map[string][]completer{
	"show":          {(*completion).pfs},
	"pf set":        {(*completion).pfs, nil},
	"vf set":        {(*completion).pfs, (*completion).vfs, nil},
	"vf bind":       {(*completion).pfs, (*completion).vfs, (*completion).drivers, nil},
	"mirror delete": {(*completion).mirrors, nil},
	"lab eswitch":   {(*completion).pfs, fixed("legacy", "switchdev"), nil},
	"lab reset":     {(*completion).pfs, nil},
	"forget":        {fixed("pf", "pool", "mirror"), (*completion).forgettable, nil},
}

// flagCompleters completes flag values by flag name, wherever the flag appears.
var flagCompleters = map[string]completer{
	"pf":           (*completion).pfs,
	"pool":         (*completion).pools,
	"owner":        (*completion).owners,
	"lease":        (*completion).leases,
	"vfs":          (*completion).vfsOfFlag,
	"nic":          (*completion).nics,
	"from":         (*completion).from,
	"spoofchk":     fixed("on", "off"),
	"trust":        fixed("on", "off"),
	"query-rss":    fixed("on", "off"),
	"state":        fixed("auto", "enable", "disable"),
	"vlan-proto":   fixed(string(sriov.VLANProto8021Q), string(sriov.VLANProto8021AD)),
	"format":       fixed("json", "libvirt", "qemu"),
	"strategy":     fixed(mirror.StrategyAuto, mirror.StrategySameMAC, mirror.StrategySwitchdevTC),
	"network-type": fixed("flat", "vlan"),
	"eswitch-mode": fixed("legacy", "switchdev"),
	"repair":       fixed("auto", "report"),
	"log-format":   fixed("text", "json"),
	"errno":        func(*completion, []string, string) []string { return nicprofile.ErrnoNames() },
}

// fileFlags complete as file names with these extensions; dirFlags as directories.
var (
	fileFlags = map[string][]string{"file": {"yaml", "yml"}, "policy": {"yaml", "yml"},
		"ml2": {"ini"}, "sriov-agent": {"ini"}, "nova": {"conf"}}
	dirFlags = map[string]bool{"lab": true, "state-dir": true, "out": true}
)

// lookupTimeout bounds one completion's look-up: a shell must not hang on a held lock or a slow host.
const lookupTimeout = 3 * time.Second

// addCompletions attaches the completers to every command of the tree.
func addCompletions(a *App, root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if list, ok := argCompleters[commandName(c)]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				f := list[len(list)-1]
				if len(args) < len(list) {
					f = list[len(args)]
				}
				return runCompleter(a, cmd, f, args, toComplete)
			}
		}
		if commandName(c) == "lab init" {
			c.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveFilterDirs
			}
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { addFlagCompletion(a, c, f.Name) })
		if c == root {
			c.PersistentFlags().VisitAll(func(f *pflag.Flag) { addFlagCompletion(a, c, f.Name) })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func addFlagCompletion(a *App, c *cobra.Command, name string) {
	if _, exists := c.GetFlagCompletionFunc(name); exists {
		return
	}
	var fn cobra.CompletionFunc
	switch {
	case flagCompleters[name] != nil:
		f := flagCompleters[name]
		fn = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return runCompleter(a, cmd, f, args, toComplete)
		}
	case fileFlags[name] != nil:
		fn = cobra.FixedCompletions(fileFlags[name], cobra.ShellCompDirectiveFilterFileExt)
	case dirFlags[name]:
		fn = cobra.FixedCompletions(nil, cobra.ShellCompDirectiveFilterDirs)
	default:
		return
	}
	_ = c.RegisterFlagCompletionFunc(name, fn) // only fails for an unknown or doubly registered flag
}

// runCompleter runs f with a timeout and without letting a fault (a damaged state file) reach the shell:
// completion then offers nothing, and the command itself reports the problem when run.
func runCompleter(a *App, cmd *cobra.Command, f completer, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if f == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	done := make(chan []string, 1)
	ctx, cancel := context.WithTimeout(cmd.Context(), lookupTimeout)
	defer cancel()
	go func() {
		defer func() {
			if recover() != nil {
				done <- nil
			}
		}()
		debug.SetPanicOnFault(true) // a truncated mmapped file raises SIGBUS: a panic here, not a crash
		c := &completion{a: a, cmd: cmd, ctx: ctx}
		done <- f(c, args, toComplete)
	}()
	var out []string
	select {
	case out = <-done:
	case <-ctx.Done():
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completion is one completion request's read-only view of the host and the state dir.
type completion struct {
	a   *App
	cmd *cobra.Command
	ctx context.Context
}

func fixed(values ...string) completer {
	return func(*completion, []string, string) []string { return values }
}

// stateDir applies SRIOVCTL_LAB as the root's pre-run would (completion does not run it).
func (c *completion) stateDir() string {
	if c.a.LabDir == "" {
		c.a.LabDir = os.Getenv(labEnvVar)
	}
	return c.a.StateDir()
}

func (c *completion) observe() *sriov.Host {
	c.stateDir()
	h, err := c.a.Host()
	if err != nil {
		return nil
	}
	st, err := h.Observe(c.ctx)
	if err != nil {
		return nil
	}
	return st
}

// pfs offers every PF by netdev name and by PCI address.
func (c *completion) pfs(_ []string, _ string) []string {
	st := c.observe()
	if st == nil {
		return nil
	}
	var out []string
	for _, p := range st.PFs {
		desc := fmt.Sprintf("%s %s, VFs %d/%d", p.Driver, p.PCIAddress, p.NumVFs, p.TotalVFs)
		if p.Name != "" {
			out = append(out, p.Name+"\t"+desc)
		}
		out = append(out, p.PCIAddress+"\t"+p.Driver+" "+p.Name)
	}
	return out
}

// vfs offers the VF ids of the PF named by the first argument.
func (c *completion) vfs(args []string, _ string) []string {
	st := c.observe()
	if st == nil || len(args) == 0 {
		return nil
	}
	p := st.FindPF(devref.Canonical(args[0]))
	if p == nil {
		return nil
	}
	var out []string
	for _, v := range p.VFs {
		desc := v.PCIAddress
		if v.Driver != "" {
			desc += " " + v.Driver
		}
		if v.MAC != "" && v.MAC != sriov.ZeroMAC {
			desc += " " + v.MAC
		}
		out = append(out, strconv.Itoa(v.ID)+"\t"+desc)
	}
	return out
}

// drivers offers what `vf bind` accepts: vfio-pci, default, none and the profiles' VF drivers.
func (c *completion) drivers(_ []string, _ string) []string {
	out := []string{"vfio-pci\tfor a VM", "default\tthe VF's own netdev driver", "none\tunbind"}
	seen := map[string]bool{}
	for _, p := range nicprofile.All() {
		if p.VFDriver != "" && !seen[p.VFDriver] {
			seen[p.VFDriver] = true
			out = append(out, p.VFDriver+"\t"+p.Name+" VF driver")
		}
	}
	return out
}

// pools offers the pools of the policy given with -f/--policy, else of the stored desired state.
func (c *completion) pools(_ []string, _ string) []string {
	var path string
	var data []byte
	for _, name := range []string{"policy", "file"} {
		if f := c.cmd.Flags().Lookup(name); f != nil && f.Value.String() != "" {
			path = f.Value.String()
		}
	}
	var p *policy.Policy
	if path != "" {
		var err error
		if data, err = policy.ReadFile(path); err != nil {
			return nil
		}
		if p, err = policy.Parse(path, data); err != nil {
			return nil
		}
	} else if p = c.desired(); p == nil {
		return nil
	}
	var out []string
	for _, pl := range p.Pools {
		out = append(out, fmt.Sprintf("%s\t%s VFs %s", pl.Name, pl.PF, pl.IDs))
	}
	return out
}

// owners offers the owners recorded in the ledger.
func (c *completion) owners(_ []string, _ string) []string {
	pools := map[string][]string{}
	for _, r := range c.records() {
		pools[r.Owner] = append(pools[r.Owner], r.Pool)
	}
	var out []string
	for owner, ps := range pools {
		out = append(out, owner+"\tpool "+strings.Join(ps, ", "))
	}
	sort.Strings(out)
	return out
}

// leases offers the lease tokens recorded in the ledger.
func (c *completion) leases(_ []string, _ string) []string {
	var out []string
	for _, r := range c.records() {
		if r.Lease != "" {
			out = append(out, fmt.Sprintf("%s\t%s: %s vf %d", r.Lease, r.Owner, r.PF, r.VF))
		}
	}
	sort.Strings(out)
	return out
}

// records reads the ledger's records with an owner. It opens the database read-only with a shared lock
// (never creating or repairing it, unlike ledger.Open).
func (c *completion) records() []ledger.Record {
	path := filepath.Join(c.stateDir(), ledger.DBFile)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil
	}
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: lookupTimeout})
	if err != nil {
		return nil
	}
	defer db.Close()
	var out []ledger.Record
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			return b.ForEach(func(_, v []byte) error {
				var r ledger.Record
				if json.Unmarshal(v, &r) == nil && r.Owner != "" {
					out = append(out, r)
				}
				return nil
			})
		})
	})
	return out
}

// mirrors offers the recorded mirror groups and those of the stored desired policy.
func (c *completion) mirrors(_ []string, _ string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(name, desc string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name+"\t"+desc)
		}
	}
	if groups, err := mirror.OpenStore(c.stateDir()).List(); err == nil {
		for _, g := range groups {
			add(g.Name, "on "+g.PF)
		}
	}
	if p := c.desired(); p != nil {
		for _, m := range p.Mirrors {
			add(m.Name, "on "+m.PF+" (policy)")
		}
	}
	return out
}

// desired is the stored desired policy, nil when there is none or it cannot be read.
func (c *completion) desired() *policy.Policy {
	d, err := apply.LoadDesired(c.stateDir())
	if err != nil || d == nil {
		return nil
	}
	p, err := policy.Parse(d.Path, d.Policy)
	if err != nil {
		return nil
	}
	return p
}

// forgettable completes `forget KIND NAME`: the stored desired state's PFs (as stored, and by netdev
// name and PCI address when on the host), pools or mirror groups.
func (c *completion) forgettable(args []string, _ string) []string {
	p := c.desired()
	if p == nil || len(args) == 0 {
		return nil
	}
	var out []string
	switch args[0] {
	case "pf":
		st := c.observe()
		seen := map[string]bool{}
		for _, pf := range p.PFs {
			refs := []string{pf.Name, pf.PCIAddress}
			if st != nil {
				if hp := st.FindPF(pf.Ref()); hp != nil {
					refs = append(refs, hp.Name, hp.PCIAddress) // as it is named on the host now
				}
			}
			for _, ref := range refs {
				if ref != "" && !seen[ref] {
					seen[ref] = true
					out = append(out, ref+"\tPF of the desired state")
				}
			}
		}
	case "pool":
		for _, pl := range p.Pools {
			out = append(out, fmt.Sprintf("%s\t%s VFs %s", pl.Name, pl.PF, pl.IDs))
		}
	case "mirror":
		for _, m := range p.Mirrors {
			out = append(out, m.Name+"\ton "+m.PF)
		}
	}
	return out
}

// nics completes `lab init --nic NAME=PROFILE[:TOTALVFS]`: after the '=' the NIC profiles.
func (c *completion) nics(_ []string, toComplete string) []string {
	name, _, ok := strings.Cut(toComplete, "=")
	if !ok {
		return nil
	}
	var out []string
	for _, p := range nicprofile.All() {
		out = append(out, fmt.Sprintf("%s=%s\t%s, up to %d VFs", name, p.Name, p.Model, p.TotalVFs))
	}
	return out
}

// from completes `trace --from`: wire, pf and vf:N for the VFs of --pf.
func (c *completion) from(_ []string, _ string) []string {
	out := []string{"wire\tfrom the network", "pf\tfrom the PF's own netdev"}
	for _, v := range c.flagPFVFs() {
		out = append(out, fmt.Sprintf("vf:%d\t%s", v.ID, v.PCIAddress))
	}
	return out
}

// vfsOfFlag completes --vfs (mirror create, openstack render) with the VF ids of --pf; a list goes on
// after its last comma.
func (c *completion) vfsOfFlag(_ []string, toComplete string) []string {
	prefix := ""
	if i := strings.LastIndexAny(toComplete, ",-"); i >= 0 {
		prefix = toComplete[:i+1]
	}
	var out []string
	for _, v := range c.flagPFVFs() {
		out = append(out, fmt.Sprintf("%s%d\t%s", prefix, v.ID, v.PCIAddress))
	}
	return out
}

// flagPFVFs returns the VFs of the PF named by --pf, none when it is not given or not found.
func (c *completion) flagPFVFs() []sriov.VF {
	f := c.cmd.Flags().Lookup("pf")
	if f == nil || f.Value.String() == "" {
		return nil
	}
	if st := c.observe(); st != nil {
		if p := st.FindPF(devref.Canonical(f.Value.String())); p != nil {
			return p.VFs
		}
	}
	return nil
}
