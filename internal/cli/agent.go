package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/api"
	"github.com/sriovctl/sriovctl/internal/agent/client"
	"github.com/sriovctl/sriovctl/internal/agent/statuspage"
	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/metrics"
)

func init() { register("agent", newAgentCmd) }

// DefaultMetricsAddr is the agent's metrics and status page address: port 9860 is not taken by any
// well-known exporter.
const DefaultMetricsAddr = "127.0.0.1:9860"

type agentFlags struct {
	socket, metrics, repair, logFormat string
	disruptive                         bool
	resync, stopGrace, poll            time.Duration
	kube                               KubeAgentFlags
}

// KubeAgentFlags are the agent's Kubernetes-mode flags (`agent --kubernetes`), read by the companion binary.
type KubeAgentFlags struct {
	Kubernetes bool
	// Kubeconfig is a kubeconfig file; "" means the in-cluster configuration.
	Kubeconfig string
	// NodeName is the agent's Node ("" falls back to $NODE_NAME); Namespace holds its rollout slots.
	NodeName, Namespace string
}

// AgentSetup plugs another desired state into the agent (the Kubernetes mode): it may change cfg (Source,
// Admit, Observed, Engine) and returns what runs beside the agent's loop until its context ends.
type AgentSetup func(ctx context.Context, cfg *agent.Config) (run func(ctx context.Context, ag *agent.Agent) error, err error)

