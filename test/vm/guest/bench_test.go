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
// Every run is checked to have reached the target (ip's view, and each VF netdev's MAC), so that the
// comparison is of the same work. Repetitions: /etc/bench-reps in the guest (run.sh writes
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
	var polMAC, polNoMAC, shMAC, shNoMAC strings.Builder
	fmt.Fprintf(&polMAC, "pfs:\n  - name: %s\n    numVfs: %d\n    vfs:\n", pf, vfs)
	fmt.Fprintf(&polNoMAC, "pfs:\n  - name: %s\n    numVfs: %d\n    vfs:\n", pf, vfs)
	shMAC.WriteString("#!/bin/sh\nset -e\n")
	shNoMAC.WriteString("#!/bin/sh\nset -e\n")
	for id := range vfs {
		attrs := fmt.Sprintf("        vlan: %d\n        qos: 3\n        spoofchk: false\n        trust: true\n        maxTxRateMbps: 100\n", 100+id)
		fmt.Fprintf(&polMAC, "      - ids: \"%d\"\n        mac: \"%s\"\n%s", id, mac(id), attrs)
		fmt.Fprintf(&polNoMAC, "      - ids: \"%d\"\n%s", id, attrs)
		ipAttrs := fmt.Sprintf("vlan %d qos 3 spoofchk off trust on max_tx_rate 100", 100+id)
		fmt.Fprintf(&shMAC, "%s link set %s vf %d mac %s %s\n", ipBin, pf, id, mac(id), ipAttrs)
		fmt.Fprintf(&shNoMAC, "%s link set %s vf %d %s\n", ipBin, pf, id, ipAttrs)
	}
	for _, a := range addrs {
		fmt.Fprintf(&shMAC, "echo %s >/sys/bus/pci/drivers/igbvf/unbind\necho %s >/sys/bus/pci/drivers/igbvf/bind\n", a, a)
	}
	state := "--state-dir=" + filepath.Join(dir, "state")
	variants := []struct {
		name string
		cmd  []string
		macs bool
	}{
		{"sriovctl apply (MACs)", []string{sriovctlBin, state, "apply", "-f", writeFile("mac.yaml", polMAC.String(), 0o644), "--yes"}, true},
		{"script: 7 ip calls + igbvf reloads", []string{"/bin/sh", writeFile("mac.sh", shMAC.String(), 0o755)}, true},
		{"sriovctl apply (no MACs)", []string{sriovctlBin, state, "apply", "-f", writeFile("nomac.yaml", polNoMAC.String(), 0o644), "--yes"}, false},
		{"script: 7 ip calls", []string{"/bin/sh", writeFile("nomac.sh", shNoMAC.String(), 0o755)}, false},
	}
	// reset puts every VF back at its defaults with one ip call each (the netdevs keep their MACs; the
	// plan reloads igbvf for a MAC change either way).
	reset := func() {
		t.Helper()
		for id := range vfs {
			args := []string{"link", "set", pf, "vf", strconv.Itoa(id), "mac", "00:00:00:00:00:00", "vlan", "0", "spoofchk", "on", "trust", "off", "max_tx_rate", "0"}
			if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
				t.Fatalf("reset VF %d: %v %s", id, err, out)
			}
		}
	}
	check := func(name string, macs bool) {
		t.Helper()
		ip := ipShow(t)
		for id := range vfs {
			v := ip[id]
			wantMAC := "00:00:00:00:00:00"
			if macs {
				wantMAC = mac(id)
			}
			if v.MAC != wantMAC || v.VLAN != 100+id || v.QoS != 3 || v.SpoofCheck != "off" || v.Trust != "on" || v.MaxRate != 100 {
				t.Fatalf("%s: VF %d ends as %s", name, id, v.Line)
			}
			if macs {
				nd, _ := filepath.Glob("/sys/bus/pci/devices/" + addrs[id] + "/net/*/address")
				if len(nd) != 1 {
					t.Fatalf("%s: VF %d has no netdev after the reload", name, id)
				}
				if b, _ := os.ReadFile(nd[0]); strings.TrimSpace(string(b)) != mac(id) {
					t.Fatalf("%s: VF %d's netdev has MAC %s, want %s", name, id, strings.TrimSpace(string(b)), mac(id))
				}
			}
		}
	}
	times := make([][]time.Duration, len(variants))
	rss := make([]int64, len(variants)) // peak RSS in KiB (the script's: its largest process)
	for r := range reps {
		for k := range variants {
			i := (k + r) % len(variants)
			v := variants[i]
			reset()
			cmd := exec.Command(v.cmd[0], v.cmd[1:]...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v\n%s", v.name, err, out)
			}
			check(v.name, v.macs)
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
	if gate && (withMACs > 0.5 || noMACs > 1.0) {
		t.Errorf("goal missed: with MACs %.2f (<= 0.5), without MACs %.2f (<= 1.0)", withMACs, noMACs)
	}
	reset()
}
