// Package nodeagent is the Kubernetes mode of sriovctl's node agent (`sriovctl agent --kubernetes`): the
// agent of internal/agent, with the SriovHostPolicy objects that select its Node as its desired state.
//
// The reconcile loop, its repair rules and the one path that writes the host stay those of package agent;
// this package plugs into its Config:
//   - Source (source.go): the policies selecting the node, validated and merged by package fleet; a PF two
//     policies disagree on is left out, so nothing is applied to it;
//   - Observed (nodestate.go): every observation is published in the node's SriovNodeState (observed host,
//     plan, drift, conditions) before anything is applied;
//   - Admit (admit.go): a disruptive plan takes a rollout slot per policy (slots.go, coordination.k8s.io
//     Leases), respects spec.rollout.pause and the failure budget, and cordons or drains the node
//     (disrupt.go) before it may run;
//   - Engine (engine.go): wraps the host engine to record the outcome (Degraded on a failed apply, the
//     applied generations on success), then uncordons and releases the slots.
//
// Policy status counts (policystatus.go) are written by the agents of the nodes a policy matches, with
// optimistic concurrency, from fleet.PolicyStatus over their caches.
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/agent"
)

// DefaultNamespace is where the agents keep their rollout slots when neither --namespace nor the pod's
// own namespace says otherwise (deploy/kubernetes installs them there).
const DefaultNamespace = "sriovctl-system"

// Config configures a node agent's Kubernetes side.
type Config struct {
	// RestConfig reaches the API server (in-cluster or from a kubeconfig).
	RestConfig *rest.Config
	// NodeName is this agent's Node, and the name of its SriovNodeState.
	NodeName string
	// Namespace holds the rollout slot Leases.
	Namespace string
	// LeaseDuration is how long a slot stays held after its holder stopped renewing it (a dead node's
	// slot expires after this); renewed every third of it. Default 30s; at least 1s.
	LeaseDuration time.Duration
	// StatusDelay gathers bursts of changes before policy statuses are recomputed. Default 500ms.
	StatusDelay time.Duration
	// Heartbeat rewrites the node state at least this often even when nothing changed, so observedAt
	// stays recent. Default 5m.
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// NodeAgent is the Kubernetes side of one node's agent. Configure it into an agent.Config, then run Run
// beside the agent's loop.
type NodeAgent struct {
	cfg     Config
	log     *slog.Logger
	cluster cluster.Cluster
	c       client.Client // cached reads, direct writes
	live    client.Reader // direct reads, for decisions that must not act on a stale cache
	synced  chan struct{}
	slots   *slots
	kick    func()

	mu          sync.Mutex
	metas       []*desiredMeta // the latest Loads, newest last
	lastDrift   *agent.Drift
	lastMeta    *desiredMeta
	status      nodeStatus
	published   *v1alpha1.SriovNodeState
	publishedAt time.Time
	selected    map[string]bool // policies that selected the node at some point since start
	waiting     bool            // a disruptive plan waits: lease and policy changes are worth a look
	cordoned    bool            // the agent's cordon may be in place (its mark is on the node state)
	statusKick  chan struct{}
	statusFull  bool            // the next recount is for every policy, not only those this node counts for others
	runCtx      context.Context // Run's, for the hooks the agent's loop calls without one
}

// Scheme knows the built-in types the agent reads and writes and sriovctl.io/v1alpha1.
func Scheme() *kruntime.Scheme {
	s := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// New builds the node agent's API client and caches: the policies, the nodes and the node states (to
// select, count and decide rollouts), and the Leases of its namespace only.
func New(cfg Config) (*NodeAgent, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("no node name: pass --node-name or set NODE_NAME (the downward API's spec.nodeName)")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 30 * time.Second
	}
	cfg.LeaseDuration = max(cfg.LeaseDuration.Round(time.Second), time.Second)
	if cfg.StatusDelay <= 0 {
		cfg.StatusDelay = 500 * time.Millisecond
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	quietControllerRuntime.Do(func() { crlog.SetLogger(logr.Discard()) })
	cl, err := cluster.New(cfg.RestConfig, func(o *cluster.Options) {
		o.Scheme = Scheme()
		o.Cache = cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}},
			// Other nodes' states count for rollouts; their observed hosts and plans do not.
			&v1alpha1.SriovNodeState{}: {Transform: stripNodeState},
		}}
		// Pods are read live, for one node only, when draining: never cache every pod of the cluster.
		o.Client = client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Pod{}}}}
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	n := &NodeAgent{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeName), cluster: cl, c: cl.GetClient(), live: cl.GetAPIReader(),
		synced: make(chan struct{}), selected: map[string]bool{}, statusKick: make(chan struct{}, 1), kick: func() {}}
	n.slots = &slots{c: n.c, live: n.live, ns: cfg.Namespace, holder: cfg.NodeName, duration: cfg.LeaseDuration, held: map[string]string{}, log: n.log}
	return n, nil
}