func newAgentCmd(a *App) *cobra.Command {
	var f agentFlags
	c := &cobra.Command{
		Use:   "agent [--socket PATH] [--metrics ADDR] [--repair auto|report] [--repair-disruptive] [--resync DURATION] [--kubernetes [--kubeconfig FILE] [--node-name NAME] [--namespace NS]]",
		Short: "Run the node daemon: keep the host at its desired state, serve a local API, metrics and a status page",
		Long: `Run in the foreground until SIGTERM. The agent observes the host at start, when it changes (rtnetlink
link notifications; on a lab, its generation number) and every --resync, and compares it with the desired state:
the policy stored by ` + "`sriovctl apply`" + `, each assigned VF's owner settings from the ledger, and the
mirror groups. With --repair auto it repairs non-disruptive drift at once through the same planner, lock,
journal and rollback as apply; disruptive drift (a VF count change through 0) only with
--repair-disruptive. --repair report never writes. A refused repair is retried with capped exponential
backoff. The local API listens on the unix socket (GET /v1/host, /v1/status, /v1/assignments, /v1/mirrors,
/v1/events?since=N, POST /v1/repair); Prometheus metrics (/metrics) and a status page (/) on --metrics.
Tells systemd when it is ready (Type=notify).

With --kubernetes (fleet mode, run by the companion binary ` + KubeBinary + `) the desired state is the
SriovHostPolicies selecting this node: the agent publishes its plan in the node's SriovNodeState before
applying it, applies non-disruptive plans at once, and takes a rollout slot (a Lease), cordons or drains
before a disruptive one, as each policy's spec.rollout says.`,
		Example: `  sriovctl agent
  sriovctl --lab /tmp/lab agent --socket /tmp/lab/agent.sock --metrics 127.0.0.1:9860 --repair report
  sriovctl agent --kubernetes --node-name "$NODE_NAME" --metrics "$HOST_IP:9860" --log-format json`,
		Args: exactArgs(0, "none"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.kube.Kubernetes {
				if err := f.validate(); err != nil {
					return err
				}
				if Kube.RunAgent != nil {
					return Kube.RunAgent(cmd, a)
				}
				return a.execKube()
			}
			return a.runAgent(cmd.Context(), f, nil)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.socket, "socket", "", "the local API's unix `PATH` (directory 0700, socket 0600; default "+api.DefaultSocket+", with --lab DIR/agent.sock)")
	fl.StringVar(&f.metrics, "metrics", DefaultMetricsAddr, "`ADDR` for /metrics and the status page (read-only); \"\" turns them off")
	fl.StringVar(&f.repair, "repair", agent.RepairAuto, "what to do with drift, `auto|report`: auto repairs non-disruptive drift at once, report never writes the host")
	fl.BoolVar(&f.disruptive, "repair-disruptive", false, "also repair drift that destroys VFs (a PF at another non-zero VF count)")
	fl.DurationVar(&f.resync, "resync", 30*time.Second, "observe at least every `DURATION`, whatever the notifications say (0: only on notifications)")
	fl.StringVar(&f.logFormat, "log-format", "text", "log as `text|json` (log/slog on stderr)")
	fl.DurationVar(&f.stopGrace, "stop-grace", 5*time.Second, "on SIGTERM, the `DURATION` a repair in flight may take to finish or roll back before the agent exits and leaves its journal to the next start")
	fl.DurationVar(&f.poll, "lab-poll", 200*time.Millisecond, "with --lab: check the lab's generation for changes every `DURATION`")
	fl.BoolVar(&f.kube.Kubernetes, "kubernetes", false, "take the desired state from the SriovHostPolicies selecting this node and publish its SriovNodeState (fleet mode, runs "+KubeBinary+")")
	fl.StringVar(&f.kube.Kubeconfig, "kubeconfig", "", "with --kubernetes: kubeconfig `FILE` (default: the in-cluster configuration)")
	fl.StringVar(&f.kube.NodeName, "node-name", "", "with --kubernetes: this host's Node `NAME` (default $NODE_NAME, from the downward API)")
	fl.StringVar(&f.kube.Namespace, "namespace", "", "with --kubernetes: `NS`, the namespace of the rollout slot Leases (default the pod's own, else sriovctl-system)")
	fl.MarkHidden("stop-grace")
	fl.MarkHidden("lab-poll")
	return c
}

func (f agentFlags) validate() error {
	switch f.repair {
	case agent.RepairAuto, agent.RepairReport:
	default:
		return Usagef("--repair", "invalid value %q: allowed auto or report", f.repair)
	}
	switch f.logFormat {
	case "text", "json":
	default:
		return Usagef("--log-format", "invalid value %q: allowed text or json", f.logFormat)
	}
	if f.resync != 0 && f.resync < 100*time.Millisecond {
		return Usagef("--resync", "invalid value %q: allowed 0 (off) or at least 100ms", f.resync.String())
	}
	if f.disruptive && f.repair == agent.RepairReport {
		return Usagef("--repair-disruptive", "needs --repair auto (report mode never writes)")
	}
	if f.metrics != "" {
		if _, _, err := net.SplitHostPort(f.metrics); err != nil {
			return Usagef("--metrics", "invalid value %q: want HOST:PORT, e.g. 127.0.0.1:9860", f.metrics)
		}
	}
	if !f.kube.Kubernetes {
		for name, v := range map[string]string{"--kubeconfig": f.kube.Kubeconfig, "--node-name": f.kube.NodeName, "--namespace": f.kube.Namespace} {
			if v != "" {
				return Usagef(name, "needs --kubernetes")
			}
		}
	}
	if f.kube.Kubernetes && f.disruptive {
		return Usagef("--repair-disruptive", "not with --kubernetes: disruptive changes follow each policy's spec.rollout")
	}
	return nil
}

// agentFlagsOf reads the agent command's flags back (for the companion binary, which gets the command).
func agentFlagsOf(cmd *cobra.Command) agentFlags {
	fl := cmd.Flags()
	var f agentFlags
	f.socket, _ = fl.GetString("socket")
	f.metrics, _ = fl.GetString("metrics")
	f.repair, _ = fl.GetString("repair")
	f.logFormat, _ = fl.GetString("log-format")
	f.disruptive, _ = fl.GetBool("repair-disruptive")
	f.resync, _ = fl.GetDuration("resync")
	f.stopGrace, _ = fl.GetDuration("stop-grace")
	f.poll, _ = fl.GetDuration("lab-poll")
	f.kube = KubeAgentFlagsOf(cmd)
	return f
}

// KubeAgentFlagsOf reads the Kubernetes-mode flags of the agent command.
func KubeAgentFlagsOf(cmd *cobra.Command) KubeAgentFlags {
	fl := cmd.Flags()
	var k KubeAgentFlags
	k.Kubernetes, _ = fl.GetBool("kubernetes")
	k.Kubeconfig, _ = fl.GetString("kubeconfig")
	k.NodeName, _ = fl.GetString("node-name")
	k.Namespace, _ = fl.GetString("namespace")
	return k
}

// RunAgentWith runs the agent command (cmd) as usual (local API, metrics, status page, host watchers,
// stopping), with the desired state that setup plugs in.
func (a *App) RunAgentWith(cmd *cobra.Command, setup AgentSetup) error {
	return a.runAgent(cmd.Context(), agentFlagsOf(cmd), setup)
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// AgentSocket is where the agent of the selected backend listens by default: DIR/agent.sock on a lab,
// else api.DefaultSocket.
func (a *App) AgentSocket() string {
	if a.LabDir != "" {
		return filepath.Join(a.LabDir, "agent.sock")
	}
	return api.DefaultSocket
}

func (a *App) runAgent(ctx context.Context, f agentFlags, setup AgentSetup) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.socket == "" {
		f.socket = a.AgentSocket()
	}
	h, err := a.Host()
	if err != nil {
		return err
	}
	log := newLogger(a.Stderr, f.logFormat)
	a.logsSignals.Store(true)
	dir := a.StateDir()
	var watchers []agent.Watcher
	if l, ok := h.(*lab.Lab); ok {
		// Every change of the lab's host bumps its generation (traffic does not).
		watchers = append(watchers, agent.GenerationPoller{Generation: l.Generation, Interval: f.poll})
	} else {
		watchers = append(watchers, agent.LinkWatcher{})
	}
	// A new desired state is worth a look even when its apply wrote nothing. (Not the ledger: opening it
	// writes its file, and assign and release write the host anyway.)
	if setup == nil {
		for _, name := range []string{apply.DesiredFile} {
			watchers = append(watchers, agent.FilePoller{Path: filepath.Join(dir, name), Interval: time.Second})
		}
	}
	m := metrics.New(nil)
	cfg := agent.Config{
		Engine: &agent.LocalEngine{Host: h, StateDir: dir}, Source: agent.StoredSource{StateDir: dir},
		Mode: f.repair, AllowDisruptive: f.disruptive, Resync: f.resync, Watchers: watchers, Logger: log, Metrics: m,
	}
	if sr, ok := h.(host.StatsReader); ok {
		cfg.Stats = sr
	}
	var beside func(ctx context.Context, ag *agent.Agent) error
	if setup != nil {
		if beside, err = setup(ctx, &cfg); err != nil {
			return &OpError{What: "agent", Err: err}
		}
	}
	ag := agent.New(cfg)
	m.SetView(ag)

	ln, err := api.Listen(f.socket)
	if err != nil {
		return &OpError{What: "agent", Err: err}
	}
	defer ln.Close()
	var mln net.Listener
	if f.metrics != "" {
		if mln, err = net.Listen("tcp", f.metrics); err != nil {
			return &OpError{What: "agent: --metrics", Err: err}
		}
		defer mln.Close()
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	served := make(chan struct{}, 2)
	go func() { api.Serve(runCtx, ln, api.Handler(ag)); served <- struct{}{} }()
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
		mux.Handle("/", statuspage.Handler(ag))
		go func() { api.Serve(runCtx, mln, mux); served <- struct{}{} }()
	}
	done := make(chan error, 2)
	agentCtx, cancelAgent := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAgent()
	go func() { done <- ag.Run(agentCtx) }()
	if beside != nil {
		go func() {
			if err := beside(agentCtx, ag); err != nil {
				done <- err
				cancelAgent()
			}
		}()
	}
	log.Info("agent ready", "socket", f.socket, "metrics", f.metrics, "stateDir", dir, "repair", f.repair, "disruptive", f.disruptive)
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	}
	var runErr error
	select {
	case <-ctx.Done():
		daemon.SdNotify(false, daemon.SdNotifyStopping)
		log.Info("stopping (signal)")
		cancelAgent()
		select {
		case runErr = <-done:
		case <-time.After(f.stopGrace):
			// Like a crash, which the journal is for: the next start (or any apply, restore, recover)
			// finishes or undoes the repair in flight before anything else.
			if p, _ := apply.LoadJournal(dir); p != nil {
				log.Warn("exiting with a repair in flight; its journal stays for the next start to recover", "journal", filepath.Join(dir, apply.JournalFile))
			} else {
				log.Warn("exiting with a repair in flight")
			}
		}
	case runErr = <-done:
	}
	stop()
	ln.Close()
	if mln != nil {
		mln.Close()
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return &OpError{What: "agent", Err: runErr}
	}
	log.Info("agent stopped")
	return nil
}

