// Package cli is the sriovctl command line: thin cobra commands that parse and validate input, pick a
// host backend (the emulated lab with --lab, else the kernel), call the feature packages and print text
// or JSON. Exit codes: 0 success, 1 operational failure, 2 invalid input or usage.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitInvalid = 2
	// ExitChanges is what `plan --exit-code` and `status --exit-code` return when there are changes or
	// drift, for scripts and monitoring (as `git diff --exit-code` and `terraform plan -detailed-exitcode`
	// do); 1 and 2 keep their meanings.
	ExitChanges  = 3
	labEnvVar    = "SRIOVCTL_LAB"
	programName  = "sriovctl"
	kernelHintFn = "use --lab DIR (or SRIOVCTL_LAB) to work on an emulated lab host; create one with `sriovctl lab init DIR`"
)

// App carries the global options and I/O of one invocation.
type App struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	LabDir         string
	// JSON is --json: the flag of the commands that print JSON (jsonCommands in usage.go).
	JSON bool
	// Quiet (-q) drops notes and progress; Verbose (-v) says each host write as it is made (progress.go).
	Quiet, Verbose bool
	prog           *progress
	progOnce       sync.Once
	stateDir       string
	cmdCtx         *cobra.Command // the running command, for its context
	// ran is set once a command's RunE starts: errors before that are usage errors from cobra.
	ran bool
	// exitOnSuccess is the exit code of a command that succeeded: ExitChanges from --exit-code, else 0.
	exitOnSuccess int
	// logsSignals is set by a command that reports signals in its own log (the agent, whose log may be JSON).
	logsSignals atomic.Bool
	// args is the command line as given, for running the companion binary with it (kube.go).
	args []string
}

// NewKernelHost builds the kernel backend; the kernel package's wiring replaces it where the backend
// exists. Until then it says the backend is unavailable.
var NewKernelHost = func(a *App) (host.Host, error) {
	return nil, fmt.Errorf("%w: the kernel backend is not available in this build; %s", host.ErrUnavailable, kernelHintFn)
}

// Host returns the backend the global flags select.
func (a *App) Host() (host.Host, error) {
	if a.LabDir != "" {
		l, err := lab.Open(a.LabDir)
		if err != nil {
			return nil, usageErr("--lab", err)
		}
		return l, nil
	}
	return NewKernelHost(a)
}

// DefaultStateDir holds sriovctl's durable state on a real host.
const DefaultStateDir = "/var/lib/sriovctl"

// StateDir is where durable state lives: --state-dir, else the lab's own DIR/state, else DefaultStateDir.
// Each feature keeps its files in it (desired state, apply journal, assignment ledger).
func (a *App) StateDir() string {
	switch {
	case a.stateDir != "":
		return a.stateDir
	case a.LabDir != "":
		return filepath.Join(a.LabDir, "state")
	}
	return DefaultStateDir
}

// Service returns the service layer on the selected backend and state directory; its notes (what a
// recovery or repair did first) go to stderr as "note: ...". noWait makes writers fail at once when
// another holds the lock.
func (a *App) Service(noWait bool) (*service.Service, error) {
	h, err := a.Host()
	if err != nil {
		return nil, err
	}
	return service.New(h, a.StateDir(), service.Options{NoWait: noWait, Waiting: a.lockWaiting,
		Progress: func(n service.Note) { a.progress().note(n.Kind, n.Message) }}), nil
}

// lockWaiting says that a writer waits for the lock, and for whom.
func (a *App) lockWaiting(string) { a.progress().waiting(a.StateDir()) }

// quietService is Service without notes, for commands that print what was recovered themselves.
func (a *App) quietService(noWait bool) (*service.Service, error) {
	h, err := a.Host()
	if err != nil {
		return nil, err
	}
	return service.New(h, a.StateDir(), service.Options{NoWait: noWait, Waiting: a.lockWaiting}), nil
}

func noteLabel(kind string) string {
	if kind == service.NoteWarning {
		return "warning"
	}
	return "note"
}

// Lab returns the lab backend, refusing when no lab is selected.
func (a *App) Lab() (*lab.Lab, error) {
	if a.LabDir == "" {
		return nil, &UsageError{What: "--lab", Err: errors.New("this command needs a lab: give --lab DIR or set SRIOVCTL_LAB")}
	}
	l, err := lab.Open(a.LabDir)
	if err != nil {
		return nil, usageErr("--lab", err)
	}
	return l, nil
}

