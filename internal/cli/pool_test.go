package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// poolLab is a lab with PF eth0 of n VFs and a policy file with pool "vms" over all of them.
func poolLab(t *testing.T, profile string, n int) (labDir, policyFile string) {
	t.Helper()
	labDir = clitest.NewLab(t, fmt.Sprintf("eth0=%s:%d", profile, n))
	clitest.MustRun(t, "--lab", labDir, "pf", "set", "eth0", "--numvfs", fmt.Sprint(n))
	policyFile = filepath.Join(t.TempDir(), "policy.yaml")
	pol := fmt.Sprintf("pfs:\n  - name: eth0\n    numVfs: %d\npools:\n  - name: vms\n    pf: eth0\n    ids: \"0-%d\"\n    driver: vfio-pci\n", n, n-1)
	if err := os.WriteFile(policyFile, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	return labDir, policyFile
}

type assignJSON struct {
	Owner, Pool, PF, PCIAddress, Lease string
	VF                                 int
}

func vfs(t *testing.T, labDir string) map[int]sriov.VF {
	t.Helper()
	var st sriov.Host
	if err := json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "show", "eth0", "--json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	out := map[int]sriov.VF{}
	for _, v := range st.PFs[0].VFs {
		out[v.ID] = v
	}
	return out
}

func assignments(t *testing.T, labDir string) ([]ledger.Record, string) {
	t.Helper()
	r := clitest.MustRun(t, "--lab", labDir, "assignments", "--json")
	var out struct{ Assignments []ledger.Record }
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	return out.Assignments, r.Stderr
}

func TestAssignReleaseCLI(t *testing.T) {
	labDir, pol := poolLab(t, "i40e", 4)
	initial := vfs(t, labDir)
	lab := []string{"--lab", labDir}
	r := clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:01:01", "--vlan", "100",
		"--qos", "2", "--spoofchk", "off", "--trust", "on", "--max-tx-rate", "900", "--format", "json", "-f", pol)...)
	var a assignJSON
	if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	json.Unmarshal([]byte(r.Stdout), &keys)
	for _, k := range []string{"owner", "pool", "pf", "pfPciAddress", "vf", "pciAddress", "lease", "existing", "notes"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("assign json lacks %q: %s", k, r.Stdout)
		}
	}
	if a.Owner != "web1" || a.Pool != "vms" || a.PF != "eth0" || a.VF != 0 || a.PCIAddress != initial[0].PCIAddress || len(a.Lease) != 32 {
		t.Fatalf("assign json: %s", r.Stdout)
	}
	v := vfs(t, labDir)[0]
	want := sriov.VFConfig{MAC: "02:00:00:00:01:01", VLAN: 100, QoS: 2, VLANProto: sriov.VLANProto8021Q, SpoofCheck: false, Trust: true,
		LinkState: sriov.LinkStateAuto, MaxTxRateMbps: 900}
	if v.VFConfig != want || v.Driver != "vfio-pci" {
		t.Fatalf("assigned VF %+v", v)
	}
	// Same owner, same settings: same VF and lease, in every format.
	again := clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:01:01", "--vlan", "100",
		"--qos", "2", "--spoofchk", "off", "--trust", "on", "--max-tx-rate", "900", "--format", "qemu", "-f", pol)...)
	if strings.TrimSpace(again.Stdout) != "-device vfio-pci,host="+a.PCIAddress {
		t.Fatalf("qemu: %q", again.Stdout)
	}
	// The same owner with other settings is refused, nothing changes.
	if c := clitest.Run(t, append(lab, "assign", "--pool", "vms", "--owner", "web1", "-f", pol)...); c.Code != 1 || !strings.Contains(c.Stderr, "already holds") {
		t.Fatalf("conflicting assign: %+v", c)
	}
	x := clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "web2", "--mac", "02:00:00:00:01:02", "--vlan", "7", "--format", "libvirt", "-f", pol)...)
	for _, s := range []string{`<interface type="hostdev" managed="yes">`, `<mac address="02:00:00:00:01:02">`, `<tag id="7">`} {
		if !strings.Contains(x.Stdout, s) {
			t.Errorf("libvirt output lacks %s:\n%s", s, x.Stdout)
		}
	}
	list := clitest.MustRun(t, append(lab, "pool", "list", "--json", "-f", pol)...)
	var pl struct {
		Pools []struct {
			Name              string
			Total, Used, Free int
		}
	}
	if err := json.Unmarshal([]byte(list.Stdout), &pl); err != nil || len(pl.Pools) != 1 || pl.Pools[0].Used != 2 || pl.Pools[0].Free != 2 {
		t.Fatalf("pool list: %v %s", err, list.Stdout)
	}
	recs, _ := assignments(t, labDir)
	if len(recs) != 2 || recs[0].Owner != "web1" || recs[1].Owner != "web2" {
		t.Fatalf("assignments %+v", recs)
	}
	rel := clitest.MustRun(t, append(lab, "release", "--lease", a.Lease)...)
	if !strings.Contains(rel.Stdout, "released eth0 vf 0") {
		t.Fatalf("release: %s", rel.Stdout)
	}
	if v := vfs(t, labDir)[0]; v.VFConfig != initial[0].VFConfig || v.Driver != initial[0].Driver {
		t.Fatalf("released VF %+v, want %+v", v, initial[0])
	}
	// A stale lease and an owner holding nothing change nothing and say so.
	for _, args := range [][]string{{"release", "--lease", a.Lease}, {"release", "--owner", "nobody"}} {
		r := clitest.MustRun(t, append(lab, args...)...)
		if !strings.Contains(r.Stdout, "nothing to release") {
			t.Errorf("%v: %s", args, r.Stdout)
		}
	}
	clitest.MustRun(t, append(lab, "release", "--owner", "web2")...)
	if recs, _ := assignments(t, labDir); len(recs) != 0 {
		t.Fatalf("assignments after release: %+v", recs)
	}
}

