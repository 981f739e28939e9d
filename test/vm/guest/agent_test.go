//go:build vmguest

package guest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/agent/client"
	"github.com/sriovctl/sriovctl/internal/rawframe"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// agentPolicy: 4 VFs, VF 0 with a MAC and VLAN 100, VF 1 flat with a MAC (the wire tap sends to it).
const agentPolicy = `pfs:
  - name: %s
    numVfs: 4
    vfs:
      - ids: "0"
        mac: "02:00:00:00:a0:00"
        vlan: 100
      - ids: "1"
        mac: "02:00:00:00:a0:01"
        vlan: 0
`

// Bounds within which the agent must have repaired each drift (TCG is slow; on KVM it takes well under a
// second). The measured times are printed.
const (
	repairBound = 60 * time.Second
	numvfsBound = 120 * time.Second
)

// TestAgentOnIGB: `sriovctl agent` on the real igb driver repairs a VF's MAC and VLAN changed behind its
// back through rtnetlink (as `ip link set PF vf 0 mac ... vlan ...` does) and `echo 0 > sriov_numvfs`,
// each within a bound; its /metrics shows a VF netdev's counters growing while the wire tap sends frames
// to it; and it keeps working across `rmmod igbvf; modprobe igbvf`.
func TestAgentOnIGB(t *testing.T) {
	setNumVFs(t, 0)
	dir := t.TempDir()
	state, sock, addr := filepath.Join(dir, "state"), filepath.Join(dir, "run", "agent.sock"), "127.0.0.1:9860"
	polFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte(fmt.Sprintf(agentPolicy, pf)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--state-dir", state, "apply", "-f", polFile, "--yes")

	cmd := exec.Command(sriovctlBin, "--state-dir", state, "agent", "--socket", sock, "--metrics", addr, "--resync", "10s")
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(unix.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("agent exit after SIGTERM: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("agent did not stop within 30 s of SIGTERM")
		}
		log, _ := os.ReadFile(logf.Name())
		t.Logf("agent log:\n%s", log)
		setNumVFs(t, 0) // the next tests start from fresh VFs, not this policy's
	}()
	c := client.New(sock)
	ctx := context.Background()
	waitAgent := func(what string, bound time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			select {
			case err := <-exited:
				t.Fatalf("the agent exited while waiting for %s: %v", what, err)
			default:
			}
			if time.Since(start) > bound {
				t.Fatalf("%s: not within %s", what, bound)
			}
			time.Sleep(100 * time.Millisecond)
		}
		d := time.Since(start)
		t.Logf("%s: %s (bound %s)", what, d.Round(time.Millisecond), bound)
		return d
	}
	inSync := func() bool {
		s, err := c.Status(ctx)
		return err == nil && s.InSync && s.Agent.Observations > 0
	}
	waitAgent("agent up and in sync", repairBound, inSync)

	link, err := netlink.LinkByName(pf)
	if err != nil {
		t.Fatal(err)
	}
	vf0 := func() sriov.VF { return *showJSON(t).VF(0) }
	asDesired := func() bool {
		p := showJSON(t)
		v := p.VF(0)
		return p.NumVFs == 4 && v != nil && v.MAC == "02:00:00:00:a0:00" && v.VLAN == 100 && p.VF(1).MAC == "02:00:00:00:a0:01"
	}

	// (a) MAC and VLAN of VF 0 changed through rtnetlink, behind sriovctl's back.
	mac, _ := net.ParseMAC("02:00:00:00:0b:ad")
	if err := netlink.LinkSetVfHardwareAddr(link, 0, mac); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetVfVlan(link, 0, 7); err != nil {
		t.Fatal(err)
	}
	if v := vf0(); v.MAC != "02:00:00:00:0b:ad" || v.VLAN != 7 {
		t.Fatalf("the hand-made change did not land: %+v", v.VFConfig)
	}
	waitAgent("MAC and VLAN changed with rtnetlink, repaired", repairBound, func() bool { return asDesired() && inSync() })

	// (b) every VF destroyed through sysfs.
	if err := os.WriteFile("/sys/"+pfDev("sriov_numvfs"), []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	waitAgent("echo 0 > sriov_numvfs, repaired", numvfsBound, func() bool { return asDesired() && inSync() })

	// Metrics: VF 1's netdev counters grow while the wire tap sends frames to its MAC.
	tap := netdevByDriver("e1000")
	if tap == "" {
		t.Fatal("no wire tap (e1000) netdev")
	}
	ifUp(t, tap)
	ifUp(t, vfNetdev(1))
	waitVFLink(t, 1)
	before := scrapeVF(t, addr, "sriovctl_vf_receive_packets_total", "1")
	frame, err := rawframe.Build("02:00:00:00:a0:01", readSys("class/net/"+tap+"/address"), 0, []byte("sriovctl-agent-metrics"))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := rawframe.Send(tap, frame); err != nil {
			t.Fatal(err)
		}
	}
	waitAgent("VF 1's rx packets grow in /metrics", 30*time.Second, func() bool {
		return scrapeVF(t, addr, "sriovctl_vf_receive_packets_total", "1").value >= before.value+20
	})
	after := scrapeVF(t, addr, "sriovctl_vf_receive_packets_total", "1")
	t.Logf("VF 1 rx packets %v -> %v (%s)", before.value, after.value, after.line)
	if !strings.Contains(after.line, `source="netdev"`) {
		t.Errorf("igb reports no per-VF statistics: the counter should come from the VF netdev: %s", after.line)
	}

	// rmmod igbvf; modprobe igbvf: the VF netdevs go and come back; the agent keeps working.
	if err := unix.DeleteModule("igbvf", 0); err != nil {
		t.Fatalf("rmmod igbvf: %v", err)
	}
	loadModule(t, "igbvf")
	waitAgent("VFs back on igbvf after the module reload", repairBound, func() bool {
		p := showJSON(t)
		return p.NumVFs == 4 && p.VF(3).Driver == "igbvf" && inSync()
	})
	if err := netlink.LinkSetVfVlan(link, 0, 9); err != nil {
		t.Fatal(err)
	}
	waitAgent("VLAN changed after the module reload, repaired", repairBound, func() bool { return asDesired() && inSync() })
}

// loadModule loads /lib/modules/NAME.ko, where /init loads the modules from (modprobe without a
// modules.dep).
func loadModule(t *testing.T, name string) {
	t.Helper()
	f, err := os.Open("/lib/modules/" + name + ".ko")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		t.Fatalf("modprobe %s: %v", name, err)
	}
}

type sample struct {
	value float64
	line  string
}

// scrapeVF returns metric name's sample for VF vf of the PF from the agent's /metrics (value -1: absent).
func scrapeVF(t *testing.T, addr, name, vf string) sample {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, `pf="`+pf+`"`) || !strings.Contains(line, `vf="`+vf+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		return sample{v, line}
	}
	return sample{-1, ""}
}