// Observe reads the whole host.
func (a *App) Observe(ctx context.Context, h host.Host) (*sriov.Host, error) {
	st, err := h.Observe(ctx)
	if err != nil {
		return nil, &OpError{What: "observe host", Err: err}
	}
	return st, nil
}

// HostState picks the backend and observes the whole host: what almost every command starts with.
func (a *App) HostState(ctx context.Context) (host.Host, *sriov.Host, error) {
	h, err := a.Host()
	if err != nil {
		return nil, nil, err
	}
	st, err := a.Observe(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	return h, st, nil
}

// FindPF resolves a PF reference or returns an input error naming the PFs that exist.
func FindPF(st *sriov.Host, field, ref string) (*sriov.PF, error) {
	return service.FindPF(st, field, ref)
}

// PrintJSON writes v as indented JSON, without HTML escaping (jsonout.Write: every command's --json).
func (a *App) PrintJSON(v any) error { return jsonout.Write(a.Stdout, v) }

// Printf writes human output.
func (a *App) Printf(format string, args ...any) { fmt.Fprintf(a.Stdout, format, args...) }

// UsageError is invalid input: exit 2.
type UsageError struct {
	What string
	Err  error
}

func (e *UsageError) Error() string {
	if e.What == "" {
		return e.Err.Error()
	}
	return e.What + ": " + e.Err.Error()
}
func (e *UsageError) Unwrap() error { return e.Err }

func usageErr(what string, err error) error { return &UsageError{What: what, Err: err} }

// Usagef builds a UsageError.
func Usagef(what, format string, args ...any) error {
	return &UsageError{What: what, Err: fmt.Errorf(format, args...)}
}

// OpError is an operational failure: exit 1.
type OpError struct {
	What string
	Err  error
}

func (e *OpError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// ExitCode maps an error to the process exit code.
func (a *App) ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	var fe *sriov.FieldError
	var oe *OpError
	var se *service.UsageError
	var pe *service.ProblemsError
	var ae *service.AssignedError
	switch {
	case errors.As(err, &ae):
		// One refusal kind, one exit code everywhere: the input is valid, the host's state refuses it.
		return ExitFailure
	case errors.As(err, &pe):
		if pe.InvalidInput() {
			return ExitInvalid
		}
		return ExitFailure
	case errors.As(err, &oe):
		return ExitFailure
	case errors.As(err, &ue), errors.As(err, &fe), errors.As(err, &se), !a.ran:
		return ExitInvalid
	}
	return ExitFailure
}

// ExitInterrupted is the exit code after Ctrl-C (128 + SIGINT), once what was written is rolled back.
const ExitInterrupted = 130

// Run executes the command line and returns the exit code; errors go to stderr as one line.
//
// Ctrl-C (or SIGTERM) cancels the command: a writer stops before its next write and undoes what it wrote,
// and Run exits 130 once that rollback is clean. A second Ctrl-C does not wait for the rollback: it says
// what may be left and that `sriovctl recover` (which reads the journal) repairs it, and exits 130.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdin, stdout, stderr, commandOf)
}