func TestPoolCLIUsageErrors(t *testing.T) {
	labDir, pol := poolLab(t, "ice", 2)
	lab := []string{"--lab", labDir}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"assign", "--pool", "nope", "--owner", "a", "-f", pol}, `no pool "nope"`},
		{[]string{"assign", "--pool", "vms", "--owner", "bad owner", "-f", pol}, "--owner"},
		{[]string{"assign", "--pool", "vms", "-f", pol}, "--owner"},
		{[]string{"assign", "--pool", "vms", "--owner", "a", "--format", "xml", "-f", pol}, "--format"},
		{[]string{"assign", "--pool", "vms", "--owner", "a", "--vlan", "4095", "-f", pol}, "--vlan"},
		{[]string{"assign", "--pool", "vms", "--owner", "a", "--qos", "3", "-f", pol}, "qos"},
		{[]string{"assign", "--pool", "vms", "--owner", "a"}, "no desired policy"},
		{[]string{"release"}, "--owner"},
		{[]string{"release", "--owner", "a", "--lease", "b"}, "--owner"},
		{[]string{"pool", "list", "-f", "/nonexistent.yaml"}, "-f"},
	} {
		r := clitest.Run(t, append(lab, tc.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	if recs, _ := assignments(t, labDir); len(recs) != 0 {
		t.Fatalf("usage errors assigned VFs: %+v", recs)
	}
}

func TestPoolsFromStoredDesiredPolicy(t *testing.T) {
	labDir, pol := poolLab(t, "ice", 2)
	state := t.TempDir()
	clitest.MustRun(t, "--lab", labDir, "--state-dir", state, "apply", "-f", pol, "--yes") // stores the desired policy
	r := clitest.MustRun(t, "--lab", labDir, "--state-dir", state, "pool", "list")
	if !strings.Contains(r.Stdout, "vms") {
		t.Fatalf("pool list: %s", r.Stdout)
	}
	clitest.MustRun(t, "--lab", labDir, "--state-dir", state, "assign", "--pool", "vms", "--owner", "a")
	if _, err := os.Stat(filepath.Join(state, ledger.DBFile)); err != nil {
		t.Fatalf("ledger not in the state dir: %v", err)
	}
}

// TestConcurrentAssignProcesses races 50 assign processes for a 32-VF pool: exactly 32 win, the others
// exit 1 with the exhausted message, and no VF has two owners, in the output, the ledger or on the host.
func TestConcurrentAssignProcesses(t *testing.T) {
	const procs, size = 50, 32
	labDir, pol := poolLab(t, "ice", size)
	bin := clitest.Binary(t)
	type result struct {
		code   int
		stdout string
		stderr string
	}
	results := make([]result, procs)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "--lab", labDir, "assign", "--pool", "vms", "--owner", fmt.Sprintf("vm%02d", i),
				"--mac", fmt.Sprintf("02:00:00:00:10:%02x", i), "--format", "json", "-f", pol)
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			<-start
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Error(err)
			}
			results[i] = result{code, out.String(), errb.String()}
		}()
	}
	close(start)
	wg.Wait()
	won := map[int]string{} // VF -> owner
	failed := 0
	for i, r := range results {
		switch r.code {
		case 0:
			var a assignJSON
			if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
				t.Fatalf("vm%02d: %v: %s", i, err, r.stdout)
			}
			if prev, dup := won[a.VF]; dup {
				t.Fatalf("VF %d handed to %s and %s", a.VF, prev, a.Owner)
			}
			won[a.VF] = a.Owner
		case 1:
			failed++
			if r.stderr != "sriovctl: pool vms exhausted (32/32 in use)\n" {
				t.Errorf("vm%02d: stderr %q", i, r.stderr)
			}
		default:
			t.Errorf("vm%02d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if len(won) != size || failed != procs-size {
		t.Fatalf("%d succeeded, %d exhausted; want %d and %d", len(won), failed, size, procs-size)
	}
	recs, _ := assignments(t, labDir)
	host := vfs(t, labDir)
	if len(recs) != size {
		t.Fatalf("ledger holds %d records", len(recs))
	}
	for _, r := range recs {
		if won[r.VF] != r.Owner || r.State != ledger.StateAssigned {
			t.Errorf("ledger: VF %d %s %s; the assign output said %s", r.VF, r.Owner, r.State, won[r.VF])
		}
		if v := host[r.VF]; v.MAC != r.Config.MAC || v.Driver != "vfio-pci" {
			t.Errorf("host VF %d: mac %s driver %s; ledger says %s on vfio-pci", r.VF, v.MAC, v.Driver, r.Config.MAC)
		}
	}
}