// quietControllerRuntime: controller-runtime complains on stderr unless its global logger is set; the
// agent logs what matters itself.
var quietControllerRuntime sync.Once

// stripNodeState keeps what rollouts count of a node state: its phase, conditions and applied generations.
func stripNodeState(obj any) (any, error) {
	if s, ok := obj.(*v1alpha1.SriovNodeState); ok {
		s.Status.Observed, s.Status.Plan, s.Status.Drift = nil, nil, nil
		s.ManagedFields = nil
	}
	return obj, nil
}

// Configure makes cfg's agent take its desired state from the cluster: Source, Admit and Observed are
// this agent's, the Engine is wrapped to record outcomes and release slots. Disruptive repairs are decided
// by Admit alone.
func (n *NodeAgent) Configure(cfg *agent.Config) {
	cfg.Source = n
	cfg.Admit = n.admit
	cfg.Observed = n.observed
	cfg.Engine = &engine{inner: cfg.Engine, n: n}
	cfg.AllowDisruptive = false
	n.status.reportOnly = cfg.Mode == agent.RepairReport
}

// Run starts the caches and, once they are filled, the node state, slot renewals and policy statuses,
// and tells ag (may be nil) when something it should look at changed. It returns when ctx ends. It
// never releases a slot on the way out: a killed agent cannot either, so a restarted one finds its slot
// by holder identity, and a dead node's slot expires.
func (n *NodeAgent) Run(ctx context.Context, ag *agent.Agent) error {
	n.runCtx = ctx
	if ag != nil {
		n.kick = ag.Kick
	}
	errc := make(chan error, 1)
	go func() { errc <- n.cluster.Start(ctx) }()
	if !n.cluster.GetCache().WaitForCacheSync(ctx) {
		select {
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("kubernetes caches: %w", err)
			}
		default:
		}
		return ctx.Err()
	}
	if err := n.watch(ctx); err != nil {
		return err
	}
	if err := n.ensureNodeState(ctx); err != nil {
		return err
	}
	if err := n.slots.adopt(ctx); err != nil {
		return fmt.Errorf("finding this node's rollout slots: %w", err)
	}
	close(n.synced)
	n.kick()
	var wg sync.WaitGroup
	wg.Go(func() { n.slots.renewLoop(ctx) })
	wg.Go(func() { n.policyStatusLoop(ctx) })
	defer wg.Wait()
	select {
	case err := <-errc:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("kubernetes caches: %w", err)
		}
		return nil
	case <-ctx.Done():
		return nil
	}
}

// watch kicks the agent's loop when what decides this node's desired state or rollout changed, and the
// policy status writer when anything it counts changed.
func (n *NodeAgent) watch(ctx context.Context) error {
	// loop says whether an event is worth an observation; status whether it changes policy statuses.
	handler := func(loop func(obj any) bool, status func(obj any)) toolscache.ResourceEventHandler {
		f := func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if loop != nil && loop(obj) {
				n.kick()
			}
			if status != nil {
				status(obj)
			}
		}
		return toolscache.ResourceEventHandlerFuncs{AddFunc: func(o any) { f(o) }, UpdateFunc: func(_, o any) { f(o) }, DeleteFunc: f}
	}
	always := func(any) bool { return true }
	recount := func(any) { n.kickStatus() }
	isMine := func(obj any) bool {
		o, ok := obj.(client.Object)
		return ok && o.GetName() == n.cfg.NodeName
	}
	whileWaiting := func(any) bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.waiting
	}
	for _, h := range []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&v1alpha1.SriovHostPolicy{}, handler(always, recount)},
		{&corev1.Node{}, handler(isMine, recount)},
		{&v1alpha1.SriovNodeState{}, handler(whileWaiting, recount)},
		{&coordinationv1.Lease{}, handler(whileWaiting, nil)},
	} {
		inf, err := n.cluster.GetCache().GetInformer(ctx, h.obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(h.handler); err != nil {
			return err
		}
	}
	return nil
}

// waitSynced blocks until Run filled the caches.
func (n *NodeAgent) waitSynced(ctx context.Context) error {
	select {
	case <-n.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ctx is Run's context once Run started.
func (n *NodeAgent) ctx() context.Context {
	select {
	case <-n.synced:
		return n.runCtx
	default:
		return context.Background()
	}
}
