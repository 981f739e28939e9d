package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/host"
)

type trafficJSON struct {
	Trace    traceJSON               `json:"trace"`
	Added    map[string]host.VFStats `json:"added"`
	Counters map[string]host.VFStats `json:"counters"`
}

// TestLabTraffic sends frames on the default lab's igb NIC (ens5f0) and checks what each port counted.
func TestLabTraffic(t *testing.T) {
	dir := clitest.NewLab(t)
	lab := func(args ...string) clitest.Result { return clitest.Run(t, append([]string{"--lab", dir}, args...)...) }
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "3")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:10", "--reload-vf-driver")
	clitest.MustRun(t, "--lab", dir, "mirror", "create", "tap", "--pf", "ens5f0", "--vfs", "1,2", "--mac", "02:00:00:00:00:99")
	rx := func(n, size uint64) host.VFStats { return host.VFStats{RxPackets: n, RxBytes: n * size, Source: "lab"} }
	cases := []struct {
		name  string
		args  []string
		added map[string]host.VFStats
	}{
		{"unicast", []string{"--from", "wire", "--dst", "02:00:00:00:00:10", "--count", "4"},
			map[string]host.VFStats{"wire": {TxPackets: 4, TxBytes: 256, Source: "lab"}, "vf:0": rx(4, 64)}},
		{"broadcast", []string{"--from", "pf", "--dst", "ff:ff:ff:ff:ff:ff", "--size", "1500"},
			map[string]host.VFStats{"pf": {TxPackets: 1, TxBytes: 1500, Source: "lab"},
				"vf:0": {RxPackets: 1, RxBytes: 1500, Broadcast: 1, Source: "lab"}, "vf:1": {RxPackets: 1, RxBytes: 1500, Broadcast: 1, Source: "lab"},
				"vf:2": {RxPackets: 1, RxBytes: 1500, Broadcast: 1, Source: "lab"}, "wire": {RxPackets: 1, RxBytes: 1500, Broadcast: 1, Source: "lab"}}},
		{"spoof check drop", []string{"--from", "vf:0", "--src", "02:00:00:00:00:77", "--dst", "02:00:00:00:00:99", "--count", "2"},
			map[string]host.VFStats{"vf:0": {TxDropped: 2, Source: "lab"}}},
		{"mirror group", []string{"--from", "wire", "--dst", "02:00:00:00:00:99", "--count", "3"},
			map[string]host.VFStats{"wire": {TxPackets: 3, TxBytes: 192, Source: "lab"}, "vf:1": rx(3, 64), "vf:2": rx(3, 64)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := lab(append([]string{"lab", "traffic", "--json", "--pf", "ens5f0"}, c.args...)...)
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			var got trafficJSON
			if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Added, c.added) {
				t.Fatalf("added %+v\nwant %+v", got.Added, c.added)
			}
		})
	}
	// Counters add up across processes; the text form names each port with totals and this burst.
	r := clitest.MustRun(t, "--lab", dir, "lab", "traffic", "--pf", "ens5f0", "--from", "wire", "--dst", "02:00:00:00:00:10")
	if !strings.Contains(r.Stdout, "delivered") || !strings.Contains(r.Stdout, "vf:0    rx_packets 6 (+1), rx_bytes 1820 (+64), broadcast 1, tx_dropped 2\n") {
		t.Fatalf("text output:\n%s", r.Stdout)
	}
	// A VF destroyed takes its counters with it.
	clitest.MustRun(t, "--lab", dir, "lab", "reset", "ens5f0")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "1")
	r = clitest.MustRun(t, "--lab", dir, "lab", "traffic", "--pf", "ens5f0", "--from", "vf:0", "--dst", "02:00:00:00:00:55", "--json")
	var got trafficJSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatal(err)
	}
	if c := got.Counters["vf:0"]; c.TxPackets != 1 || c.RxPackets != 0 {
		t.Fatalf("a new VF's counters after one send: %+v", c)
	}
}