// checkConsistent asserts what kill -9 must never break: after `sriovctl recover`, every VF of the pool
// is either assigned with its owner's settings and driver, or free with its initial state. It returns
// how many interrupted commands recover repaired (assignments, a read, repairs nothing).
func checkConsistent(t *testing.T, labDir string, initial map[int]sriov.VF) int {
	t.Helper()
	rec := clitest.MustRun(t, "--lab", labDir, "recover")
	recs, _ := assignments(t, labDir)
	host := vfs(t, labDir)
	held := map[int]ledger.Record{}
	for _, r := range recs {
		if r.State != ledger.StateAssigned {
			t.Fatalf("after repair, VF %d is %s", r.VF, r.State)
		}
		held[r.VF] = r
	}
	for id, v := range host {
		if r, ok := held[id]; ok {
			if v.VFConfig != r.Config || v.Driver != r.Driver {
				t.Fatalf("VF %d assigned to %s but host has %+v on %s, ledger %+v on %s", id, r.Owner, v.VFConfig, v.Driver, r.Config, r.Driver)
			}
			continue
		}
		if v.VFConfig != initial[id].VFConfig || v.Driver != initial[id].Driver {
			t.Fatalf("VF %d is free but not restored: %+v on %s, want %+v on %s", id, v.VFConfig, v.Driver, initial[id].VFConfig, initial[id].Driver)
		}
	}
	return strings.Count(rec.Stdout, "restored and free")
}

