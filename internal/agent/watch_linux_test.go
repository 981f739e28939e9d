package agent_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sriovctl/sriovctl/internal/agent"
)

// TestLinkWatcherKicksOnLinkChanges: a link appearing, changing and disappearing reaches the agent as
// kicks (needs CAP_NET_ADMIN: it adds and removes an ifb link).
func TestLinkWatcherKicksOnLinkChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to add an ifb link")
	}
	var kicks atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.LinkWatcher{}.Watch(ctx, func() { kicks.Add(1) }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch: %v", err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // subscribed
	name := fmt.Sprintf("sagt%d", os.Getpid()%100000)
	link := &netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(link); err != nil {
		t.Skipf("cannot add an ifb link here: %v", err)
	}
	defer netlink.LinkDel(link)
	wait := func(what string, n int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for kicks.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("no kick after %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("adding a link", 1)
	n := kicks.Load()
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	wait("setting it up", n+1)
	n = kicks.Load()
	if err := netlink.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	wait("deleting it", n+1)
}
