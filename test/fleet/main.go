// Command fleet starts a local Kubernetes control plane (kube-apiserver and etcd on 127.0.0.1, built and
// cached by test/k8s/build.sh) with sriovctl's CRDs and manifests applied and a few Node objects, writes a
// kubeconfig and prints kubectl commands to try the fleet API by hand. It runs until Ctrl-C.
//
//	go run ./test/fleet [-nodes 3] [-dir DIR]
//
// There is no kubelet: the DaemonSet is stored but starts no pods. The nodes are API objects only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sriovctl/sriovctl/test/k8s"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	nodes := flag.Int("nodes", 3, "Node objects to register (node-1 ... node-N)")
	dir := flag.String("dir", "", "where to write the kubeconfig (default: a new temporary folder)")
	flag.Parse()
	if *nodes < 0 || *nodes > 500 {
		fmt.Fprintf(os.Stderr, "fleet: -nodes: invalid value %d: allowed 0-500\n", *nodes)
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
	for i := 1; i <= *nodes; i++ {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i),
			Labels: map[string]string{"kubernetes.io/hostname": fmt.Sprintf("node-%d", i), "sriovctl.io/nic": "x710"}}}
		if err := c.Create(ctx, n); err != nil {
			return err
		}
	}
	kubeconfig := filepath.Join(*dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		return err
	}

	example := filepath.Join(k8s.DeployDir(), "examples", "sriovhostpolicy.yaml")
	fmt.Printf(`A Kubernetes control plane is running at %s with sriovctl's CRDs, RBAC, admission policy and
DaemonSet applied and %d Node objects labelled sriovctl.io/nic=x710 (no kubelet: no pods run).

  export KUBECONFIG=%s
  kubectl get nodes --show-labels
  kubectl apply -f %s
  kubectl get sriovhostpolicies            # or: kubectl get shp -o wide
  kubectl get sriovnodestates -o wide      # one per node once agents run
  kubectl explain sriovhostpolicy.spec.rollout
  kubectl label node node-2 sriovctl.io/nic-     # node-2 leaves the policy's selector
  kubectl patch shp x710-vms --type merge -p '{"spec":{"rollout":{"pause":true}}}'
  # refused by the schema, with the field and the allowed range:
  kubectl patch shp x710-vms --type json -p '[{"op":"replace","path":"/spec/policy/pfs/0/vfs/0/vlan","value":5000}]'

No kubectl? test/k8s/build.sh --kubectl builds one from the Go module proxy into %s.
Ctrl-C stops the control plane (its data goes with it).
`, cfg.Host, *nodes, kubeconfig, example, assets)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "fleet: stopping the control plane")
	return nil
}