// killWhen starts sriovctl with args and kills it with SIGKILL once ready returns true (polled every
// 5 ms, for at most 20 s; nil: at once), then reaps it.
func killWhen(t *testing.T, ready func() bool, args ...string) {
	t.Helper()
	cmd := exec.Command(clitest.Binary(t), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ready != nil && !ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("sriovctl %v: never reached the kill point", args)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// killAfter kills sriovctl with args after d.
func killAfter(t *testing.T, d time.Duration, args ...string) {
	t.Helper()
	start := time.Now()
	killWhen(t, func() bool { return time.Since(start) >= d }, args...)
}

// TestKill9DuringAssignAndRelease kills assign and release processes at staggered points while every
// host write is slowed (lab fault --delay), so kills land before, between and after host writes and
// ledger commits. After each kill the next command must see every VF assigned or free, never between.
func TestKill9DuringAssignAndRelease(t *testing.T) {
	labDir, pol := poolLab(t, "i40e", 24)
	lab := []string{"--lab", labDir}
	initial := vfs(t, labDir)
	const delay = 50 * time.Millisecond
	repairedAssign, repairedRelease := 0, 0
	// A VF with the owner's MAC has had its first assign write; a pool VF with a MAC no owner holds is
	// being released (its first restoring write is the MAC).
	macSeen := func(mac string) func() bool {
		return func() bool {
			for _, v := range vfs(t, labDir) {
				if v.MAC == mac {
					return true
				}
			}
			return false
		}
	}
	macGone := func(mac string) func() bool {
		return func() bool { return !macSeen(mac)() }
	}
	for i := 0; i < 12; i++ {
		// Even rounds kill at a fixed time from start (before any write, between, after the end); odd
		// rounds kill just after the first host write, which is certain to be in between.
		wait := time.Duration(i) * 25 * time.Millisecond
		owner, mac := fmt.Sprintf("k%02d", i), fmt.Sprintf("02:00:00:00:20:%02x", i)
		assign := append(lab, "assign", "--pool", "vms", "--owner", owner, "--mac", mac, "--vlan", "300", "--trust", "on", "--max-tx-rate", "100", "-f", pol)
		clitest.MustRun(t, append(lab, "lab", "fault", "--delay", delay.String())...)
		// 5 slowed writes: mac, vlan, trust, rate, bind.
		if i%2 == 0 {
			killAfter(t, wait, assign...)
		} else {
			killWhen(t, macSeen(mac), assign...)
		}
		clitest.MustRun(t, append(lab, "lab", "fault", "--clear")...)
		repairedAssign += checkConsistent(t, labDir, initial)

		// Make sure the owner holds a VF, then kill its release part-way.
		clitest.MustRun(t, assign...)
		clitest.MustRun(t, append(lab, "lab", "fault", "--delay", delay.String())...)
		if i%2 == 0 {
			killAfter(t, wait, append(lab, "release", "--owner", owner)...)
		} else {
			killWhen(t, macGone(mac), append(lab, "release", "--owner", owner)...)
		}
		clitest.MustRun(t, append(lab, "lab", "fault", "--clear")...)
		repairedRelease += checkConsistent(t, labDir, initial)
		// Whatever happened, releasing again ends with the VF free and restored.
		clitest.MustRun(t, append(lab, "release", "--owner", owner)...)
		checkConsistent(t, labDir, initial)
	}
	t.Logf("repairs after killed assigns: %d, after killed releases: %d", repairedAssign, repairedRelease)
	if repairedAssign == 0 || repairedRelease == 0 {
		t.Fatalf("no kill landed between intent and completion (assign %d, release %d): the test did not test", repairedAssign, repairedRelease)
	}
	if recs, _ := assignments(t, labDir); len(recs) != 0 {
		t.Fatalf("left over: %+v", recs)
	}
}

func TestDemoHandsVFsToVMs(t *testing.T) {
	r := clitest.MustRun(t, "demo")
	for _, want := range []string{"Hand VFs to VMs", `<interface type="hostdev" managed="yes">`, "pool vms exhausted (4/4 in use)", "nothing to release"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestPlanRefusesToRemoveAssignedVFs: a policy that shrinks a PF under assigned VFs is refused by plan and
// apply (exit 1, naming the owners, nothing written) unless --force.
func TestPlanRefusesToRemoveAssignedVFs(t *testing.T) {
	labDir, pol := poolLab(t, "i40e", 4)
	lab := []string{"--lab", labDir}
	clitest.MustRun(t, append(lab, "apply", "-f", pol, "--yes")...)
	clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "web1", "--vlan", "10")...) // vf 0
	clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "db1")...)                  // vf 1
	shrink := filepath.Join(t.TempDir(), "shrink.yaml")
	if err := os.WriteFile(shrink, []byte("pfs:\n  - name: eth0\n    numVfs: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := vfs(t, labDir)
	for _, args := range [][]string{{"plan", "-f", shrink}, {"apply", "-f", shrink, "--yes"}} {
		r := clitest.Run(t, append(lab, args...)...)
		if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "assigned to db1 (pool vms") || !strings.Contains(r.Stdout+r.Stderr, "assigned to web1") {
			t.Fatalf("%v: exit %d\n%s\n%s", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	if after := vfs(t, labDir); len(after) != len(before) || after[0].VLAN != 10 {
		t.Fatalf("refused apply changed the host: %+v", after)
	}
	r := clitest.MustRun(t, append(lab, "apply", "-f", shrink, "--yes", "--force")...)
	if !strings.Contains(r.Stdout, "--force: eth0 vf 1 is assigned to db1") {
		t.Fatalf("forced apply does not name the owner:\n%s", r.Stdout)
	}
	if after := vfs(t, labDir); len(after) != 1 {
		t.Fatalf("forced apply left %d VFs", len(after))
	}
	// db1's VF is gone: releasing it only clears the ledger.
	clitest.MustRun(t, append(lab, "release", "--owner", "db1")...)
	if recs, _ := assignments(t, labDir); len(recs) != 1 || recs[0].Owner != "web1" {
		t.Fatalf("assignments %+v", recs)
	}
}

// TestAssignFirstUndoesInterruptedApply: an apply killed half-way would later be undone over the VFs an
// assign configures; assign therefore recovers it first.
func TestAssignFirstUndoesInterruptedApply(t *testing.T) {
	labDir, pol := poolLab(t, "i40e", 4)
	lab := []string{"--lab", labDir}
	initial := vfs(t, labDir)
	vlans := filepath.Join(t.TempDir(), "vlans.yaml")
	if err := os.WriteFile(vlans, []byte("pfs:\n  - name: eth0\n    vfs:\n      - ids: \"0-3\"\n        vlan: 42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Kill it once the first VF has its VLAN (each write takes 400 ms, three more are to come: wide
	// enough for the poller on a loaded 2-core CI machine).
	clitest.MustRun(t, append(lab, "lab", "fault", "--delay", "400ms")...)
	cmd := exec.Command(clitest.Binary(t), append(lab, "apply", "-f", vlans, "--yes")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); vfs(t, labDir)[0].VLAN != 42; {
		if time.Now().After(deadline) {
			t.Fatal("the apply never wrote vf 0")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	clitest.MustRun(t, append(lab, "lab", "fault", "--clear")...)
	if v := vfs(t, labDir); v[0].VLAN != 42 || v[3].VLAN == 42 {
		t.Fatalf("the kill did not land half-way through the apply: %+v", v)
	}
	r := clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "web1", "--vlan", "7", "-f", pol)...)
	if !strings.Contains(r.Stderr, "interrupted apply") {
		t.Fatalf("assign did not recover the apply first: %q", r.Stderr)
	}
	for id, v := range vfs(t, labDir) {
		if id == 0 {
			if v.VLAN != 7 {
				t.Errorf("assigned vf 0 has vlan %d", v.VLAN)
			}
			continue
		}
		if v.VFConfig != initial[id].VFConfig {
			t.Errorf("vf %d not restored: %+v", id, v.VFConfig)
		}
	}
	clitest.MustRun(t, append(lab, "release", "--owner", "web1")...)
	if v := vfs(t, labDir)[0]; v.VFConfig != initial[0].VFConfig || v.Driver != initial[0].Driver {
		t.Errorf("released vf 0 is %+v on %s, want its state from before the interrupted apply", v.VFConfig, v.Driver)
	}
}
