// Command fleet starts a local SR-IOV fleet for a person to try by hand: a Kubernetes control plane
// (kube-apiserver and etcd on 127.0.0.1, built and cached by test/k8s/build.sh) with sriovctl's CRDs and
// manifests applied, a few Node objects, and one `sriovctl agent --kubernetes` per node, each managing
// its own emulated lab host. It writes a kubeconfig, prints kubectl and `sriovctl fleet status` commands
// to try, and runs until Ctrl-C, which stops the agents and then the control plane.
//
//	go run ./test/fleet [-nodes 3] [-dir DIR] [-agents=false]
//
// There is no kubelet: the DaemonSet is stored but starts no pods; the agents run here as plain processes,
// as the DaemonSet would run them on each node. When the sriovctl built from this checkout has no agent
// --kubernetes yet, it says so and starts only the control plane.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/test/k8s"
)

// namespace is where the manifests put the agents and where they keep their rollout slot Leases.
const namespace = "sriovctl-system"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	ctrllog.SetLogger(logr.Discard()) // envtest logs through controller-runtime; this program reports itself
	nodes := flag.Int("nodes", 3, "Node objects to register (node-1 ... node-N), each with an agent on its own lab host")
	dir := flag.String("dir", "", "where to write the kubeconfig, binaries, lab hosts and agent logs (default: a new temporary folder)")
	withAgents := flag.Bool("agents", true, "start one `sriovctl agent --kubernetes` per node")
	flag.Parse()
	if *nodes < 0 || *nodes > 50 {
		fmt.Fprintf(os.Stderr, "fleet: -nodes: invalid value %d: allowed 0-50\n", *nodes)
		os.Exit(2)
	}

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "fleet: building or finding kube-apiserver and etcd (test/k8s/build.sh; about 12 minutes the first time)")
		cmd := exec.Command(filepath.Join(k8s.Dir(), "build.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("test/k8s/build.sh: %w", err)
		}
		assets = strings.TrimSpace(string(out))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "sriovctl-fleet-")
		if err != nil {
			return err
		}
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	*dir, _ = filepath.Abs(*dir)

	bin := filepath.Join(*dir, "bin")
	fmt.Fprintf(os.Stderr, "fleet: building sriovctl and sriovctl-kube into %s\n", bin)
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/sriovctl", "./cmd/sriovctl-kube")
	build.Dir = filepath.Join(k8s.Dir(), "..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	sriovctl := filepath.Join(bin, "sriovctl")

	env := &envtest.Environment{
		Scheme:                   k8s.Scheme(),
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	defer env.Stop() //nolint:errcheck // best effort on the way out
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := k8s.ApplyKustomization(ctx, c, k8s.DeployDir()); err != nil {
		return err
	}
	names := make([]string, *nodes)
	for i := range names {
		names[i] = fmt.Sprintf("node-%d", i+1)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: names[i],
			Labels: map[string]string{"kubernetes.io/hostname": names[i], "sriovctl.io/nic": "x710"}}}
		if err := c.Create(ctx, n); err != nil {
			return err
		}
	}
	kubeconfig := filepath.Join(*dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		return err
	}

	var agents []*agentProc
	defer func() { stopAgents(agents) }()
	agentsNote := "no agents were started (-agents=false)."
	if *withAgents && *nodes > 0 {
		if ok, err := hasKubernetesMode(sriovctl); err != nil {
			return err
		} else if !ok {
			agentsNote = "no agents run: this checkout's `sriovctl agent` has no --kubernetes mode yet, so nothing\nreconciles the policies and no SriovNodeState appears (fleet status shows the nodes as Unknown)."
		} else {
			for _, name := range names {
				a, err := startAgent(sriovctl, *dir, name, kubeconfig)
				if err != nil {
					return err
				}
				agents = append(agents, a)
			}
			agentsNote = waitForStates(ctx, c, agents)
		}
	}

	example := filepath.Join(k8s.DeployDir(), "examples", "sriovhostpolicy.yaml")
	fmt.Printf(`A Kubernetes control plane is running at %s with sriovctl's CRDs, RBAC, admission policy and
DaemonSet applied and %d Node objects labelled sriovctl.io/nic=x710 (no kubelet: no pods run).
%s

  export KUBECONFIG=%s
  export PATH=%s:$PATH
  kubectl get nodes --show-labels
  kubectl apply -f %s
  sriovctl fleet status                    # one line per node and each policy's rollout (--json too)
  kubectl get sriovhostpolicies            # or: kubectl get shp -o wide
  kubectl get sriovnodestates -o wide      # one per node, written by its agent
  kubectl get leases -n %s     # rollout slots <policy>-slot-<i>, held by node name
%s
  # a disruptive change (a new VF count), at most maxUnavailable nodes at a time:
  kubectl patch shp x710-vms --type json -p '[{"op":"replace","path":"/spec/policy/pfs/0/numVfs","value":16}]'
  kubectl patch shp x710-vms --type merge -p '{"spec":{"rollout":{"pause":true}}}'
  kubectl label node node-2 sriovctl.io/nic-     # node-2 leaves the policy's selector
  kubectl explain sriovhostpolicy.spec.rollout
  # refused by the schema, with the field and the allowed range:
  kubectl patch shp x710-vms --type json -p '[{"op":"replace","path":"/spec/policy/pfs/0/vfs/0/vlan","value":5000}]'

No kubectl? test/k8s/build.sh --kubectl builds one from the Go module proxy into %s.
Ctrl-C stops the agents and the control plane (its data goes with it; the lab hosts stay in %s).
`, cfg.Host, *nodes, agentsNote, kubeconfig, bin, example, namespace, agentCommands(agents), assets, *dir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "fleet: stopping the agents and the control plane")
	return nil
}

