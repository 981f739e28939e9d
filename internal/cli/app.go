// Package cli is the sriovctl command line: thin cobra commands that parse and validate input, pick a
// host backend (the emulated lab with --lab, else the kernel), call the feature packages and print text
// or JSON. Exit codes: 0 success, 1 operational failure, 2 invalid input or usage.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitInvalid  = 2
	labEnvVar    = "SRIOVCTL_LAB"
	programName  = "sriovctl"
	kernelHintFn = "use --lab DIR (or SRIOVCTL_LAB) to work on an emulated lab host; create one with `sriovctl lab init DIR`"
)

// App carries the global options and I/O of one invocation.
type App struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	LabDir         string
	JSON           bool
	stateDir       string
	cmdCtx         *cobra.Command // the running command, for its context
	// ran is set once a command's RunE starts: errors before that are usage errors from cobra.
	ran bool
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

// HostPF is HostState plus the PF named by ref (netdev or PCI address), an input error when absent.
func (a *App) HostPF(ctx context.Context, ref string) (host.Host, *sriov.Host, *sriov.PF, error) {
	h, st, err := a.HostState(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := FindPF(st, "PF", ref)
	if err != nil {
		return nil, nil, nil, err
	}
	return h, st, p, nil
}

// FindPF resolves a PF reference or returns an input error naming the PFs that exist.
func FindPF(st *sriov.Host, field, ref string) (*sriov.PF, error) {
	p := st.FindPF(ref)
	if p == nil {
		return nil, &sriov.FieldError{Field: field, Value: ref, Allowed: "no such PF; PFs on this host: " + st.PFNames()}
	}
	return p, nil
}

// PrintJSON writes v as indented JSON.
func (a *App) PrintJSON(v any) error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

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
	switch {
	case errors.As(err, &oe):
		return ExitFailure
	case errors.As(err, &ue), errors.As(err, &fe), !a.ran:
		return ExitInvalid
	}
	return ExitFailure
}

// Run executes the command line and returns the exit code; errors go to stderr as one line.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &App{Stdout: stdout, Stderr: stderr, Stdin: stdin}
	root := NewRoot(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "%s: %s\n", programName, oneLine(err.Error()))
	return a.ExitCode(err)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// NewRoot builds the command tree for app a.
func NewRoot(a *App) *cobra.Command {
	root := &cobra.Command{
		Use:   programName,
		Short: "Manage SR-IOV network devices: VFs, their settings, pools, mirroring and OpenStack config",
		Long: `sriovctl manages SR-IOV Physical Functions and their Virtual Functions on Linux hosts:
VF counts, MAC, VLAN (or flat), QoS, spoof check, trust, link state and rate limits.

Without --lab it works on this host's kernel (sysfs and rtnetlink). With --lab DIR (or SRIOVCTL_LAB)
it works on an emulated lab host that behaves like real NICs; try ` + "`sriovctl demo`" + `.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.ran = true
			if a.LabDir == "" {
				a.LabDir = os.Getenv(labEnvVar)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&a.LabDir, "lab", "", "use the emulated lab host whose state lives in `DIR` (env "+labEnvVar+")")
	root.PersistentFlags().BoolVar(&a.JSON, "json", false, "print JSON instead of text")
	root.PersistentFlags().StringVar(&a.stateDir, "state-dir", "", "where sriovctl keeps durable state (desired state, journal, ledger); default "+DefaultStateDir+", or DIR/state with --lab")
	root.CompletionOptions.DisableDefaultCmd = true // completion.go has its own, with dynamic completion
	for _, add := range commands {
		root.AddCommand(add(a))
	}
	finishRoot(a, root)
	return root
}

// commands lists the top-level command constructors; each feature adds its own in its file's init.
var commands []func(a *App) *cobra.Command

// register adds a top-level command constructor.
func register(f func(a *App) *cobra.Command) { commands = append(commands, f) }

// exactArgs is cobra.ExactArgs with a usage error naming the expected arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef(commandName(cmd), "want %d argument(s): %s; got %d", n, names, len(args))
		}
		return nil
	}
}

func asField(err error, target **sriov.FieldError) bool { return errors.As(err, target) }

type contextT = context.Context

func backgroundCtx() context.Context { return context.Background() }
