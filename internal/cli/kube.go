package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

// KubeBinary is the companion binary that holds sriovctl's Kubernetes code (the agent's --kubernetes
// mode and `fleet`). The Kubernetes client libraries cost about 25 ms of package initialisation and
// 30 MB of binary, so they stay out of sriovctl itself, whose every command would otherwise pay for them
// at start; sriovctl runs the companion (as git runs git-foo) for the commands that need it.
const KubeBinary = "sriovctl-kube"

// KubeHooks are set by package kubecli, which only the companion binary links. In sriovctl they are
// nil and the commands that need them run the companion with the same command line.
type KubeHooks struct {
	// RunAgent runs `agent --kubernetes`; cmd is the agent command, whose flags it reads.
	RunAgent func(cmd *cobra.Command, a *App) error
	// Fleet builds the `fleet` command tree.
	Fleet func(a *App) *cobra.Command
}

// kubeExecEnv marks the companion's environment, so that it never runs itself again.
const kubeExecEnv = "SRIOVCTL_KUBE_EXEC"

// Kube is set in the companion binary's init.
var Kube KubeHooks

func init() {
	register("fleet", func(a *App) *cobra.Command {
		if Kube.Fleet != nil {
			return Kube.Fleet(a)
		}
		return &cobra.Command{
			Use:   "fleet",
			Short: "See the fleet's SR-IOV rollouts on Kubernetes (runs " + KubeBinary + ")",
			Example: `  sriovctl fleet status
  sriovctl fleet --help`,
			DisableFlagParsing: true,
			RunE:               func(cmd *cobra.Command, args []string) error { return a.execKube() },
		}
	})
}

// execKube replaces this process with the companion binary, given this invocation's arguments. It looks
// beside the running executable first (a checkout's build/ or /usr/bin), then in PATH. It returns only
// on failure.
func (a *App) execKube() error {
	// The companion links the hooks; one that runs the companion again lacks them, so stop there.
	if os.Getenv(kubeExecEnv) != "" {
		return fmt.Errorf("%s does not have this command: it was built without its Kubernetes part", KubeBinary)
	}
	path, err := findKubeBinary()
	if err != nil {
		return err
	}
	argv := append([]string{path}, a.args...)
	env := append(os.Environ(), kubeExecEnv+"=1")
	return fmt.Errorf("running %s: %w", path, syscall.Exec(path, argv, env))
}

func findKubeBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), KubeBinary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(KubeBinary)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("this command needs %s (the Kubernetes part of sriovctl), found neither beside this binary nor in PATH: install the package, or `make build` in a checkout", KubeBinary)
		}
		return "", err
	}
	return p, nil
}
