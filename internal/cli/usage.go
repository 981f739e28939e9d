package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
		return "out of range"
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

// finishRoot runs once the whole tree is built: input rules, --version and dynamic completion.
func finishRoot(a *App, root *cobra.Command) {
	hardenTree(root)
	setVersion(root)
	addCompletions(a, root)
}