func TestLabTrafficRejectsInput(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	db := filepath.Join(dir, "lab.db")
	before, _ := os.ReadFile(db)
	base := []string{"--lab", dir, "lab", "traffic", "--pf", "ens5f0"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "wire"}, "--dst is required"},
		{[]string{"--from", "vf:2", "--dst", "ff:ff:ff:ff:ff:ff"}, `--from: invalid value "vf:2": allowed 0-1`},
		{[]string{"--from", "port7", "--dst", "ff:ff:ff:ff:ff:ff"}, `--from: invalid value "port7"`},
		{[]string{"--from", "wire", "--dst", "nope"}, `--dst: invalid value "nope"`},
		{[]string{"--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff", "--count", "0"}, `--count: invalid value "0": allowed 1-1000000000`},
		{[]string{"--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff", "--size", "10"}, `--size: invalid value "10": allowed 64-9216 bytes`},
		{[]string{"--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff", "--vlan", "5000"}, `--vlan`},
		{[]string{"--from", "wire", "--dst", "ff:ff:ff:ff:ff:ff", "--pf", "eth9"}, `--pf: invalid value "eth9"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := clitest.Run(t, append(base, c.args...)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, c.want) || strings.Count(r.Stderr, "\n") != 1 || r.Stdout != "" {
				t.Fatalf("exit %d stdout %q stderr %q: want exit 2 and one line with %q", r.Code, r.Stdout, r.Stderr, c.want)
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
				t.Fatal("rejected input changed the lab")
			}
		})
	}
}

func TestLabReset(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens3f0", "--numvfs", "4")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	r := clitest.MustRun(t, "--lab", dir, "lab", "reset", "0000:"+strings.TrimPrefix(pfState(t, dir, "ens3f0").PCIAddress, "0000:"))
	if !strings.Contains(r.Stdout, "ens3f0 reset: 0 VFs (it had 4") {
		t.Fatalf("output %q", r.Stdout)
	}
	if n := pfState(t, dir, "ens3f0").NumVFs; n != 0 {
		t.Fatalf("ens3f0 has %d VFs after a reset", n)
	}
	if n := pfState(t, dir, "ens5f0").NumVFs; n != 2 {
		t.Fatalf("ens5f0 has %d VFs: a reset of ens3f0 must leave it alone", n)
	}
	if r := clitest.Run(t, "--lab", dir, "lab", "reset", "eth9"); r.Code != 2 || !strings.Contains(r.Stderr, `PF: invalid value "eth9"`) {
		t.Fatalf("reset of a missing PF: exit %d %q", r.Code, r.Stderr)
	}
}

func TestLabFaultAfterWrite(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	if r := clitest.Run(t, "--lab", dir, "lab", "fault", "--after-write"); r.Code != 2 || !strings.Contains(r.Stderr, "--after-write: goes with --fail-at") {
		t.Fatalf("--after-write alone: exit %d %q", r.Code, r.Stderr)
	}
	r := clitest.MustRun(t, "--lab", dir, "lab", "fault", "--fail-at", "1", "--after-write")
	if !strings.Contains(r.Stdout, "fail-at 1 (after the write)") {
		t.Fatalf("lab fault: %q", r.Stdout)
	}
	r = clitest.MustRun(t, "--lab", dir, "lab", "fault", "--json")
	var fc map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &fc); err != nil || fc["afterWrite"] != true || fc["failAt"] != float64(1) {
		t.Fatalf("lab fault --json: %v %s", err, r.Stdout)
	}
	r = clitest.Run(t, "--lab", dir, "vf", "set", "ens5f0", "1", "--trust", "on")
	if r.Code != 1 || !strings.Contains(r.Stderr, "written, then confirming it failed") || !strings.Contains(r.Stderr, "timed out") {
		t.Fatalf("vf set under an after-write fault: exit %d %q", r.Code, r.Stderr)
	}
}

// TestLabLockWaitEndsOnCtrlC: a command waiting for the lab's lock (held here, as another sriovctl
// would) stops on SIGINT instead of waiting on.
func TestLabLockWaitEndsOnCtrlC(t *testing.T) {
	dir := clitest.NewLab(t)
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"show"}, {"pf", "set", "ens5f0", "--numvfs", "2"}, {"lab", "reboot"}, {"lab", "fault", "--clear"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(clitest.Binary(t), append([]string{"--lab", dir}, args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitForLockWaiter(t, cmd.Process.Pid)
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatal("still waiting for the lab's lock 10s after Ctrl-C")
			}
			if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(stderr.String(), "waiting for the lab's lock") {
				t.Fatalf("exit %d stderr %q", cmd.ProcessState.ExitCode(), stderr.String())
			}
		})
	}
}

// TestOldLabFormat: a lab made by an older sriovctl (lab.json) works after a transparent migration; one
// whose lab.json cannot be read exits 1 saying to create the lab again.
func TestOldLabFormat(t *testing.T) {
	good := `{"version":1,"pfs":[{"name":"eth0","profile":"igb","pciAddress":"0000:01:00.0","totalVfs":7,"mac":"02:11:11:11:11:11","mtu":1500,"operState":"up","eswitchMode":"",
	  "vfs":[{"id":0,"driver":"igbvf","netdevMac":"02:aa:00:00:00:00","mac":"00:00:00:00:00:00","vlan":100,"qos":0,"vlanProto":"802.1Q","spoofchk":true,"trust":false,"linkState":"auto","minTxRateMbps":0,"maxTxRateMbps":0,"queryRss":false}]}],
	  "fault":{},"serial":1,"created":"2026-01-01T00:00:00Z","mutatingOps":2}`
	for name, c := range map[string]struct {
		lab  string
		code int
		want string
	}{
		"migrated": {good, 0, `"vlan": 100`},
		"damaged":  {`{"version":1,"pfs":[`, 1, "create the lab again with `sriovctl lab init`"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(c.lab), 0o644); err != nil {
				t.Fatal(err)
			}
			r := clitest.Run(t, "--lab", dir, "show", "--json")
			if r.Code != c.code || !strings.Contains(r.Stdout+r.Stderr, c.want) {
				t.Fatalf("exit %d stdout %q stderr %q: want exit %d and %q", r.Code, r.Stdout, r.Stderr, c.code, c.want)
			}
		})
	}
}

// waitForLockWaiter waits until process pid is blocked on a file lock (a "->" line of /proc/locks), so
// that a signal lands during the wait rather than before the process set up its handler.
func waitForLockWaiter(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("no /proc/locks: %v", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 5 && f[1] == "->" && f[5] == strconv.Itoa(pid) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d never waited for the lab's lock", pid)
}
