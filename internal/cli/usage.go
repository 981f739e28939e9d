package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/suggest"
)

// commandName is the command's path without the program name ("vf set"), for error prefixes: Run already
// starts every error with "sriovctl: ".
func commandName(c *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), programName), " ")
}

// groupAnnotation marks the commands that only hold subcommands once hardenTree gave them a RunE.
const groupAnnotation = "sriovctl/group"

// isGroup reports whether c only holds subcommands (vf, pool, mirror, lab, openstack and the root).
func isGroup(c *cobra.Command) bool {
	return c.HasSubCommands() && (c.Run == nil && c.RunE == nil || c.Annotations[groupAnnotation] != "")
}

// groupRunE makes a group refuse what is not one of its subcommands. cobra shows a group's help and
// exits 0 for `vf sett`, so a typo in a script passes silently.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return unknownCommand(cmd, args[0])
}

// unknownCommand is the usage error for a name that is not a subcommand of group.
func unknownCommand(group *cobra.Command, name string) error {
	var names []string
	for _, c := range group.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	msg := fmt.Sprintf("unknown command %q%s (commands: %s)", name, suggest.Hint(name, names), strings.Join(names, ", "))
	return &UsageError{What: commandName(group), Err: errors.New(msg)}
}

// flagError turns pflag's parse errors into the tool's one-line form: the flag, the value, what is
// allowed, and a did-you-mean for an unknown flag. It never shows Go's parser names (strconv.ParseInt).
func flagError(c *cobra.Command, err error) error {
	if isGroup(c) && len(c.Flags().Args()) > 0 {
		// `vf sett --mac M`: the real mistake is the subcommand, not the flag the group lacks.
		return unknownCommand(c, c.Flags().Args()[0])
	}
	var inv *pflag.InvalidValueError
	var notExist *pflag.NotExistError
	var needs *pflag.ValueRequiredError
	switch {
	case errors.As(err, &inv):
		f := inv.GetFlag()
		return &sriov.FieldError{Field: "--" + f.Name, Value: inv.GetValue(), Allowed: valueHint(f, errors.Unwrap(err))}
	case errors.As(err, &notExist) && notExist.GetSpecifiedShortnames() == "":
		name := notExist.GetSpecifiedName()
		var names []string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		msg := "unknown flag --" + name
		if s := suggest.Closest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean --%s?", s)
		}
		return &UsageError{What: usageWhat(c), Err: errors.New(msg + " (see --help)")}
	case errors.As(err, &notExist):
		// pflag says "unknown shorthand flag: 'x' in -x".
		return &UsageError{What: usageWhat(c), Err: fmt.Errorf("unknown flag -%s (see --help)", notExist.GetSpecifiedName())}
	case errors.As(err, &needs):
		return &UsageError{What: "--" + needs.GetFlag().Name, Err: errors.New("needs a value")}
	}
	return &UsageError{What: usageWhat(c), Err: err}
}

// usageWhat names the command in a usage error; the root needs no name: Run prefixes "sriovctl: ".
func usageWhat(c *cobra.Command) string { return commandName(c) }

// valueHint says what a flag of f's type accepts, given the parser's complaint.
func valueHint(f *pflag.Flag, cause error) string {
	var ne *strconv.NumError
	switch {
	case errors.As(cause, new(errNotDecimal)):
		return cause.Error()
	case f.Value.Type() == "bool":
		return "want true or false"
	case f.Value.Type() == "duration":
		return "want a duration such as 500ms, 30s or 2m"
	case errors.As(cause, &ne) && errors.Is(ne.Err, strconv.ErrRange):
		// Too large for the flag's integer type: its help line says what it allows.
		name, usage := pflag.UnquoteUsage(f)
		return fmt.Sprintf("out of range for --%s %s: %s", f.Name, name, usage)
	case errors.As(cause, &ne):
		return "invalid syntax"
	case cause != nil:
		return cause.Error()
	}
	return "invalid"
}

