// Package agent is sriovctl's node daemon: a reconcile loop that keeps a host at its desired state.
//
// The loop observes the host when something may have changed (at start, on a Watcher's signal such as an
// rtnetlink link notification or the lab's generation changing, and every Resync as a backstop). Signals
// only set a flag (Kick), and the loop waits for a quiet moment before observing, so a burst of events
// costs one observation, however many VFs it touched. Each observation plans from the host to the desired
// state (a Source: the stored policy today, a Kubernetes object in fleet mode) through an Engine, the one
// path that writes the host, with the same planner, lock, journal and rollback as `sriovctl apply`.
//
// Repair rules: in RepairAuto mode non-disruptive drift is repaired at once; disruptive drift (a VF count
// change that goes through 0) only with AllowDisruptive; RepairReport never writes. A repair waits for the
// apply lock while a CLI command holds it and then plans again from what that command left. A refused
// repair is retried with capped exponential backoff and reported, never in a tight loop.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/jsonout"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/service"
)

// Repair modes.
const (
	RepairAuto   = "auto"
	RepairReport = "report"
)

// Watcher tells the agent that the host may have changed by calling kick; it runs until ctx ends.
type Watcher interface {
	Watch(ctx context.Context, kick func()) error
}

// RepairObserver receives each repair's outcome (for metrics).
type RepairObserver interface {
	// ObserveRepair is called after every repair attempt; reason is "" on success.
	ObserveRepair(d time.Duration, writes int, reason string)
}

// Config configures an Agent.
type Config struct {
	Engine          Engine
	Source          Source
	Mode            string // RepairAuto or RepairReport
	AllowDisruptive bool
	// Admit, when set, decides each disruptive repair instead of AllowDisruptive: the fleet mode takes a
	// rollout slot (and cordons) here and says no while none is free. Called from the loop, before the
	// repair; the reason is reported when it says no.
	Admit func(ctx context.Context, d *Drift) (ok bool, reason string)
	// Observed, when set, receives every observation (the fleet mode publishes the plan from it).
	Observed func(d *Drift)
	// Resync is the backstop interval between observations; 0 disables it.
	Resync time.Duration
	// Quiet is how long the loop waits for a burst of signals to end; MaxDelay bounds that wait.
	Quiet, MaxDelay time.Duration
	// BackoffBase and BackoffMax space out retries of a refused repair.
	BackoffBase, BackoffMax time.Duration
	Watchers                []Watcher
	Logger                  *slog.Logger
	Events                  int // size of the event log
	Metrics                 RepairObserver
	// Stats, when the backend has it, reads per-VF counters for metrics.
	Stats host.StatsReader
}

// Agent is a running reconcile loop; see the package comment.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	kick    chan struct{}
	manual  chan chan manualResult
	events  *Ring
	backoff Backoff

	observations atomic.Uint64
	repairs      atomic.Uint64
	failures     atomic.Uint64

	mu        sync.RWMutex
	snap      Snapshot
	lastDrift string // signature of the drift last reported, so a drift is reported once
	lastData  string // the desired policy last seen, to tell applies from drift
}

type manualResult struct {
	rep *Repair
	err error
}

// New builds an agent; Run starts it.
func New(cfg Config) *Agent {
	if cfg.Mode == "" {
		cfg.Mode = RepairAuto
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = 100 * time.Millisecond
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events <= 0 {
		cfg.Events = 512
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), manual: make(chan chan manualResult),
		events: NewRing(cfg.Events), backoff: Backoff{Base: cfg.BackoffBase, Max: cfg.BackoffMax}}
	a.snap = Snapshot{Mode: cfg.Mode, AllowDisruptive: cfg.AllowDisruptive, Source: cfg.Source.Name(), Started: time.Now().UTC()}
	return a
}

// Kick tells the loop the host may have changed. It never blocks and costs the same for one event or a
// thousand: pending kicks merge into one.
func (a *Agent) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Events is the agent's event log.
func (a *Agent) Events() *Ring { return a.events }

// Observations counts the host observations made so far.
func (a *Agent) Observations() uint64 { return a.observations.Load() }

// Stats returns the backend's counter reader, nil when it has none.
func (a *Agent) Stats() host.StatsReader { return a.cfg.Stats }

