package nodeagent_test

// The test fleet: a real kube-apiserver and etcd (test/k8s), the deployment's CRDs, RBAC and admission
// policy applied, and one agent per simulated node, each on its own lab host, acting as the agents'
// ServiceAccount with a token bound to its node (so RBAC and admission.yaml are exercised too).

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/fleet/nodeagent"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/test/k8s"
)

const agentNS = "sriovctl-system"

// env is one control plane shared by the subtests of TestFleet (starting one costs seconds).
type env struct {
	cp *k8s.ControlPlane
	c  client.WithWatch
}

func startEnv(t testing.TB) *env {
	cp := k8s.Start(t, k8s.Options{WithoutCRDs: true})
	ctx := context.Background()
	if err := k8s.ApplyKustomization(ctx, cp.Client, k8s.DeployDir()); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(cp.Config, client.Options{Scheme: nodeagent.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{cp: cp, c: c}
}

// node is a simulated node: a Node object, a lab host and (while running) its agent.
type node struct {
	name   string
	lab    *lab.Lab
	labDir string
	stop   context.CancelFunc
	done   chan struct{}
	agent  *agent.Agent
}

// options tune a fleet's agents for a test.
type options struct {
	leaseDuration time.Duration
	backoff       time.Duration // first retry after a failed apply
	nics          []lab.NIC
	resync        time.Duration // default 500ms
	statusDelay   time.Duration // default 100ms
	// wrap, when set, wraps every agent's HTTP transport (to count its requests).
	wrap func(http.RoundTripper) http.RoundTripper
}

// fleet is the nodes of one subtest, labelled fleet=<name> so that its policies select only them.
type fleet struct {
	t     testing.TB
	e     *env
	name  string
	opts  options
	nodes []*node
}

func (e *env) fleet(t testing.TB, name string, n int, opts options) *fleet {
	t.Helper()
	if opts.leaseDuration == 0 {
		opts.leaseDuration = 3 * time.Second
	}
	if opts.backoff == 0 {
		opts.backoff = 200 * time.Millisecond
	}
	if opts.resync == 0 {
		opts.resync = 500 * time.Millisecond
	}
	if opts.statusDelay == 0 {
		opts.statusDelay = 100 * time.Millisecond
	}
	if opts.nics == nil {
		opts.nics = []lab.NIC{{Name: "ens1f0", Profile: "ice", TotalVFs: 8}}
	}
	f := &fleet{t: t, e: e, name: name, opts: opts}
	for i := range n {
		nd := f.addNode(fmt.Sprintf("%s-%d", name, i), map[string]string{"fleet": name})
		f.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range f.nodes {
			f.kill(nd)
		}
	})
	return f
}

// addNode creates a Node object and its lab host.
func (f *fleet) addNode(name string, labels map[string]string) *node {
	f.t.Helper()
	if err := f.e.c.Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		f.t.Fatal(err)
	}
	dir := filepath.Join(f.t.TempDir(), name)
	l, err := lab.Init(dir, f.opts.nics)
	if err != nil {
		f.t.Fatal(err)
	}
	nd := &node{name: name, lab: l, labDir: dir}
	f.nodes = append(f.nodes, nd)
	return nd
}

// start runs the node's agent as the agents' ServiceAccount with a token bound to the node.
func (f *fleet) start(nd *node) {
	f.t.Helper()
	cfg := rest.CopyConfig(f.e.cp.Config)
	user, groups := k8s.ServiceAccount(agentNS, "sriovctl-agent")
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups, Extra: map[string][]string{k8s.NodeNameExtra: {nd.name}}}
	cfg.QPS, cfg.Burst = 200, 400
	cfg.WrapTransport = f.opts.wrap
	na, err := nodeagent.New(nodeagent.Config{RestConfig: cfg, NodeName: nd.name, Namespace: agentNS,
		LeaseDuration: f.opts.leaseDuration, StatusDelay: f.opts.statusDelay, Logger: testLogger(f.t)})
	if err != nil {
		f.t.Fatal(err)
	}
	ac := agent.Config{
		Engine: &agent.LocalEngine{Host: nd.lab, StateDir: filepath.Join(nd.labDir, "state")},
		Mode:   agent.RepairAuto, Resync: f.opts.resync, Quiet: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
		BackoffBase: f.opts.backoff, BackoffMax: f.opts.backoff * 4,
		Logger:   testLogger(f.t).With("node", nd.name),
		Watchers: []agent.Watcher{agent.GenerationPoller{Generation: nd.lab.Generation, Interval: 100 * time.Millisecond}},
	}
	na.Configure(&ac)
	ag := agent.New(ac)
	nd.agent = ag
	ctx, cancel := context.WithCancel(context.Background())
	nd.stop, nd.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { ag.Run(ctx) })
	wg.Go(func() {
		if err := na.Run(ctx, ag); err != nil {
			f.t.Errorf("agent of %s: %v", nd.name, err)
		}
	})
	go func() { wg.Wait(); close(nd.done) }()
}

