package kubecli

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/fleet/nodeagent"
)

func init() { cli.Kube.RunAgent = runAgent }

// saNamespaceFile is where a pod finds its own namespace.
const saNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// runAgent is `agent --kubernetes`: the agent with the SriovHostPolicies selecting its node as desired
// state (package nodeagent).
func runAgent(cmd *cobra.Command, a *cli.App) error {
	k := cli.KubeAgentFlagsOf(cmd)
	node := k.NodeName
	if node == "" {
		node = os.Getenv("NODE_NAME")
	}
	if node == "" {
		return cli.Usagef("--node-name", "missing: pass the Node's name or set NODE_NAME (the downward API's spec.nodeName)")
	}
	ns := k.Namespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		if b, err := os.ReadFile(saNamespaceFile); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	var cfg *rest.Config
	var err error
	if k.Kubeconfig != "" {
		if _, serr := os.Stat(k.Kubeconfig); errors.Is(serr, os.ErrNotExist) {
			return cli.Usagef("--kubeconfig", "invalid value %q: no such file", k.Kubeconfig)
		}
		cfg, err = clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return cli.Usagef("--kubeconfig", "not running in a pod (no in-cluster configuration): give --kubeconfig FILE")
		}
	}
	if err != nil {
		return &cli.OpError{What: "agent --kubernetes", Err: err}
	}
	cfg.UserAgent = "sriovctl-agent/" + node
	return a.RunAgentWith(cmd, func(ctx context.Context, ac *agent.Config) (func(context.Context, *agent.Agent) error, error) {
		na, err := nodeagent.New(nodeagent.Config{RestConfig: cfg, NodeName: node, Namespace: ns, Logger: ac.Logger})
		if err != nil {
			return nil, err
		}
		na.Configure(ac)
		return na.Run, nil
	})
}
