// Package api is the agent's local HTTP/JSON API, served only on a unix socket (directory 0700, socket
// 0600): reads of the agent's view and POST /v1/repair. No TCP listener serves it, so only local root
// (or whoever owns the socket's directory) can ask the agent to write the host.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/agent"
)

// DefaultSocket is where the agent listens unless told otherwise.
const DefaultSocket = "/run/sriovctl/agent.sock"

// Status is GET /v1/status: the agent's state and the drift of the host from the desired state.
type Status struct {
	Agent   agent.Snapshot   `json:"agent"`
	Desired *agent.Desired   `json:"desired,omitempty"`
	InSync  bool             `json:"inSync"`
	Drift   map[string]any   `json:"drift,omitempty"`
	Drifted map[string][]int `json:"driftedVfs,omitempty"`
}

// RepairResponse is POST /v1/repair's answer.
type RepairResponse struct {
	Repair *agent.Repair `json:"repair,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// ErrorBody is every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// Handler serves the API of agent a.
func Handler(a *agent.Agent) http.Handler {
	mux := http.NewServeMux()
	get := func(path string, fn func(r *http.Request) (any, int, error)) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			v, code, err := fn(r)
			if err != nil {
				writeJSON(w, code, ErrorBody{Error: err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}
	errNotYet := errors.New("the agent has not observed the host yet")
	get("/v1/host", func(*http.Request) (any, int, error) {
		s := a.Snapshot()
		if s.Drift == nil {
			return nil, http.StatusServiceUnavailable, errNotYet
		}
		return s.Drift.Observed, 0, nil
	})
	get("/v1/status", func(*http.Request) (any, int, error) { return StatusOf(a.Snapshot()), 0, nil })
	get("/v1/assignments", func(*http.Request) (any, int, error) {
		s := a.Snapshot()
		if s.Drift == nil {
			return nil, http.StatusServiceUnavailable, errNotYet
		}
		return s.Drift.Assignments, 0, nil
	})
	get("/v1/mirrors", func(*http.Request) (any, int, error) {
		s := a.Snapshot()
		if s.Drift == nil {
			return nil, http.StatusServiceUnavailable, errNotYet
		}
		return s.Drift.Mirrors, 0, nil
	})
	get("/v1/events", func(r *http.Request) (any, int, error) {
		ev, err := a.Events().ParseSince(r.URL.Query().Get("since"))
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("since: want a sequence number or an RFC 3339 time, got %q", r.URL.Query().Get("since"))
		}
		return ev, 0, nil
	})
	mux.HandleFunc("POST /v1/repair", func(w http.ResponseWriter, r *http.Request) {
		rep, err := a.RepairNow(r.Context())
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, RepairResponse{Repair: rep})
		case errors.Is(err, agent.ErrReportMode), errors.Is(err, agent.ErrDisruptive):
			writeJSON(w, http.StatusConflict, RepairResponse{Repair: rep, Error: err.Error()})
		default:
			writeJSON(w, http.StatusBadGateway, RepairResponse{Repair: rep, Error: err.Error()})
		}
	})
	return mux
}

// StatusOf builds the status document from a snapshot.
func StatusOf(s agent.Snapshot) Status {
	st := Status{Agent: s, InSync: true}
	if d := s.Drift; d != nil {
		st.Desired = d.Desired
		st.InSync = d.InSync()
		st.Drift = agent.PlanJSON(d.Plan)
		st.Drifted = map[string][]int{}
		for pf, vfs := range d.DriftedVFs() {
			for vf := range vfs {
				st.Drifted[pf] = append(st.Drifted[pf], vf)
			}
		}
	}
	return st
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Listener is the agent's socket with the lock that makes it the only agent on the path.
type Listener struct {
	net.Listener
	lock *os.File
}

// Close stops listening, removes the socket and drops the lock.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	if l.lock != nil {
		l.lock.Close()
	}
	return err
}

// Listen creates the agent's unix socket at path, mode 0600, in a directory it creates with mode 0700. It
// refuses when another agent is live on the path (it holds PATH.lock, or answers on the socket) and when
// path exists and is not a socket; a socket left by a dead agent is taken over.
func Listen(path string) (*Listener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("socket directory: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("socket directory: %w", err)
		}
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("socket lock: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lock.Name())
		lock.Close()
		return nil, fmt.Errorf("another agent is running on %s (pid %s)", path, orUnknown(strings.TrimSpace(string(holder))))
	}
	fail := func(err error) (*Listener, error) { lock.Close(); return nil, err }
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return fail(fmt.Errorf("%s exists and is not a socket (%s); refusing to replace it", path, fi.Mode().Type()))
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fail(fmt.Errorf("another agent answers on %s", path))
		}
		// A dead agent's socket: nobody holds the lock and nobody answers.
		if err := os.Remove(path); err != nil {
			return fail(fmt.Errorf("remove the stale socket %s: %w", path, err))
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fail(err)
	}
	lock.Truncate(0)
	lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Listener{Listener: ln, lock: lock}, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Serve serves h on ln until ctx ends, then shuts down, letting requests in flight finish for a moment.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}