// kill stops the node's agent the way a crash would: nothing is released on the way out.
func (f *fleet) kill(nd *node) {
	if nd.stop == nil {
		return
	}
	nd.stop()
	<-nd.done
	nd.stop = nil
}

// policy creates or replaces a SriovHostPolicy selecting the fleet's nodes, from the YAML of its spec
// (nodeSelector added unless given); it returns the new generation.
func (f *fleet) policy(name, spec string) int64 {
	f.t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		f.t.Fatalf("test spec: %v", err)
	}
	if _, ok := s["nodeSelector"]; !ok {
		s["nodeSelector"] = map[string]any{"matchLabels": map[string]any{"fleet": f.name}}
	}
	ctx := context.Background()
	var gen int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(v1alpha1.GroupVersion.String())
		u.SetKind("SriovHostPolicy")
		err := f.e.c.Get(ctx, types.NamespacedName{Name: name}, u)
		switch {
		case apierrors.IsNotFound(err):
			u.SetName(name)
			u.Object["spec"] = s
			err = f.e.c.Create(ctx, u, client.FieldValidation("Strict"))
		case err == nil:
			u.Object["spec"] = s
			err = f.e.c.Update(ctx, u, client.FieldValidation("Strict"))
		}
		gen = u.GetGeneration()
		return err
	})
	if err != nil {
		f.t.Fatalf("policy %s: %v", name, err)
	}
	return gen
}

func (f *fleet) getPolicy(name string) *v1alpha1.SriovHostPolicy {
	f.t.Helper()
	var p v1alpha1.SriovHostPolicy
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Name: name}, &p); err != nil {
		f.t.Fatal(err)
	}
	return &p
}

func (f *fleet) state(name string) *v1alpha1.SriovNodeState {
	var s v1alpha1.SriovNodeState
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Name: name}, &s); err != nil {
		return &v1alpha1.SriovNodeState{}
	}
	return &s
}

// numVFs is the VF count of a PF on the node's lab host.
func (nd *node) numVFs(t testing.TB, pf string) int {
	t.Helper()
	h, err := nd.lab.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := h.FindPF(pf)
	if p == nil {
		t.Fatalf("%s: no PF %s", nd.name, pf)
	}
	return p.NumVFs
}