// runWith is Run building the top-level command that pick names, or every command when it names none.
func runWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, pick func([]string) string) int {
	a := &App{Stdout: stdout, Stderr: stderr, Stdin: stdin, args: args}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	var interrupted atomic.Bool
	go func() {
		for n := 0; ; n++ {
			select {
			case <-sigs:
			case <-finished:
				return
			}
			if n == 0 {
				interrupted.Store(true)
				if !a.logsSignals.Load() {
					a.progress().println(programName + ": interrupted: stopping; undoing what was written so far, if anything (Ctrl-C again to stop waiting)")
				}
				cancel()
				continue
			}
			fmt.Fprintf(stderr, "%s: interrupted again: the rollback may not be finished and the host may be half-changed; the journal in %s records it: run `sriovctl recover`\n", programName, a.StateDir())
			os.Exit(ExitInterrupted)
		}
	}()
	root := newRootFor(a, pick(args))
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	err := root.ExecuteContext(ctx)
	a.progress().finish()
	if err == nil {
		return a.exitOnSuccess
	}
	fmt.Fprintf(stderr, "%s: %s\n", programName, oneLine(err.Error()))
	// The caller's context ends on a signal too (main's signal.NotifyContext), maybe before this one saw it.
	if (interrupted.Load() || parent.Err() != nil) && !change.IsRollbackFailure(err) {
		fmt.Fprintf(stderr, "%s: interrupted: rolled back; the host is as it was before this command\n", programName)
		return ExitInterrupted
	}
	return a.ExitCode(err)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// NewRoot builds the command tree for app a: every command (man pages, help tests, completion).
func NewRoot(a *App) *cobra.Command { return newRootFor(a, "") }

// newRootFor builds the root with only the top-level command named only, or with every command when
// only is "". Run builds just the command it runs (lazy.go): the whole tree was a tenth of the CPU of
// `sriovctl version`.
func newRootFor(a *App, only string) *cobra.Command {
	root := &cobra.Command{
		Use:   programName,
		Short: "Manage SR-IOV network devices: VFs, their settings, pools, mirroring and OpenStack config",
		Long: `sriovctl manages SR-IOV Physical Functions and their Virtual Functions on Linux hosts:
VF counts, MAC, VLAN (or flat), QoS, spoof check, trust, link state and rate limits.

Without --lab it works on this host's kernel (sysfs and rtnetlink). With --lab DIR (or SRIOVCTL_LAB)
it works on an emulated lab host that behaves like real NICs; try ` + "`sriovctl demo`" + `.`,
		Example: `  sriovctl demo                                   # a guided tour on a temporary lab
  sriovctl lab init /tmp/lab && sriovctl --lab /tmp/lab show
  sriovctl show                                   # this host's PFs and VFs (kernel backend)
  sriovctl plan -f policy.yaml && sriovctl apply -f policy.yaml`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.ran = true
			if a.LabDir == "" {
				a.LabDir = os.Getenv(labEnvVar)
			}
			return a.outputPreRun(cmd)
		},
	}
	root.PersistentFlags().StringVar(&a.LabDir, "lab", "", "use the emulated lab host whose state lives in `DIR` (env "+labEnvVar+")")
	root.PersistentFlags().StringVar(&a.stateDir, "state-dir", "", "keep durable state (desired state, journal, ledger) in `DIR`; default "+DefaultStateDir+", or LAB/state with --lab")
	root.CompletionOptions.DisableDefaultCmd = true // completion.go has its own, with dynamic completion
	for _, tc := range commands {
		if only != "" && tc.name != only {
			continue
		}
		c := tc.build(a)
		if c.Name() != tc.name || len(c.Aliases) > 0 {
			// Run finds the command to build by its registered name, before cobra parses anything.
			panic(fmt.Sprintf("cli: command %q registered as %q (aliases need registering too: lazy.go)", c.Name(), tc.name))
		}
		if builtHook != nil {
			builtHook(a, tc.name)
		}
		root.AddCommand(c)
	}
	finishRoot(a, root, only != "")
	return root
}

// topCommand is a top-level command: its name, and the constructor that builds it with its subcommands.
type topCommand struct {
	name  string
	build func(a *App) *cobra.Command
}

// commands lists the top-level commands; each feature adds its own in its file's init.
var commands []topCommand

// register adds the top-level command name, which build makes.
func register(name string, build func(a *App) *cobra.Command) {
	commands = append(commands, topCommand{name, build})
}

// exactArgs is cobra.ExactArgs with a usage error naming the expected arguments. A command that reads
// a policy file with -f and was given it as an argument (`plan policy.yaml`) is told to use -f.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
			return nil
		case n == 0 && len(args) == 1 && cmd.Flags().ShorthandLookup("f") != nil && !cmd.Flags().Changed(cmd.Flags().ShorthandLookup("f").Name):
			return Usagef(commandName(cmd), "takes no arguments; give the policy file with -f: sriovctl %s -f %s", commandName(cmd), args[0])
		case n == 0:
			return Usagef(commandName(cmd), "takes no arguments; got %s", quoteList(args))
		case len(args) < n:
			return Usagef(commandName(cmd), "want %s (%s); got %s", plural(n, "argument"), names, plural(len(args), "argument"))
		}
		return Usagef(commandName(cmd), "want %s (%s); got %s: %s", plural(n, "argument"), names, plural(len(args), "argument"), quoteList(args))
	}
}

// quoteList is args quoted and comma-separated, for errors.
func quoteList(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, ", ")
}

func asField(err error, target **sriov.FieldError) bool { return errors.As(err, target) }

type contextT = context.Context

func backgroundCtx() context.Context { return context.Background() }
