// Package client talks to a running agent over its unix socket, for commands such as `sriovctl status`
// that show the agent's view when one runs.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/api"
)

// ErrNotRunning says no agent listens on the socket.
var ErrNotRunning = errors.New("no agent is running")

// Client is a connection to the agent on one socket.
type Client struct {
	socket string
	http   *http.Client
}

// New returns a client of the agent listening on socket ("" = api.DefaultSocket).
func New(socket string) *Client {
	if socket == "" {
		socket = api.DefaultSocket
	}
	return &Client{socket: socket, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}, Timeout: 2 * time.Minute}}
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("%w on %s", ErrNotRunning, c.socket)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			if out != nil {
				json.Unmarshal(body, out)
			}
			return fmt.Errorf("agent: %s", e.Error)
		}
		return fmt.Errorf("agent: %s", resp.Status)
	}
	return json.Unmarshal(body, out)
}

// Status returns the agent's status (GET /v1/status); ErrNotRunning when no agent listens.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var s api.Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Events returns the events after sequence number since.
func (c *Client) Events(ctx context.Context, since uint64) ([]agent.Event, error) {
	var ev []agent.Event
	err := c.do(ctx, http.MethodGet, "/v1/events?since="+strconv.FormatUint(since, 10), &ev)
	return ev, err
}

// Repair asks the agent to repair now (POST /v1/repair), by its rules.
func (c *Client) Repair(ctx context.Context) (*api.RepairResponse, error) {
	var r api.RepairResponse
	err := c.do(ctx, http.MethodPost, "/v1/repair", &r)
	return &r, err
}

// Get decodes the JSON of any GET path (/v1/host, /v1/assignments, /v1/mirrors) into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, out)
}