// hasKubernetesMode reports whether `sriovctl agent` takes --kubernetes (the agent's fleet mode).
func hasKubernetesMode(sriovctl string) (bool, error) {
	out, err := exec.Command(sriovctl, "agent", "--help").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("sriovctl agent --help: %w: %s", err, out)
	}
	return strings.Contains(string(out), "--kubernetes"), nil
}

// agentProc is one node's agent, a process in its own process group so that the terminal's Ctrl-C
// reaches this program only, which then stops the agents one by one.
type agentProc struct {
	node, lab, log, metrics string
	cmd                     *exec.Cmd
	done                    chan error
}

// startAgent creates the node's lab host (kept when it exists) and starts its agent on it.
func startAgent(sriovctl, dir, node, kubeconfig string) (*agentProc, error) {
	nodeDir := filepath.Join(dir, node)
	a := &agentProc{node: node, lab: filepath.Join(nodeDir, "lab"), log: filepath.Join(nodeDir, "agent.log")}
	if _, err := os.Stat(filepath.Join(a.lab, "lab.db")); errors.Is(err, os.ErrNotExist) {
		if out, err := exec.Command(sriovctl, "lab", "init", a.lab).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sriovctl lab init %s: %w: %s", a.lab, err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	a.metrics = fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	a.cmd = exec.Command(sriovctl, "--lab", a.lab, "agent", "--kubernetes", "--node-name", node,
		"--kubeconfig", kubeconfig, "--namespace", namespace, "--metrics", a.metrics)
	a.cmd.Env = append(os.Environ(), "SRIOVCTL_LAB=")
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the agent of %s: %w", node, err)
	}
	a.done = make(chan error, 1)
	go func() { a.done <- a.cmd.Wait() }()
	return a, nil
}

// freePort asks the kernel for a free loopback port for an agent's metrics and status page.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitForStates waits (up to a minute) for each agent's SriovNodeState and says how that went, with the
// end of the log of an agent that exited.
func waitForStates(ctx context.Context, c client.Client, agents []*agentProc) string {
	deadline := time.Now().Add(time.Minute)
	pending := map[string]*agentProc{}
	for _, a := range agents {
		pending[a.node] = a
	}
	var problems []string
	for len(pending) > 0 && time.Now().Before(deadline) {
		for name, a := range pending {
			select {
			case err := <-a.done:
				a.done <- err // stopAgents reads it again
				problems = append(problems, fmt.Sprintf("the agent of %s exited (%v); the end of %s:\n%s", name, err, a.log, tail(a.log, 5)))
				delete(pending, name)
				continue
			default:
			}
			var st v1alpha1.SriovNodeState
			err := c.Get(ctx, types.NamespacedName{Name: name}, &st)
			if err == nil {
				delete(pending, name)
			} else if !apierrors.IsNotFound(err) {
				problems = append(problems, fmt.Sprintf("reading the SriovNodeState of %s: %v", name, err))
				delete(pending, name)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name := range pending {
		problems = append(problems, fmt.Sprintf("the agent of %s has published no SriovNodeState after a minute; see %s", name, pending[name].log))
	}
	if len(problems) > 0 {
		return "Agents: " + strings.Join(problems, "\n")
	}
	return fmt.Sprintf("%d agents run (sriovctl agent --kubernetes), one per node, each on its own lab host; each published its SriovNodeState.", len(agents))
}

// agentCommands are the per-node commands to try: the node's lab host and its agent's status page.
func agentCommands(agents []*agentProc) string {
	if len(agents) == 0 {
		return ""
	}
	a := agents[0]
	var b strings.Builder
	b.WriteString("  # each node's host is a lab; its agent's log and status page:\n")
	for _, a := range agents {
		fmt.Fprintf(&b, "  #   %s: --lab %s, %s, http://%s/\n", a.node, a.lab, a.log, a.metrics)
	}
	fmt.Fprintf(&b, "  sriovctl --lab %s show                      # the host %s's agent manages\n", a.lab, a.node)
	fmt.Fprintf(&b, "  sriovctl --lab %s vf set ens2f0 0 --vlan 7   # once applied: drift, which the agent repairs\n", a.lab)
	fmt.Fprintf(&b, "  sriovctl --lab %s lab fault --fail-at 1      # its next apply fails: Degraded, rolled back\n", agents[len(agents)-1].lab)
	return b.String()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// stopAgents sends each agent SIGTERM (an apply in flight rolls back) and waits for it, killing one that
// has not stopped after 15 seconds.
func stopAgents(agents []*agentProc) {
	for _, a := range agents {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, a := range agents {
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			fmt.Fprintf(os.Stderr, "fleet: the agent of %s did not stop after SIGTERM; killing it (pid %d)\n", a.node, a.cmd.Process.Pid)
			_ = a.cmd.Process.Kill()
			<-a.done
		}
	}
}
