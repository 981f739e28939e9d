package agent

import (
	"strconv"
	"sync"
	"time"
)

// Event kinds.
const (
	EventStart      = "start"
	EventStop       = "stop"
	EventDrift      = "drift"       // the host differs from the desired state (new or changed drift)
	EventInSync     = "in-sync"     // the host matches again
	EventRepair     = "repair"      // a repair wrote the host
	EventRefused    = "refused"     // the host or the plan refused a repair; it is retried with backoff
	EventDisruptive = "disruptive"  // drift only a disruptive repair fixes; reported, not repaired
	EventWaiting    = "waiting"     // a CLI command holds the apply lock; the repair waits for it
	EventRecovered  = "recovered"   // an interrupted apply was finished or undone
	EventApply      = "apply"       // the desired state changed (apply, assign, release, mirror)
	EventError      = "error"       // observing failed
	EventReportOnly = "report-only" // drift left alone because of --repair report
)

// Event is one entry of the agent's event log.
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	// Ops are the planned or made writes, when the event is about a plan.
	Ops []string `json:"ops,omitempty"`
}

// Ring is a bounded, concurrency-safe log of the latest events.
type Ring struct {
	mu   sync.Mutex
	buf  []Event
	next int
	full bool
	seq  uint64
}

// NewRing keeps the last n events.
func NewRing(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{buf: make([]Event, n)}
}

// Add appends an event, dropping the oldest when full, and returns it with its sequence number.
func (r *Ring) Add(kind, msg string, ops []string) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	e := Event{Seq: r.seq, Time: time.Now().UTC(), Kind: kind, Message: msg, Ops: ops}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	return e
}

// Since returns the events after sequence number seq, oldest first.
func (r *Ring) Since(seq uint64) []Event {
	return r.filter(func(e Event) bool { return e.Seq > seq })
}

// SinceTime returns the events after t, oldest first.
func (r *Ring) SinceTime(t time.Time) []Event {
	return r.filter(func(e Event) bool { return e.Time.After(t) })
}

func (r *Ring) filter(keep func(Event) bool) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Event{}
	start, n := 0, r.next
	if r.full {
		start, n = r.next, len(r.buf)
	}
	for i := range n {
		if e := r.buf[(start+i)%len(r.buf)]; keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// ParseSince reads a ?since= value: a sequence number, or an RFC 3339 time.
func (r *Ring) ParseSince(s string) ([]Event, error) {
	if s == "" {
		return r.Since(0), nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return r.Since(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, err
	}
	return r.SinceTime(t), nil
}