// Run runs the loop until ctx ends. Watchers run alongside; one that fails is logged and the resync
// interval remains.
func (a *Agent) Run(ctx context.Context) error {
	a.event(EventStart, fmt.Sprintf("agent started: repair %s%s, desired state from %s", a.cfg.Mode, map[bool]string{true: " (disruptive too)"}[a.cfg.AllowDisruptive], a.cfg.Source.Name()), nil)
	var wg sync.WaitGroup
	for _, w := range a.cfg.Watchers {
		wg.Go(func() {
			if err := w.Watch(ctx, a.Kick); err != nil && ctx.Err() == nil {
				a.log.Warn("watcher stopped; the resync interval remains", "err", err)
			}
		})
	}
	defer wg.Wait()
	var resync <-chan time.Time
	if a.cfg.Resync > 0 {
		t := time.NewTicker(a.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	retry := time.NewTimer(0)
	<-retry.C
	a.Kick()
	for {
		select {
		case <-ctx.Done():
			a.event(EventStop, "agent stopping", nil)
			return nil
		case <-a.kick:
			if !a.settle(ctx) {
				continue
			}
		case <-resync:
		case <-retry.C:
		case reply := <-a.manual:
			rep, err := a.reconcile(ctx, true)
			reply <- manualResult{rep, err}
			continue
		}
		a.reconcile(ctx, false)
		if a.backoff.Failures() > 0 {
			retry.Reset(time.Until(a.backoff.Next()))
		}
	}
}

// settle waits until no kick came for Quiet (at most MaxDelay): one observation per burst.
func (a *Agent) settle(ctx context.Context) bool {
	deadline := time.Now().Add(a.cfg.MaxDelay)
	t := time.NewTimer(a.cfg.Quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-a.kick:
			if left := time.Until(deadline); left > 0 {
				t.Reset(min(a.cfg.Quiet, left))
			}
		case <-t.C:
			return true
		}
	}
}

// RepairNow observes and repairs at once (POST /v1/repair), by the same rules except the backoff wait.
func (a *Agent) RepairNow(ctx context.Context) (*Repair, error) {
	reply := make(chan manualResult, 1)
	select {
	case a.manual <- reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.rep, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ErrReportMode says a repair was asked of an agent that only reports.
var ErrReportMode = errors.New("the agent runs with --repair report: it never writes the host")

// ErrDisruptive says the drift needs a disruptive repair the agent is not allowed to make.
var ErrDisruptive = errors.New("the drift needs a disruptive repair (VF count change through 0); run the agent with --repair-disruptive or `sriovctl restore --yes`")

// reconcile is one observation and, when the rules allow, one repair.
func (a *Agent) reconcile(ctx context.Context, manual bool) (*Repair, error) {
	a.observations.Add(1)
	d, err := a.observe(ctx)
	if err != nil {
		a.event(EventError, err.Error(), nil)
		a.setError(err)
		return nil, err
	}
	if d.InSync() {
		a.backoff.Reset()
		a.setPending("")
		return &Repair{Drift: d, Skipped: "in sync", Planned: "no changes"}, nil
	}
	p := d.Plan
	switch {
	case a.cfg.Mode == RepairReport:
		a.setPending("report only")
		if manual {
			return nil, ErrReportMode
		}
		return nil, nil
	case !manual && a.backoff.Waiting(time.Now()):
		return nil, nil
	}
	allow := a.cfg.AllowDisruptive
	if p != nil && len(p.Problems) == 0 && p.Disruptive() > 0 {
		why := "disruptive: needs --repair-disruptive"
		if a.cfg.Admit != nil {
			var reason string
			if allow, reason = a.cfg.Admit(ctx, d); !allow {
				why = "disruptive: not admitted: " + reason
			}
		}
		if !allow {
			a.setPending(why)
			if manual {
				return nil, ErrDisruptive
			}
			return nil, nil
		}
	}
	return a.repair(ctx, allow)
}

// observe loads the desired state, observes and records the snapshot, reporting new drift once.
func (a *Agent) observe(ctx context.Context) (*Drift, error) {
	d, report, err := a.observeQuietly(ctx)
	if err != nil {
		return nil, err
	}
	report()
	return d, nil
}

// observeQuietly is observe with the reporting of what changed left to the caller.
func (a *Agent) observeQuietly(ctx context.Context) (*Drift, func(), error) {
	des, err := a.cfg.Source.Load(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load desired state (%s): %w", a.cfg.Source.Name(), err)
	}
	d, err := a.cfg.Engine.Drift(ctx, des)
	if err != nil {
		return nil, nil, err
	}
	report := a.store(d)
	if a.cfg.Observed != nil {
		a.cfg.Observed(d)
	}
	return d, report, nil
}

// record stores d as the latest observation and reports what changed since the last one.
func (a *Agent) record(d *Drift) {
	a.store(d)()
}

// store makes d the latest observation at once and returns the reporting of what changed since the
// last one, for the caller to run when its own events are out.
func (a *Agent) store(d *Drift) (report func()) {
	sig, ops := driftSignature(d)
	a.mu.Lock()
	a.snap.Drift, a.snap.Observed, a.snap.Error = d, d.At, ""
	a.snap.Observations = a.observations.Load()
	prevSig, prevData := a.lastDrift, a.lastData
	a.lastDrift = sig
	data := ""
	if d.Desired != nil {
		data = string(d.Desired.Data)
	}
	a.lastData = data
	a.mu.Unlock()
	return func() { a.report(d, sig, prevSig, data, prevData, ops) }
}

// report publishes the events of one new observation: a new desired state, a return to sync, new drift.
func (a *Agent) report(d *Drift, sig, prevSig, data, prevData string, ops []string) {
	if prevData != data && a.observations.Load() > 1 {
		a.event(EventApply, "the desired state changed ("+d.Desired.Origin+"): it is the new desired state, not drift", nil)
	}
	switch {
	case sig == prevSig:
	case sig == "":
		a.event(EventInSync, "the host matches the desired state", nil)
	default:
		summary, _ := describe(d)
		msg := "drift: " + summary
		if d.Plan != nil && d.Plan.Disruptive() > 0 {
			msg += "; disruptive"
		}
		if d.Plan != nil && len(d.Plan.Problems) > 0 {
			msg += fmt.Sprintf("; %d problem(s), first: %s", len(d.Plan.Problems), d.Plan.Problems[0])
		}
		a.event(EventDrift, msg, ops)
	}
}

func driftSignature(d *Drift) (string, []string) {
	if d.InSync() {
		return "", nil
	}
	_, ops := describe(d)
	if d.Plan != nil {
		for _, pr := range d.Plan.Problems {
			ops = append(ops, "problem: "+pr.String())
		}
	}
	return strings.Join(ops, "\n"), ops
}

// repair runs one repair through the engine and records its outcome.
func (a *Agent) repair(ctx context.Context, allowDisruptive bool) (*Repair, error) {
	start := time.Now()
	rep, err := a.cfg.Engine.Repair(ctx, a.cfg.Source, RepairOptions{
		AllowDisruptive: allowDisruptive,
		Waiting: func(holder string) {
			a.event(EventWaiting, "a CLI command holds the apply lock; the repair waits for it and plans again afterwards ("+holder+")", nil)
		},
	})
	dur := time.Since(start)
	if err == nil && rep.Skipped == "" && rep.Writes == 0 && len(rep.Reasserted) == 0 {
		// Drift that a repair cannot change would otherwise be repaired again at every observation.
		err = errNoProgress
	}
	if rep != nil && rep.Recovered != nil {
		a.event(EventRecovered, describeRecovered(rep.Recovered), nil)
	}
	if rep != nil && rep.Drift != nil {
		a.record(rep.Drift)
	}
	reason := ""
	if err != nil {
		reason = failureReason(err)
	}
	if a.cfg.Metrics != nil && (err != nil || rep.Writes > 0) {
		a.cfg.Metrics.ObserveRepair(dur, rep.writes(), reason)
	}
	a.mu.Lock()
	a.snap.LastRepair = &RepairRecord{Time: time.Now().UTC(), Duration: dur.String(), Repair: rep}
	if err != nil {
		a.snap.LastRepair.Error = err.Error()
	}
	a.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return rep, err
		}
		a.failures.Add(1)
		wait := a.backoff.Fail(time.Now())
		var ops []string
		if rep != nil {
			ops = rep.Ops
		}
		a.event(EventRefused, fmt.Sprintf("repair refused (%s, attempt %d): %v; retrying in %s", reason, a.backoff.Failures(), err, wait), ops)
		a.setPending(fmt.Sprintf("refused %d time(s); next attempt %s", a.backoff.Failures(), a.backoff.Next().Format(time.RFC3339)))
		return rep, err
	}
	a.backoff.Reset()
	switch rep.Skipped {
	case "disruptive":
		if a.cfg.Admit != nil && !allowDisruptive {
			// Planned as non-disruptive from an observation taken mid-change (a resize caught at 0 VFs),
			// the repair found disruptive drift under the lock: the next pass asks Admit about it.
			a.Kick()
			return rep, ErrDisruptive
		}
		a.setPending("disruptive: needs --repair-disruptive")
		return rep, ErrDisruptive
	case "in sync":
		a.setPending("")
		return rep, nil
	}
	a.repairs.Add(1)
	// Observe the result before saying the repair is done: whoever reads the status after the repair
	// event sees the repaired host, not the drift it repaired.
	a.observations.Add(1)
	_, report, oerr := a.observeQuietly(ctx)
	a.event(EventRepair, fmt.Sprintf("repaired: %s, %d writes in %s", rep.Planned, rep.Writes, dur.Round(time.Millisecond)), rep.Ops)
	a.setPending("")
	if oerr == nil {
		report()
	} else {
		a.Kick() // the observation failed: the loop's next one reports why
	}
	return rep, nil
}

// errNoProgress says a repair of drift wrote nothing.
var errNoProgress = errors.New("the repair wrote nothing but the host still differs from the desired state")

// describeRecovered is one line for what a repair recovered first.
func describeRecovered(r *service.Recovered) string {
	var parts []string
	if r.Apply != nil {
		parts = append(parts, service.DescribeRecovery(r.Apply))
	}
	for _, rec := range r.Assignments {
		parts = append(parts, fmt.Sprintf("%s vf %d (owner %s, was %s) restored and free", rec.PF, rec.VF, rec.Owner, rec.State))
	}
	for _, g := range r.Mirrors {
		parts = append(parts, fmt.Sprintf("mirror group %s (was %s) removed", g.Name, g.State))
	}
	return "finished what a killed command left: " + strings.Join(parts, "; ")
}

func (r *Repair) writes() int {
	if r == nil {
		return 0
	}
	return r.Writes
}

// failureReason classifies a repair failure for metrics: plan_<problem kind>, host_<error kind>, or
// "other".
func failureReason(err error) string {
	var pe *service.ProblemsError
	var he *host.Error
	switch {
	case errors.As(err, &pe):
		return "plan_" + pe.Plan.Problems[0].Kind
	case errors.As(err, &he):
		return "host_" + strings.ReplaceAll(he.Kind.String(), " ", "_")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "other"
}

func (a *Agent) event(kind, msg string, ops []string) {
	e := a.events.Add(kind, msg, ops)
	level := slog.LevelInfo
	switch kind {
	case EventRefused, EventError, EventDisruptive:
		level = slog.LevelWarn
	}
	attrs := []any{"kind", kind, "seq", e.Seq}
	if len(ops) > 0 {
		attrs = append(attrs, "ops", ops)
	}
	a.log.Log(context.Background(), level, msg, attrs...)
}

func (a *Agent) setError(err error) {
	a.mu.Lock()
	a.snap.Error = err.Error()
	a.mu.Unlock()
}

func (a *Agent) setPending(p string) {
	a.mu.Lock()
	prev := a.snap.Pending
	a.snap.Pending = p
	a.mu.Unlock()
	if p != prev && strings.HasPrefix(p, "disruptive") {
		a.event(EventDisruptive, "drift needs a disruptive repair (a VF count change through 0); not repaired: "+strings.TrimPrefix(p, "disruptive: "), nil)
	}
	if p != prev && p == "report only" {
		a.event(EventReportOnly, "drift left alone: --repair report", nil)
	}
}

// Snapshot is the agent's latest view, for the API, metrics and the status page.
type Snapshot struct {
	Mode            string    `json:"mode"`
	AllowDisruptive bool      `json:"allowDisruptive"`
	Source          string    `json:"source"`
	Started         time.Time `json:"started"`
	// Observed is when the host was last observed; Drift what that observation found.
	Observed     time.Time `json:"observed"`
	Observations uint64    `json:"observations"`
	Repairs      uint64    `json:"repairs"`
	Failures     uint64    `json:"repairFailures"`
	Drift        *Drift    `json:"-"`
	// Pending says why drift is left as it is ("disruptive: ...", "report only", "refused ..."); "" when
	// nothing waits.
	Pending    string        `json:"pending,omitempty"`
	LastRepair *RepairRecord `json:"lastRepair,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// RepairRecord is the last repair attempt.
type RepairRecord struct {
	Time     time.Time `json:"time"`
	Duration string    `json:"duration"`
	*Repair
	Error string `json:"error,omitempty"`
}

// Snapshot returns the latest view. The Drift it points to is never modified afterwards.
func (a *Agent) Snapshot() Snapshot {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s := a.snap
	s.Repairs, s.Failures, s.Observations = a.repairs.Load(), a.failures.Load(), a.observations.Load()
	return s
}

// PlanJSON is a plan as `sriovctl plan --json` prints it (jsonout.Plan), as a generic document.
func PlanJSON(p *plan.Plan) map[string]any {
	if p == nil {
		return nil
	}
	data, err := json.Marshal(jsonout.NewPlan(p, nil))
	if err != nil {
		return nil // plain data: cannot fail
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m
}