// agentView is what `status` shows of the agent on socket: whether one runs, and its view.
type agentView struct {
	Socket  string
	Running bool
	Error   string
	Status  *api.Status
}

// json is the view as `status --json` prints it.
func (v agentView) json() jsonout.AgentView {
	out := jsonout.AgentView{Socket: v.Socket, Running: v.Running, Error: v.Error}
	if v.Status != nil {
		out.Status, _ = json.Marshal(v.Status) // plain data: it came from JSON
	}
	return out
}

// queryAgent asks the agent on socket for its status, briefly: `status` must not hang on a stuck agent.
func queryAgent(ctx context.Context, socket string) agentView {
	v := agentView{Socket: socket}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := client.New(socket).Status(ctx)
	switch {
	case errors.Is(err, client.ErrNotRunning):
	case err != nil:
		v.Running, v.Error = true, err.Error()
	default:
		v.Running, v.Status = true, st
	}
	return v
}

// printAgentView prints the agent's view for `status`: up or not, last repair, pending drift.
func (a *App) printAgentView(v agentView) {
	switch {
	case !v.Running:
		a.Printf("agent: not running (no agent on %s)\n", v.Socket)
		return
	case v.Status == nil:
		a.Printf("agent: on %s, not answering: %s\n", v.Socket, v.Error)
		return
	}
	s := v.Status.Agent
	mode := s.Mode
	if s.AllowDisruptive {
		mode += " (disruptive too)"
	}
	a.Printf("agent: running on %s since %s, repair %s; %d observations, %d repairs, %d refused\n",
		v.Socket, s.Started.Local().Format("2006-01-02 15:04:05"), mode, s.Observations, s.Repairs, s.Failures)
	if !s.Observed.IsZero() {
		sync := "in sync"
		if !v.Status.InSync {
			sync = "drift"
			if d, ok := v.Status.Drift["summary"].(string); ok && d != "" {
				sync += ": " + d
			}
		}
		a.Printf("  last observation %s: %s\n", s.Observed.Local().Format("15:04:05"), sync)
	}
	if r := s.LastRepair; r != nil {
		what := "ok"
		switch {
		case r.Error != "":
			what = "failed: " + r.Error
		case r.Repair != nil && r.Repair.Skipped != "":
			what = "skipped: " + r.Repair.Skipped
		case r.Repair != nil:
			what = fmt.Sprintf("%s, %s", r.Repair.Planned, plural(r.Repair.Writes, "write"))
		}
		a.Printf("  last repair %s (%s): %s\n", r.Time.Local().Format("15:04:05"), r.Duration, what)
	}
	if s.Pending != "" {
		a.Printf("  pending drift, not repaired: %s\n", s.Pending)
	}
	if s.Error != "" {
		a.Printf("  last error: %s\n", s.Error)
	}
}
