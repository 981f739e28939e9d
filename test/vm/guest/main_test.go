//go:build vmguest

package guest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/host/kernel"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

var (
	sriovctlBin = envOr("SRIOVCTL_BIN", "/bin/sriovctl")
	ipBin       = "/bin/ip" // iproute2's; busybox's ip applet rejects `vf`
	pf          string      // the igb PF's netdev, found by TestMain
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	if os.Getenv("SRIOVCTL_VM_GUEST") != "1" {
		fmt.Println("guest suite: runs only inside the QEMU guest of test/vm/run.sh")
		os.Exit(0)
	}
	var err error
	if pf, err = findPF(); err != nil {
		fmt.Println("guest setup:", err)
		os.Exit(1)
	}
	// igb only accepts rates while the PF has link: bring it up and wait for carrier.
	if out, err := exec.Command(ipBin, "link", "set", pf, "up").CombinedOutput(); err != nil {
		fmt.Printf("guest setup: ip link set %s up: %v %s\n", pf, err, out)
		os.Exit(1)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && readSys("class/net/"+pf+"/carrier") != "1" {
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("guest setup: PF %s carrier=%s operstate=%s\n", pf, readSys("class/net/"+pf+"/carrier"), readSys("class/net/"+pf+"/operstate"))
	os.Exit(m.Run())
}

func findPF() (string, error) {
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if readSys("class/net/"+e.Name()+"/device/sriov_totalvfs") != "" {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("no SR-IOV PF in /sys/class/net (igb not loaded?)")
}

func readSys(p string) string {
	b, err := os.ReadFile(filepath.Join("/sys", p))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func pfDev(p string) string { return "class/net/" + pf + "/device/" + p }

func linkName(p string) string {
	t, err := os.Readlink(filepath.Join("/sys", p))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// run runs sriovctl and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sriovctlBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	t.Logf("$ sriovctl %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

// mustRun runs sriovctl and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, _, code := run(t, args...)
	if code != 0 {
		t.Fatalf("sriovctl %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

func kernelHost(t *testing.T) *kernel.Host {
	t.Helper()
	h, err := kernel.New(kernel.Options{WaitTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// setNumVFs puts the PF at n VFs (through 0) with the backend, for test setup.
func setNumVFs(t *testing.T, n int) {
	t.Helper()
	h := kernelHost(t)
	ctx := context.Background()
	cur, _ := strconv.Atoi(readSys(pfDev("sriov_numvfs")))
	if cur == n {
		return
	}
	if cur != 0 {
		if err := h.SetNumVFs(ctx, pf, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n != 0 {
		if err := h.SetNumVFs(ctx, pf, n); err != nil {
			t.Fatal(err)
		}
	}
}

// ipVF is one VF as `ip -d link show PF` prints it.
type ipVF struct {
	MAC        string
	VLAN, QoS  int
	Proto      string
	SpoofCheck string
	LinkState  string
	Trust      string
	MaxRate    int
	MinRate    int
	QueryRSS   string
	Line       string
}

var (
	ipVFLine = regexp.MustCompile(`^\s*vf (\d+)\s+link/ether ([0-9a-f:]{17})`)
	ipField  = map[string]*regexp.Regexp{
		"vlan":     regexp.MustCompile(`, vlan (\d+)`),
		"qos":      regexp.MustCompile(`, qos (\d+)`),
		"proto":    regexp.MustCompile(`vlan protocol (\S+?),`),
		"spoof":    regexp.MustCompile(`spoof checking (on|off)`),
		"state":    regexp.MustCompile(`link-state (\w+)`),
		"trust":    regexp.MustCompile(`trust (on|off)`),
		"max":      regexp.MustCompile(`max_tx_rate (\d+)Mbps`),
		"min":      regexp.MustCompile(`min_tx_rate (\d+)Mbps`),
		"queryrss": regexp.MustCompile(`query_rss (on|off)`),
	}
)

// ipShow parses the VF lines of `ip -d link show PF` (the igb PF).
func ipShow(t *testing.T) map[int]ipVF {
	t.Helper()
	return ipShowOf(t, pf)
}

// ipShowOf parses the VF lines of `ip -d link show dev`.
func ipShowOf(t *testing.T, pf string) map[int]ipVF {
	t.Helper()
	out, err := exec.Command(ipBin, "-d", "link", "show", pf).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -d link show %s: %v %s", pf, err, out)
	}
	vfs := map[int]ipVF{}
	for _, line := range strings.Split(string(out), "\n") {
		m := ipVFLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id, _ := strconv.Atoi(m[1])
		v := ipVF{MAC: m[2], Line: line, Proto: "802.1Q"}
		get := func(k string) string {
			if f := ipField[k].FindStringSubmatch(line); f != nil {
				return f[1]
			}
			return ""
		}
		v.VLAN, _ = strconv.Atoi(get("vlan"))
		v.QoS, _ = strconv.Atoi(get("qos"))
		if p := get("proto"); p != "" {
			v.Proto = p
		}
		v.SpoofCheck, v.LinkState, v.Trust, v.QueryRSS = get("spoof"), get("state"), get("trust"), get("queryrss")
		v.MaxRate, _ = strconv.Atoi(get("max"))
		v.MinRate, _ = strconv.Atoi(get("min"))
		vfs[id] = v
	}
	return vfs
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// compareWithIP checks one VF of show --json against ip's view.
func compareWithIP(t *testing.T, v sriov.VF, ip ipVF) {
	t.Helper()
	want := ipVF{MAC: v.MAC, VLAN: v.VLAN, QoS: v.QoS, Proto: string(v.VLANProto), SpoofCheck: onOff(v.SpoofCheck),
		LinkState: string(v.LinkState), Trust: onOff(v.Trust), MaxRate: v.MaxTxRateMbps, MinRate: v.MinTxRateMbps, QueryRSS: onOff(v.QueryRSS), Line: ip.Line}
	if ip.QueryRSS == "" { // older iproute2 prints query_rss only when the kernel sends it
		want.QueryRSS = ""
	}
	if want != ip {
		t.Errorf("VF %d: show --json says %+v\nip -d link show says %+v", v.ID, want, ip)
	}
}
