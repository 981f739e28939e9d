package kubecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/fleet"
)

// DefaultNamespace is where the agents run (deploy/kubernetes) and keep their rollout slot Leases.
const DefaultNamespace = "sriovctl-system"

func init() { cli.Kube.Fleet = newFleetCmd }

func newFleetCmd(a *cli.App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "See the fleet's SR-IOV rollouts on Kubernetes",
		Long: `The fleet commands read the sriovctl.io objects of a Kubernetes cluster (SriovHostPolicy, SriovNodeState)
and the agents' rollout slots. They change nothing. See docs/kubernetes.md.`,
	}
	cmd.AddCommand(newFleetStatusCmd(a))
	return cmd
}

// kubeFlags locate the cluster as kubectl does.
type kubeFlags struct {
	kubeconfig, context, namespace string
	timeout                        time.Duration
}

func newFleetStatusCmd(a *cli.App) *cobra.Command {
	var f kubeFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One line per node (policies, plan, phase, drift, last error) and each policy's rollout",
		Long: `fleet status reads every SriovHostPolicy, Node, SriovNodeState and the rollout slot Leases in the agents'
namespace and prints one line per node (the policies that select it, its plan summary, its agent's phase,
drift, how long ago its agent last reported, its last error or why it waits) and the rollout of each policy
(nodes matched, converged, applying, waiting and failed, maxUnavailable, the slots held and by which node,
paused and why). The rollout counts are computed from the node states with the agents' own rules.

The cluster is found as kubectl finds it: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the
in-cluster ServiceAccount. --json prints {"nodes": [...], "policies": [...]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.timeout <= 0 {
				return cli.Usagef("--request-timeout", "invalid value %s: allowed more than 0s", f.timeout)
			}
			c, host, err := f.client()
			if err != nil {
				return err
			}
			snap, err := readSnapshot(cmd.Context(), c, f.namespace)
			if err != nil {
				return apiError(err, host)
			}
			status := fleet.View(snap)
			if a.JSON {
				return a.PrintJSON(status)
			}
			return status.WriteText(a.Stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "the kubeconfig `FILE` (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	fl.StringVar(&f.context, "context", "", "the kubeconfig context `NAME` to use (default: its current context)")
	fl.StringVarP(&f.namespace, "namespace", "n", DefaultNamespace, "the agents' namespace `NS`, where their rollout slot Leases are")
	fl.DurationVar(&f.timeout, "request-timeout", 10*time.Second, "give up on an API request after this `DURATION`")
	fl.BoolVar(&a.JSON, "json", false, "print JSON instead of text") // --json is each printing command's own flag
	return cmd
}

// client builds a client for the cluster the flags name; it returns the API server's address for errors.
func (f kubeFlags) client() (client.Client, string, error) {
	quietLogs()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.context})
	if f.context != "" {
		// client-go's "context does not exist" has no error kind of its own: look first.
		if raw, err := loader.RawConfig(); err == nil {
			if _, ok := raw.Contexts[f.context]; !ok {
				return nil, "", cli.Usagef("--context", "invalid value %q: allowed the kubeconfig's contexts %v", f.context, slices.Sorted(maps.Keys(raw.Contexts)))
			}
		}
	}
	cfg, err := loader.ClientConfig()
	switch {
	case err == nil:
	case f.kubeconfig != "" && errors.Is(err, os.ErrNotExist):
		return nil, "", cli.Usagef("--kubeconfig", "invalid value %q: no such file", f.kubeconfig)
	case clientcmd.IsContextNotFound(err):
		return nil, "", cli.Usagef("--context", "%v", err)
	case clientcmd.IsEmptyConfig(err):
		return nil, "", cli.Usagef("--kubeconfig", "no Kubernetes configuration found: give --kubeconfig FILE, set KUBECONFIG, or write ~/.kube/config (in a pod, the ServiceAccount's is used)")
	default:
		return nil, "", &cli.OpError{What: "kubeconfig", Err: err}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = f.timeout
	cfg.UserAgent = "sriovctl-fleet-status"
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return nil, "", &cli.OpError{What: "kubernetes client", Err: err}
	}
	return c, cfg.Host, nil
}

// quietLogs keeps client-go's and controller-runtime's own logging off stderr: the command reports its
// errors as one line.
func quietLogs() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	ctrllog.SetLogger(logr.Discard())
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, coordinationv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // static registrations: a failure is a programming error
		}
	}
	return s
}

// readSnapshot lists what fleet.View needs. The policies come first, so a cluster without the CRDs says so
// before anything else.
func readSnapshot(ctx context.Context, c client.Client, namespace string) (fleet.Snapshot, error) {
	var (
		policies v1alpha1.SriovHostPolicyList
		states   v1alpha1.SriovNodeStateList
		nodes    corev1.NodeList
		leases   coordinationv1.LeaseList
	)
	if err := c.List(ctx, &policies); err != nil {
		return fleet.Snapshot{}, err
	}
	if err := c.List(ctx, &states); err != nil {
		return fleet.Snapshot{}, err
	}
	if err := c.List(ctx, &nodes); err != nil {
		return fleet.Snapshot{}, err
	}
	if err := c.List(ctx, &leases, client.InNamespace(namespace)); err != nil {
		return fleet.Snapshot{}, err
	}
	return fleet.Snapshot{Policies: policies.Items, States: states.Items, Nodes: nodes.Items, Leases: leases.Items, Now: time.Now()}, nil
}

// apiError turns a failed request into one line that says what to do.
func apiError(err error, host string) error {
	var ue *url.Error
	switch {
	case meta.IsNoMatchError(err):
		return &cli.OpError{What: "fleet status", Err: fmt.Errorf("the sriovctl.io CRDs are not installed in the cluster at %s: apply them with `kubectl apply -f deploy/kubernetes/crd` (or install everything with `kubectl apply -k deploy/kubernetes`)", host)}
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return &cli.OpError{What: "fleet status", Err: fmt.Errorf("the API server at %s refused: %w (fleet status needs list on sriovhostpolicies, sriovnodestates, nodes and leases)", host, err)}
	case errors.As(err, &ue):
		return &cli.OpError{What: "fleet status", Err: fmt.Errorf("cannot reach the Kubernetes API server at %s: %w", host, ue.Err)}
	}
	return &cli.OpError{What: "fleet status", Err: err}
}