// hardenTree applies the tree-wide input rules once every command exists: decimal-only integers, groups
// that refuse unknown subcommands, and flag errors in the tool's own words.
func hardenTree(root *cobra.Command) {
	decimalFlags(root)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if isGroup(c) {
			c.Args = cobra.ArbitraryArgs
			c.RunE = groupRunE
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[groupAnnotation] = "true"
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root.SetFlagErrorFunc(flagError)
}

// finishRoot runs once the tree is built: input rules, --version and dynamic completion. partial says
// that root holds only the top-level command that runs (newRootFor): the paths listed below that are not
// in the tree are skipped then, and a programming error on the full tree.
func finishRoot(a *App, root *cobra.Command, partial bool) {
	addOutputFlags(a, root, partial)
	hardenTree(root)
	setVersion(root)
	addCompletions(a, root)
}

// jsonCommands are the commands that print JSON with --json: the flag is theirs alone, so that --json
// appears only where it does something. A command that learns to print JSON adds its path here (the
// tree test runs each of them with --json and parses what it prints).
var jsonCommands = []string{
	"show", "pf set", "vf set", "vf bind", "plan", "apply", "restore", "recover", "status", "forget",
	"pool list", "assign", "release", "assignments", "trace", "mirror create", "mirror list", "mirror delete",
	"lab init", "lab fault", "lab traffic", "openstack render", "openstack check", "version",
	"export", "import netplan", "import networkd", "pool libvirt-network",
	"lab reboot", "lab reset", "lab eswitch", "ledger restore-backup",
}

// writerCommands write the host through the service: they show progress (progress.go) and take
// -q/--quiet and -v/--verbose.
var writerCommands = []string{
	"apply", "restore", "recover", "pf set", "vf set", "vf bind", "assign", "release", "mirror create", "mirror delete",
}

// addOutputFlags gives --json, -q and -v to the commands listed above. The root keeps a hidden --json so
// that `sriovctl --json show` still works; outputPreRun refuses it for a command that prints no JSON.
func addOutputFlags(a *App, root *cobra.Command, partial bool) {
	root.PersistentFlags().BoolVar(&a.JSON, "json", false, "print JSON instead of text")
	_ = root.PersistentFlags().MarkHidden("json")
	for _, path := range jsonCommands {
		if c := builtCommand(root, path, partial); c != nil {
			c.Flags().BoolVar(&a.JSON, "json", false, "print JSON instead of text")
		}
	}
	for _, path := range writerCommands {
		c := builtCommand(root, path, partial)
		if c == nil {
			continue
		}
		fl := c.Flags()
		fl.BoolVarP(&a.Quiet, "quiet", "q", false, "print no progress and no notes (warnings and errors still)")
		fl.BoolVarP(&a.Verbose, "verbose", "v", false, "print each host write as it is made, one line each")
	}
}

// findCommand returns the command at path ("lab fault") below root; a missing one is a programming error.
func findCommand(root *cobra.Command, path string) *cobra.Command {
	c, rest, err := root.Find(strings.Fields(path))
	if err != nil || len(rest) > 0 || commandName(c) != path {
		panic("cli: no command " + path)
	}
	return c
}

// builtCommand is findCommand, or nil when root is partial and path's top-level command was not built.
// A missing path under a built top-level command is still a programming error.
func builtCommand(root *cobra.Command, path string, partial bool) *cobra.Command {
	if partial {
		top, _, _ := strings.Cut(path, " ")
		built := false
		for _, c := range root.Commands() {
			built = built || c.Name() == top
		}
		if !built {
			return nil
		}
	}
	return findCommand(root, path)
}

// aliasAnnotation marks a hidden flag that is the old name of another; its value is the new name.
const aliasAnnotation = "sriovctl/alias-of"

// deprecatedAlias adds --old to fl as a hidden, deprecated name of the existing flag --name: both set
// the same value.
func deprecatedAlias(fl *pflag.FlagSet, old, name string) {
	f := fl.Lookup(name)
	fl.Var(f.Value, old, "old name of --"+name)
	o := fl.Lookup(old)
	o.Hidden = true
	o.Annotations = map[string][]string{aliasAnnotation: {name}}
}

// flagName is how help names a flag: -f/--file, or --name.
func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "-" + f.Shorthand + "/--" + f.Name
	}
	return "--" + f.Name
}

// outputPreRun runs before every command: it refuses --json where it prints nothing, notes a deprecated
// flag name, and has the writers report each host write (progress.go).
func (a *App) outputPreRun(cmd *cobra.Command) error {
	if f := cmd.Flags().Lookup("json"); f != nil && f.Changed && cmd.LocalNonPersistentFlags().Lookup("json") == nil {
		return Usagef("--json", "%s prints no JSON", cmd.CommandPath())
	}
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		alias := f.Annotations[aliasAnnotation]
		if !f.Changed || len(alias) == 0 || err != nil {
			return
		}
		to := cmd.Flags().Lookup(alias[0])
		if to.Changed {
			err = Usagef("--"+f.Name, "give %s only (--%s is its old name)", flagName(to), f.Name)
			return
		}
		a.note(fmt.Sprintf("--%s is deprecated; use %s", f.Name, flagName(to)))
	})
	if err != nil {
		return err
	}
	if cmd.LocalFlags().Lookup("verbose") != nil {
		cmd.SetContext(change.WithTrace(cmd.Context(), a.progress().trace()))
	}
	return nil
}
