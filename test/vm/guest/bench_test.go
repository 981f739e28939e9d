//go:build vmguest

package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestApplyBenchmark (issue 16, goal 1): `sriovctl apply` against the best hand-written script doing the
// same effective work, on the real igb/igbvf driver, 7 VFs from their defaults, timed in interleaved
// repetitions (the order rotates every repetition) with medians and ratios printed:
//
//   - with MACs: a policy giving each VF a MAC, VLAN, QoS, spoof check off, trust on and a max TX rate,
//     against a script of 7 `ip link set PF vf N mac .. vlan .. qos .. spoofchk off trust on
//     max_tx_rate ..` calls (one per VF, every attribute in one message) plus the igbvf unbind and bind
//     per VF that makes the VF's netdev take its MAC (igb applies an admin MAC at bind time). Goal: <= 0.5.
//   - without MACs: the same without the MAC, so no reload, against the 7 calls. Goal: <= 1.0.
//
// sriovctl gives these trusted VFs their MACs by a write of each netdev's own address, not a reload
// (docs/kernel-backend.md). For the record, and not gated, the test also times a script doing the same
// (7 calls plus 7 `ip link set VFNETDEV address ..`), and untrusted VFs, where sriovctl and the script
// both reload igbvf.
//
// Before every run the VFs go back to their defaults and each netdev to a MAC unlike the target, so every
// run writes every netdev. Every run is checked to have reached the target (ip's view, and each VF
// netdev's MAC), so that the comparison is of the same work. Repetitions: /etc/bench-reps in the guest (run.sh writes
// SRIOVCTL_VM_BENCH_REPS there), 5 by default. The ratios fail the test only when SRIOVCTL_VM_BENCH_GOALS
// made run.sh write /etc/bench-goals: under TCG on a shared machine timings swing too much to gate
// every CI run on them; the figures go to the log and to docs/performance.md.
func TestApplyBenchmark(t *testing.T) {
	const vfs = 7
	reps := 5
	if b, err := os.ReadFile("/etc/bench-reps"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			reps = n
		}
	}
	_, gateErr := os.Stat("/etc/bench-goals")
	gate := gateErr == nil
	setNumVFs(t, 0)
	setNumVFs(t, vfs)
	t.Cleanup(func() { // the drivers' own account (their notices do not reach the console)
		if t.Failed() {
			for _, l := range strings.Split(kernelLog(), "\n") {
				if strings.Contains(l, "igb") || strings.Contains(l, "Reload") || strings.Contains(l, "PF still") {
					t.Log(l)
				}
			}
		}
	})
	addrs := make([]string, vfs)
	for id := range vfs {
		if addrs[id] = linkName(pfDev(fmt.Sprintf("virtfn%d", id))); addrs[id] == "" {
			t.Fatalf("VF %d has no PCI function", id)
		}
		if d := linkName("bus/pci/devices/" + addrs[id] + "/driver"); d != "igbvf" {
			t.Fatalf("VF %d (%s) bound to %q, want igbvf", id, addrs[id], d)
		}
	}
	dir := t.TempDir()
	mac := func(id int) string { return fmt.Sprintf("02:00:00:00:16:%02x", id) }
	writeFile := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// policy and script write the same settings: a MAC or not, trust on or off.
	policy := func(macs, trust bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, "pfs:\n  - name: %s\n    numVfs: %d\n    vfs:\n", pf, vfs)
		for id := range vfs {
			fmt.Fprintf(&b, "      - ids: \"%d\"\n", id)
			if macs {
				fmt.Fprintf(&b, "        mac: \"%s\"\n", mac(id))
			}
			fmt.Fprintf(&b, "        vlan: %d\n        qos: 3\n        spoofchk: false\n        trust: %v\n        maxTxRateMbps: 100\n", 100+id, trust)
		}
		return b.String()
	}
	const reloads, netdevWrites = 1, 2 // how a script's MACs reach the netdevs
	script := func(macs, trust bool, how int) string {
		var b strings.Builder
		b.WriteString("#!/bin/sh\nset -e\n")
		for id := range vfs {
			m := ""
			if macs {
				m = "mac " + mac(id) + " "
			}
			fmt.Fprintf(&b, "%s link set %s vf %d %svlan %d qos 3 spoofchk off trust %s max_tx_rate 100\n", ipBin, pf, id, m, 100+id, map[bool]string{true: "on", false: "off"}[trust])
		}
		for id, a := range addrs {
			switch how {
			case reloads:
				fmt.Fprintf(&b, "echo %s >/sys/bus/pci/drivers/igbvf/unbind\necho %s >/sys/bus/pci/drivers/igbvf/bind\n", a, a)
			case netdevWrites: // the netdev's name is read when the line runs (a reload may rename it)
				fmt.Fprintf(&b, "set -- /sys/bus/pci/devices/%s/net/*\n%s link set \"${1##*/}\" address %s\n", a, ipBin, mac(id))
			}
		}
		return b.String()
	}
	state := "--state-dir=" + filepath.Join(dir, "state")
	apply := func(name, pol string) []string {
		return []string{sriovctlBin, state, "apply", "-f", writeFile(name, pol, 0o644), "--yes"}
	}
	sh := func(name, body string) []string { return []string{"/bin/sh", writeFile(name, body, 0o755)} }
	// The first four are the goals' (trusted VFs, as the policy has them). The last three are for
	// the record: the best script for trusted VFs writes each netdev's address instead of reloading igbvf
	// (what sriovctl does), and untrusted VFs still need the reloads (sriovctl too).
	variants := []struct {
		name        string
		cmd         []string
		macs, trust bool
	}{
		{"sriovctl apply (MACs)", apply("mac.yaml", policy(true, true)), true, true},
		{"script: 7 ip calls + igbvf reloads", sh("mac.sh", script(true, true, reloads)), true, true},
		{"sriovctl apply (no MACs)", apply("nomac.yaml", policy(false, true)), false, true},
		{"script: 7 ip calls", sh("nomac.sh", script(false, true, 0)), false, true},
		{"script: 7 ip calls + 7 netdev writes", sh("macnd.sh", script(true, true, netdevWrites)), true, true},
		{"sriovctl apply (MACs, untrusted)", apply("macu.yaml", policy(true, false)), true, false},
		{"script: untrusted, + igbvf reloads", sh("macu.sh", script(true, false, reloads)), true, false},
	}
	// reset puts every VF back at its defaults, and gives each VF netdev a MAC unlike the target, as after
	// the VFs' creation (igbvf picks a random one): with no admin MAC igb takes the VF's own address, and
	// the clear admin MAC written again keeps igb from reporting it. So every run writes every netdev.
	reset := func() {
		t.Helper()
		for id := range vfs {
			clear := []string{"link", "set", pf, "vf", strconv.Itoa(id), "mac", "00:00:00:00:00:00"}
			defaults := append(slices.Clone(clear), "vlan", "0", "spoofchk", "on", "trust", "off", "max_tx_rate", "0")
			other := fmt.Sprintf("02:00:00:00:99:%02x", id)
			for _, args := range [][]string{defaults, {"link", "set", vfNetdev(id), "address", other}, clear} {
				if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
					t.Fatalf("reset VF %d: ip %s: %v %s", id, strings.Join(args, " "), err, out)
				}
			}
			if got := readSys("class/net/" + vfNetdev(id) + "/address"); got != other {
				t.Fatalf("reset VF %d: its netdev carries %s, want %s", id, got, other)
			}
		}
	}
	check := func(name string, macs, trust bool) error {
		t.Helper()
		ip := ipShow(t)
		wantTrust := map[bool]string{true: "on", false: "off"}[trust]
		for id := range vfs {
			v := ip[id]
			wantMAC := "00:00:00:00:00:00"
			if macs {
				wantMAC = mac(id)
			}
			if v.MAC != wantMAC || v.VLAN != 100+id || v.QoS != 3 || v.SpoofCheck != "off" || v.Trust != wantTrust || v.MaxRate != 100 {
				return fmt.Errorf("%s: VF %d ends as %s", name, id, v.Line)
			}
			if macs {
				nd, _ := filepath.Glob("/sys/bus/pci/devices/" + addrs[id] + "/net/*/address")
				if len(nd) != 1 {
					return fmt.Errorf("%s: VF %d has no netdev", name, id)
				}
				if b, _ := os.ReadFile(nd[0]); strings.TrimSpace(string(b)) != mac(id) {
					return fmt.Errorf("%s: VF %d's netdev has MAC %s, want %s", name, id, strings.TrimSpace(string(b)), mac(id))
				}
			}
		}
		return nil
	}
	times := make([][]time.Duration, len(variants))
	rss := make([]int64, len(variants)) // peak RSS in KiB (the script's: its largest process)
	for r := range reps {
		for k := range variants {
			i := (k + r) % len(variants)
			v := variants[i]
			var cmd *exec.Cmd
			var out []byte
			var d time.Duration
			// A reload whose probe finds igb busy ("PF still in reset state" in the kernel log; under TCG on
			// a loaded machine) leaves igbvf with a random MAC: that repetition is run once more.
			for try := 0; ; try++ {
				reset()
				notices := resetNotices()
				cmd = exec.Command(v.cmd[0], v.cmd[1:]...)
				start := time.Now()
				var err error
				out, err = cmd.CombinedOutput()
				d = time.Since(start)
				if err != nil {
					t.Fatalf("%s: %v\n%s", v.name, err, out)
				}
				err = check(v.name, v.macs, v.trust)
				if err == nil {
					break
				}
				if try > 0 || resetNotices() == notices {
					t.Fatal(err)
				}
				t.Logf("%v, with igbvf reporting a busy PF: run again", err)
			}
			if r == 0 {
				t.Logf("%s:\n%s", v.name, out)
			}
			times[i] = append(times[i], d)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss[i] = max(rss[i], ru.Maxrss)
			}
		}
	}
	med := make([]time.Duration, len(variants))
	for i, v := range variants {
		slices.Sort(times[i])
		med[i] = times[i][len(times[i])/2]
		fmt.Printf("BENCH igb apply: %-36s median %7.1f ms, peak RSS %.1f MB (%d runs: %v)\n", v.name,
			float64(med[i].Microseconds())/1000, float64(rss[i])/1024, reps, times[i])
	}
	withMACs := float64(med[0]) / float64(med[1])
	noMACs := float64(med[2]) / float64(med[3])
	fmt.Printf("BENCH igb apply: ratio with MACs %.2f (goal <= 0.5), without MACs %.2f (goal <= 1.0)\n", withMACs, noMACs)
	fmt.Printf("BENCH igb apply: for the record: with MACs against 7 ip calls + 7 netdev writes %.2f; untrusted VFs (reloads on both sides) %.2f\n",
		float64(med[0])/float64(med[4]), float64(med[5])/float64(med[6]))
	if gate && (withMACs > 0.5 || noMACs > 1.0) {
		t.Errorf("goal missed: with MACs %.2f (<= 0.5), without MACs %.2f (<= 1.0)", withMACs, noMACs)
	}
	reset()
}
