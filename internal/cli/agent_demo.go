package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/agent/client"
)

func init() {
	addDemoSection(demoSection{Order: 70, Title: "The node agent keeps the host at its desired state", Run: demoAgent})
}

// demoAgent starts `sriovctl agent` on the demo lab, changes a VF behind its back and resets a PF, shows
// the agent's events repairing both, then sends lab traffic to an assigned VF and shows its counters in
// /metrics with the owner label.
func demoAgent(d *Demo) error {
	d.Say("Hand a VF of pool vms to VM web1, then start the agent (in the background; its socket is DIR/agent.sock on a lab).")
	if _, err := d.OK("assign", "--pool", "vms", "--owner", "web1", "--mac", "52:54:00:00:00:01", "--vlan", "100"); err != nil {
		return err
	}
	addr, err := freeLocalAddr()
	if err != nil {
		return err
	}
	sock := filepath.Join(d.LabDir, "agent.sock")
	d.a.Printf("$ sriovctl agent --metrics %s &\n", addr)
	ctx, stop := context.WithCancel(d.a.ctx())
	var logs bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--lab", d.LabDir, "agent", "--metrics", addr, "--lab-poll", "50ms"}, strings.NewReader(""), io.Discard, &logs)
	}()
	defer func() {
		stop()
		<-done
	}()
	c := client.New(sock)
	var seen uint64
	wait := func(what string, kinds ...string) error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if ev, err := c.Events(ctx, seen); err == nil {
				for _, e := range ev {
					for _, k := range kinds {
						if e.Kind == k {
							return nil
						}
					}
				}
			}
			select {
			case code := <-done:
				return fmt.Errorf("the agent exited %d while the demo waited for %s:\n%s", code, what, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the agent did not report %s within 20s:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	showEvents := func() error {
		d.a.Printf("$ curl -s --unix-socket %s http://agent/v1/events?since=%d   # shown one per line\n", sock, seen)
		ev, err := c.Events(ctx, seen)
		if err != nil {
			return err
		}
		for _, e := range ev {
			d.a.Printf("%3d %-9s %s\n", e.Seq, e.Kind, e.Message)
			for _, op := range e.Ops {
				d.a.Printf("              %s\n", op)
			}
			seen = e.Seq
		}
		return nil
	}
	// repaired waits for a repair and the host in sync again, then shows the events.
	repaired := func() error {
		if err := wait("a repair", agent.EventRepair); err != nil {
			return err
		}
		if err := wait("the host in sync", agent.EventInSync); err != nil {
			return err
		}
		return showEvents()
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err := c.Status(ctx); err == nil && st.Agent.Observations > 0 && st.InSync {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent did not see the host in sync within 20s:\n%s", logs.String())
		}
	}
	if err := showEvents(); err != nil {
		return err
	}

	d.Say("Someone changes a VF by hand (what `ip link set ens3f0 vf 0 vlan 7` does): the agent puts the policy's VLAN back.")
	if _, err := d.OK("vf", "set", "ens3f0", "0", "--vlan", "7"); err != nil {
		return err
	}
	if err := repaired(); err != nil {
		return err
	}

	d.Say("A PF reset (or driver reload) destroys every VF of ens3f0: the agent creates them again with their settings.")
	if _, err := d.OK("lab", "reset", "ens3f0"); err != nil {
		return err
	}
	if err := repaired(); err != nil {
		return err
	}
	d.Say("status shows the agent's view next to the stored desired state.")
	if _, err := d.OK("status"); err != nil {
		return err
	}

	d.Say("Frames from the wire to web1's VF (VLAN 100) are counted per VF; /metrics labels them with the owner and pool.")
	if _, err := d.OK("lab", "traffic", "--pf", "ens2f0", "--from", "wire", "--dst", "52:54:00:00:00:01", "--vlan", "100", "--count", "10"); err != nil {
		return err
	}
	d.a.Printf("$ curl -s http://%s/metrics | grep 'owner=\"web1\"' | grep receive\n", addr)
	lines, err := scrapeLines("http://"+addr+"/metrics", func(l string) bool {
		return strings.Contains(l, `owner="web1"`) && strings.Contains(l, "_receive_")
	})
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return fmt.Errorf("/metrics has no counters for web1's VF")
	}
	for _, l := range lines {
		d.a.Printf("%s\n", l)
	}
	_, err = d.OK("release", "--owner", "web1")
	return err
}

// freeLocalAddr is a loopback address with a port nothing listens on now.
func freeLocalAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// scrapeLines returns the lines of a GET of url that keep says to keep.
func scrapeLines(url string, keep func(string) bool) ([]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if keep(sc.Text()) {
			out = append(out, sc.Text())
		}
	}
	return out, sc.Err()
}