// eventually polls cond until it returns "" (done) or the time is up; the failure says what it last saw.
func eventually(t testing.TB, limit time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		last := cond()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %s", what, limit, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// converged waits until every node applied generation gen of policy and reports Converged.
func (f *fleet) converged(policy string, gen int64, limit time.Duration, nodes ...*node) {
	f.t.Helper()
	if nodes == nil {
		nodes = f.nodes
	}
	eventually(f.t, limit, fmt.Sprintf("nodes converge on %s generation %d", policy, gen), func() string {
		for _, nd := range nodes {
			s := f.state(nd.name).Status
			if s.Phase != v1alpha1.PhaseConverged || s.AppliedGenerations[policy] != gen {
				return fmt.Sprintf("%s: phase %q, applied %v, plan %q, error %q", nd.name, s.Phase, s.AppliedGenerations, s.PlanSummary, s.LastError)
			}
		}
		return ""
	})
}

// recorder watches what an operator would watch during a rollout: who holds a slot, which nodes are
// cordoned, every node's phase, each with the time it changed.
type recorder struct {
	mu       sync.Mutex
	holders  map[string]string // lease -> holder
	cordoned map[string]bool
	phases   map[string]v1alpha1.Phase
	// maxima of simultaneous slot holders, cordoned nodes and nodes applying
	maxHolders, maxCordoned, maxApplying int
	everCordoned                         map[string]bool
	takes, releases                      []take
	changes                              []phaseChange
}

type take struct {
	at            time.Time
	lease, holder string
}

type phaseChange struct {
	at    time.Time
	node  string
	phase v1alpha1.Phase
}

// record watches until the test ends; only nodes with the fleet's label and its policies' slots count.
func (f *fleet) record() *recorder {
	f.t.Helper()
	r := &recorder{holders: map[string]string{}, cordoned: map[string]bool{}, phases: map[string]v1alpha1.Phase{}, everCordoned: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	mine := func(name string) bool {
		return slices.ContainsFunc(f.nodes, func(n *node) bool { return n.name == name })
	}
	watchList := func(list client.ObjectList, opts ...client.ListOption) watch.Interface {
		w, err := f.e.c.Watch(ctx, list, opts...)
		if err != nil {
			f.t.Fatal(err)
		}
		return w
	}
	leases := watchList(&coordinationv1.LeaseList{}, client.InNamespace(agentNS))
	nodes := watchList(&corev1.NodeList{})
	states := watchList(&v1alpha1.SriovNodeStateList{})
	go func() {
		defer leases.Stop()
		defer nodes.Stop()
		defer states.Stop()
		for {
			var ev watch.Event
			select {
			case <-ctx.Done():
				return
			case ev = <-leases.ResultChan():
			case ev = <-nodes.ResultChan():
			case ev = <-states.ResultChan():
			}
			now := time.Now()
			r.mu.Lock()
			switch o := ev.Object.(type) {
			case *coordinationv1.Lease:
				h := ""
				if o.Spec.HolderIdentity != nil && ev.Type != watch.Deleted {
					h = *o.Spec.HolderIdentity
				}
				if h != "" && r.holders[o.Name] != h && mine(h) {
					r.takes = append(r.takes, take{now, o.Name, h})
				}
				if prev := r.holders[o.Name]; h == "" && prev != "" {
					r.releases = append(r.releases, take{now, o.Name, prev})
				}
				r.holders[o.Name] = h
				n := 0
				for _, h := range r.holders {
					if h != "" && mine(h) {
						n++
					}
				}
				r.maxHolders = max(r.maxHolders, n)
			case *corev1.Node:
				if mine(o.Name) {
					r.cordoned[o.Name] = o.Spec.Unschedulable && ev.Type != watch.Deleted
					if o.Spec.Unschedulable {
						r.everCordoned[o.Name] = true
					}
					n := 0
					for _, c := range r.cordoned {
						if c {
							n++
						}
					}
					r.maxCordoned = max(r.maxCordoned, n)
				}
			case *v1alpha1.SriovNodeState:
				if mine(o.Name) && r.phases[o.Name] != o.Status.Phase {
					r.phases[o.Name] = o.Status.Phase
					r.changes = append(r.changes, phaseChange{now, o.Name, o.Status.Phase})
					n := 0
					for _, p := range r.phases {
						if p == v1alpha1.PhaseApplying || p == v1alpha1.PhaseDraining {
							n++
						}
					}
					r.maxApplying = max(r.maxApplying, n)
				}
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// reset forgets the maxima (a new phase of a test).
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxHolders, r.maxCordoned, r.maxApplying = 0, 0, 0
	r.everCordoned = map[string]bool{}
	r.takes, r.releases, r.changes = nil, nil, nil
}

func (r *recorder) snapshot() recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recorder{maxHolders: r.maxHolders, maxCordoned: r.maxCordoned, maxApplying: r.maxApplying,
		everCordoned: maps.Clone(r.everCordoned), takes: slices.Clone(r.takes), releases: slices.Clone(r.releases), changes: slices.Clone(r.changes)}
}

// leaseHolders lists the current holders of the slots of a policy.
func (f *fleet) leaseHolders(policy string) []string {
	var list coordinationv1.LeaseList
	if err := f.e.c.List(context.Background(), &list, client.InNamespace(agentNS)); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, l := range list.Items {
		if l.Annotations["sriovctl.io/policy"] == policy && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			out = append(out, *l.Spec.HolderIdentity)
		}
	}
	return out
}

func (f *fleet) unschedulable(name string) bool {
	var n corev1.Node
	if err := f.e.c.Get(context.Background(), types.NamespacedName{Name: name}, &n); err != nil {
		f.t.Fatal(err)
	}
	return n.Spec.Unschedulable
}

// testLogger logs to the test's output when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
