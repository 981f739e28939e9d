package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/applytest"
	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// pfNumVFs reads a lab PF's VF count the way a user would.
func pfNumVFs(t *testing.T, labDir, pf string) int {
	t.Helper()
	var st struct{ PFs []struct{ NumVfs int } }
	if err := json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "show", pf, "--json").Stdout), &st); err != nil || len(st.PFs) != 1 {
		t.Fatalf("show: %v", err)
	}
	return st.PFs[0].NumVfs
}

// TestKill9BetweenTheNumVFsWritesOfPFSetForce: `pf set --force` resizes through 0 with two numvfs
// writes. Killed between them (the PF at 0 VFs), the next command or `recover` brings the PF back with
// its VFs and their settings (before, nothing was recorded and the PF stayed at 0 VFs).
func TestKill9BetweenTheNumVFsWritesOfPFSetForce(t *testing.T) {
	for _, next := range []string{"recover", "vf set"} {
		t.Run(next, func(t *testing.T) {
			labDir := clitest.NewLab(t, "eth0=ice:8")
			clitest.MustRun(t, "--lab", labDir, "pf", "set", "eth0", "--numvfs", "4")
			clitest.MustRun(t, "--lab", labDir, "vf", "set", "eth0", "1", "--vlan", "100", "--trust", "on")
			before := showNormalized(t, labDir)
			clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "400ms")
			cmd := exec.Command(clitest.Binary(t), "--lab", labDir, "pf", "set", "eth0", "--numvfs", "6", "--force")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			journal := filepath.Join(labDir, "state", "apply.journal")
			// The journal records operation 1 (numvfs -> 6) as about to run once operation 0 (-> 0) is done;
			// the lab then sleeps 400ms before writing it.
			waitJournalNext(t, cmd, journal, 1)
			cmd.Process.Kill()
			cmd.Wait()
			// The kill landed between the writes: the PF is at 0 VFs and the journal says so.
			if n := pfNumVFs(t, labDir, "eth0"); n != 0 {
				t.Fatalf("the kill did not land between the numvfs writes: the PF has %d VFs", n)
			}
			if _, err := os.Stat(journal); err != nil {
				t.Fatalf("no journal after the kill: %v", err)
			}
			clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
			if next == "recover" {
				r := clitest.MustRun(t, "--lab", labDir, "recover")
				if !strings.Contains(r.Stdout, "undid the interrupted pf set") {
					t.Fatalf("recover: %s", r.Stdout)
				}
			} else {
				r := clitest.MustRun(t, "--lab", labDir, "vf", "set", "eth0", "0", "--trust", "off")
				if !strings.Contains(r.Stderr, "undid the interrupted pf set") {
					t.Fatalf("vf set did not recover first: %s%s", r.Stdout, r.Stderr)
				}
			}
			if got := showNormalized(t, labDir); got != before {
				t.Fatalf("not restored after the kill:\n%s", got)
			}
			if _, err := os.Stat(journal); !os.IsNotExist(err) {
				t.Fatalf("journal left after recovery: %v", err)
			}
		})
	}
}

// waitJournalNext waits until the journal says operation next is about to run (every earlier one done).
// It reads only the journal, never the lab (whose lock a slowed write holds).
func waitJournalNext(t *testing.T, cmd *exec.Cmd, journal string, next int) {
	t.Helper()
	mark := fmt.Sprintf(`{"next":%d}`, next)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if data, err := os.ReadFile(journal); err == nil && strings.Contains(string(data), mark) {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the journal never reached operation %d", next)
		}
	}
}

// TestRefusalOverAssignedVFsExits1Everywhere: changing a VF handed to an owner is refused with exit 1 by
// every writer (it was 2 from vf set, pf set, vf bind and mirror create, 1 from apply), and nothing is
// written.
func TestRefusalOverAssignedVFsExits1Everywhere(t *testing.T) {
	labDir, pol := poolLab(t, "ice", 4)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--yes")
	clitest.MustRun(t, "--lab", labDir, "assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:01:01")
	shrink := filepath.Join(t.TempDir(), "shrink.yaml")
	writeFile(t, shrink, "pfs: [{name: eth0, numVfs: 2}]\n")
	for _, args := range [][]string{
		{"vf", "set", "eth0", "0", "--vlan", "5"},
		{"vf", "bind", "eth0", "0", "none"},
		{"pf", "set", "eth0", "--numvfs", "0"},
		{"pf", "set", "eth0", "--numvfs", "2", "--force=false"},
		{"mirror", "create", "m", "--pf", "eth0", "--vfs", "0,1", "--mac", "02:00:00:00:00:aa"},
		{"apply", "-f", shrink, "--yes"},
	} {
		ops := labOps(t, labDir)
		r := clitest.Run(t, append([]string{"--lab", labDir}, args...)...)
		if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "assigned to web1") {
			t.Errorf("%v: exit %d, want 1 naming the owner:\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
		if labOps(t, labDir) != ops {
			t.Errorf("%v: a refused command wrote to the host", args)
		}
	}
}

// TestReadCommandsWriteNothing: plan, status, pool list, assignments and mirror list run no recovery and
// create nothing: with a journal left by a killed apply they report it and leave it (and the host)
// alone; on a state directory that does not exist they do not create it.
func TestReadCommandsWriteNothing(t *testing.T) {
	labDir, pol := poolLab(t, "ice", 4)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--yes")
	clitest.MustRun(t, "--lab", labDir, "assign", "--pool", "vms", "--owner", "web1")
	other := filepath.Join(t.TempDir(), "other.yaml")
	writeFile(t, other, "pfs: [{name: eth0, vfs: [{ids: \"2-3\", vlan: 7, trust: true}]}]\n")
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "300ms")
	cmd := exec.Command(clitest.Binary(t), "--lab", labDir, "apply", "-f", other, "--yes")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitJournalNext(t, cmd, filepath.Join(labDir, "state", "apply.journal"), 1)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
	journal := filepath.Join(labDir, "state", "apply.journal")
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("the kill did not land mid-apply: %v", err)
	}
	host := showNormalized(t, labDir)
	ops := labOps(t, labDir)
	for _, args := range [][]string{
		{"plan", "-f", pol}, {"status"}, {"pool", "list"}, {"assignments"}, {"mirror", "list"},
	} {
		r := clitest.MustRun(t, append([]string{"--lab", labDir}, args...)...)
		if !strings.Contains(r.Stdout, "interrupted apply") && !strings.Contains(r.Stdout, "PENDING") {
			t.Errorf("%v does not report the pending recovery:\n%s", args, r.Stdout)
		}
		if _, err := os.Stat(journal); err != nil {
			t.Fatalf("%v removed the journal (ran a recovery): %v", args, err)
		}
		if labOps(t, labDir) != ops || showNormalized(t, labDir) != host {
			t.Fatalf("%v wrote to the host", args)
		}
	}
	// A state directory that does not exist stays absent.
	fresh := filepath.Join(t.TempDir(), "nostate")
	for _, args := range [][]string{{"plan", "-f", pol}, {"status"}, {"assignments"}, {"mirror", "list"}, {"recover"}} {
		clitest.MustRun(t, append([]string{"--lab", labDir, "--state-dir", fresh}, args...)...)
		if _, err := os.Stat(fresh); !os.IsNotExist(err) {
			t.Fatalf("%v created the state directory", args)
		}
	}
}

// interruptApply starts a slowed apply on a new lab, sends it n SIGINTs (300ms apart) once the journal
// says operation next is about to run, and checks that it exits 130. It returns the lab, the host as it
// was before, and the command's stderr.
func interruptApply(t *testing.T, delay string, next, n int) (string, string, *strings.Builder) {
	t.Helper()
	labDir := clitest.NewLab(t, "igb0=igb", "ice0=ice:8")
	pol := filepath.Join(t.TempDir(), "a.yaml")
	writeFile(t, pol, crashPolicies[0])
	before := showNormalized(t, labDir)
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", delay)
	cmd := exec.Command(clitest.Binary(t), "--lab", labDir, "apply", "-f", pol, "--yes")
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitJournalNext(t, cmd, filepath.Join(labDir, "state", "apply.journal"), next)
	for i := range n {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, stderr.String())
	}
	return labDir, before, stderr
}

// TestCtrlCDuringApplyRollsBackAndExits130: SIGINT during a slowed apply stops it, says it rolls back,
// undoes what was written and exits 130; the host is as before and no journal is left.
func TestCtrlCDuringApplyRollsBackAndExits130(t *testing.T) {
	labDir, before, stderr := interruptApply(t, "100ms", 2, 1)
	if !strings.Contains(stderr.String(), "interrupted: stopping; undoing") || !strings.Contains(stderr.String(), "rolled back") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
	if got := showNormalized(t, labDir); got != before {
		t.Fatalf("host not rolled back:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(labDir, "state", "apply.journal")); !os.IsNotExist(err) {
		t.Fatalf("journal left: %v", err)
	}
}

// TestEmptyPolicyDoesNotReplaceDesiredState: a policy naming nothing (`{}`) is refused by apply (exit 2)
// and the stored desired state stays.
func TestEmptyPolicyDoesNotReplaceDesiredState(t *testing.T) {
	labDir := clitest.NewLab(t, "eth0=ice:8")
	pol := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, pol, "pfs: [{name: eth0, numVfs: 2}]\n")
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	desired := filepath.Join(labDir, "state", "desired.yaml")
	want, _ := os.ReadFile(desired)
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	writeFile(t, empty, "{}\n")
	r := clitest.Run(t, "--lab", labDir, "apply", "-f", empty)
	if r.Code != 2 {
		t.Fatalf("exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got, _ := os.ReadFile(desired); string(got) != string(want) {
		t.Fatalf("desired state replaced: %q", got)
	}
}

// TestKill9MirrorCreateBetweenUnbindAndRebind: on igb, mirror create unbinds a member's igbvf, writes the
// shared MAC and binds it again. Killed while the member has no driver, `recover` undoes the writes and
// drops the group (before, nothing repaired it: it stayed "applying" with the VF unbound).
func TestKill9MirrorCreateBetweenUnbindAndRebind(t *testing.T) {
	labDir := clitest.NewLab(t, "eth0=igb")
	clitest.MustRun(t, "--lab", labDir, "pf", "set", "eth0", "--numvfs", "4")
	before := showNormalized(t, labDir)
	l, err := lab.Open(labDir)
	if err != nil {
		t.Fatal(err)
	}
	unbound := func() bool {
		st, err := l.Observe(context.Background())
		if err != nil {
			return false
		}
		for _, v := range st.FindPF("eth0").VFs {
			if v.Driver == "" {
				return true
			}
		}
		return false
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "300ms")
	cmd := exec.Command(clitest.Binary(t), "--lab", labDir, "mirror", "create", "tap", "--pf", "eth0", "--vfs", "1,2", "--mac", "02:00:00:00:00:aa")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !unbound(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("mirror create never unbound a member")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
	if !unbound() {
		t.Fatal("the kill did not land between unbind and rebind")
	}
	r := clitest.MustRun(t, "--lab", labDir, "recover")
	if !strings.Contains(r.Stdout, "mirror group tap") {
		t.Fatalf("recover: %s", r.Stdout)
	}
	if got := showNormalized(t, labDir); got != before {
		t.Fatalf("host not restored:\n%s", got)
	}
	if out := clitest.MustRun(t, "--lab", labDir, "mirror", "list").Stdout; !strings.Contains(out, "no mirror groups") {
		t.Fatalf("group left: %s", out)
	}
}

// TestIGBRollbacksRestoreTheNetdevMAC: on igb a VF netdev takes its admin MAC only when igbvf binds. When
// a write of assign, release or mirror delete fails, the rollback must write the old MAC back before it
// binds igbvf again, or the netdev keeps the new MAC while the tool says "host restored" (they wrote the
// MAC before the unbind/rebind, and the undo, newest first, rebound before restoring the MAC). Each case
// fails at every write in turn.
func TestIGBRollbacksRestoreTheNetdevMAC(t *testing.T) {
	setup := func(t *testing.T) string {
		labDir := clitest.NewLab(t, "eth0=igb")
		clitest.MustRun(t, "--lab", labDir, "pf", "set", "eth0", "--numvfs", "4")
		for _, v := range []string{"0", "1"} {
			clitest.MustRun(t, "--lab", labDir, "vf", "set", "eth0", v, "--mac", "02:00:00:00:00:0"+v, "--reload-vf-driver")
		}
		pol := filepath.Join(t.TempDir(), "p.yaml")
		writeFile(t, pol, "pfs: [{name: eth0, numVfs: 4}]\npools: [{name: vms, pf: eth0, ids: \"0\"}]\n")
		clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
		return labDir
	}
	assign := []string{"assign", "--pool", "vms", "--owner", "vm1", "--mac", "02:00:00:00:00:99"}
	for _, tc := range []struct {
		name    string
		prepare [][]string
		run     []string
	}{
		{"assign", nil, assign},
		{"release", [][]string{assign}, []string{"release", "--owner", "vm1"}},
		{"mirror delete", [][]string{{"mirror", "create", "m", "--pf", "eth0", "--vfs", "0,1", "--mac", "02:00:00:00:00:aa"}}, []string{"mirror", "delete", "m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k := 1; ; k++ {
				labDir := setup(t)
				for _, p := range tc.prepare {
					clitest.MustRun(t, append([]string{"--lab", labDir}, p...)...)
				}
				before := showNormalized(t, labDir)
				clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--fail-at", fmt.Sprint(k), "--errno", "EIO")
				r := clitest.Run(t, append([]string{"--lab", labDir}, tc.run...)...)
				clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
				if r.Code == 0 {
					if k < 3 {
						t.Fatalf("only %d writes: the test did not test", k-1)
					}
					return
				}
				if r.Code != 1 {
					t.Fatalf("fail at %d: exit %d: %s", k, r.Code, r.Stderr)
				}
				if got := showNormalized(t, labDir); got != before {
					t.Fatalf("fail at write %d: %s\nnot restored:\n%s", k, r.Stderr, applytest.Diff(got, before))
				}
			}
		})
	}
}

// TestStoredDesiredStateIsAMerge: applying a file per NIC keeps both in the stored desired state (before,
// the second replaced the first, so restore after a reboot forgot it); --prune replaces it; forget drops
// one entry; a policy directory merges its files in name order and refuses a PF named in two of them.
func TestStoredDesiredStateIsAMerge(t *testing.T) {
	labDir := clitest.NewLab(t, "eth0=ice:8", "eth1=i40e:8")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, "pfs: [{name: eth0, numVfs: 2, vfs: [{ids: \"1\", vlan: 10}]}]\npools: [{name: vms, pf: eth0, ids: \"0\"}]\n")
	writeFile(t, b, "pfs: [{name: eth1, numVfs: 3}]\n")
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", a)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", b)
	clitest.MustRun(t, "--lab", labDir, "lab", "reboot")
	clitest.MustRun(t, "--lab", labDir, "restore", "--yes")
	if n0, n1 := pfNumVFs(t, labDir, "eth0"), pfNumVFs(t, labDir, "eth1"); n0 != 2 || n1 != 3 {
		t.Fatalf("after restore eth0 has %d VFs, eth1 %d; want 2 and 3", n0, n1)
	}
	st := clitest.MustRun(t, "--lab", labDir, "status").Stdout
	for _, want := range []string{"in sync", "pool vms", "(eth0)", "(eth1)"} {
		if !strings.Contains(st, want) {
			t.Fatalf("status lacks %q:\n%s", want, st)
		}
	}
	// Applying a again replaces eth0's entry (no duplicate), keeps eth1.
	writeFile(t, a, "pfs: [{name: eth0, numVfs: 2}]\npools: [{name: vms, pf: eth0, ids: \"0-1\"}]\n")
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", a)
	if st := clitest.MustRun(t, "--lab", labDir, "status").Stdout; strings.Count(st, "pf ") != 2 || !strings.Contains(st, "pool vms: eth0 VFs 0-1") {
		t.Fatalf("status after re-apply:\n%s", st)
	}
	clitest.MustRun(t, "--lab", labDir, "forget", "pf", "eth1")
	if st := clitest.MustRun(t, "--lab", labDir, "status").Stdout; strings.Contains(st, "(eth1)") {
		t.Fatalf("forget left eth1:\n%s", st)
	}
	if r := clitest.Run(t, "--lab", labDir, "forget", "pool", "nope"); r.Code != 2 || !strings.Contains(r.Stderr, "it has: vms") {
		t.Fatalf("forget of an unknown pool: exit %d %s", r.Code, r.Stderr)
	}
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", b, "--prune")
	if st := clitest.MustRun(t, "--lab", labDir, "status").Stdout; strings.Contains(st, "(eth0)") || !strings.Contains(st, "(eth1)") {
		t.Fatalf("--prune kept eth0:\n%s", st)
	}
	// A directory: a.yaml then b.yaml; a PF in two files is an input error naming both.
	pd := filepath.Join(dir, "policy.d")
	os.Mkdir(pd, 0o755)
	writeFile(t, filepath.Join(pd, "10-eth0.yaml"), "pfs: [{name: eth0, numVfs: 4}]\n")
	writeFile(t, filepath.Join(pd, "20-eth1.yaml"), "pfs: [{name: eth1, numVfs: 1}]\n")
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pd, "--yes")
	if n0, n1 := pfNumVFs(t, labDir, "eth0"), pfNumVFs(t, labDir, "eth1"); n0 != 4 || n1 != 1 {
		t.Fatalf("policy dir: eth0 %d VFs, eth1 %d", n0, n1)
	}
	writeFile(t, filepath.Join(pd, "30-again.yaml"), "pfs: [{name: eth0, numVfs: 2}]\n")
	if r := clitest.Run(t, "--lab", labDir, "plan", "-f", pd); r.Code != 2 || !strings.Contains(r.Stderr, "10-eth0.yaml") || !strings.Contains(r.Stderr, "30-again.yaml") {
		t.Fatalf("conflict: exit %d %s", r.Code, r.Stderr)
	}
}

// TestRestoreGivesAssignedVFsTheirOwnersSettings: after a reboot, restore recreates the VFs and gives an
// assigned VF its owner's settings and driver again, so that status and assignments agree (before,
// status said in sync while assignments showed drift).
func TestRestoreGivesAssignedVFsTheirOwnersSettings(t *testing.T) {
	labDir, pol := poolLab(t, "ice", 4)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--yes")
	clitest.MustRun(t, "--lab", labDir, "assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:01:01", "--vlan", "100")
	clitest.MustRun(t, "--lab", labDir, "lab", "reboot")
	if st := clitest.MustRun(t, "--lab", labDir, "status").Stdout; strings.Contains(st, "in sync") {
		t.Fatalf("status after reboot:\n%s", st)
	}
	r := clitest.MustRun(t, "--lab", labDir, "restore", "--yes")
	if !strings.Contains(r.Stdout, "gave web1's settings back") {
		t.Fatalf("restore:\n%s", r.Stdout)
	}
	recs, _ := assignments(t, labDir)
	if out := clitest.MustRun(t, "--lab", labDir, "assignments").Stdout; len(recs) != 1 || !strings.Contains(out, " ok") {
		t.Fatalf("assignments after restore:\n%s", out)
	}
	if st := clitest.MustRun(t, "--lab", labDir, "status").Stdout; !strings.Contains(st, "in sync") {
		t.Fatalf("status after restore:\n%s", st)
	}
}

// TestRestoreWithAMissingPF: a PF of the desired state that is not on the host (a NIC removed, or not up
// yet at boot) no longer stops the restore of the others (before: "no such PF", nothing restored); it is
// reported and the exit is 1, after waiting --wait-pfs for it.
func TestRestoreWithAMissingPF(t *testing.T) {
	labDir := clitest.NewLab(t, "eth0=ice:8", "eth1=i40e:8")
	pol := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, pol, "pfs: [{name: eth0, numVfs: 2}, {name: eth1, numVfs: 3}]\n")
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	// eth1 disappears: the stored state names it by a PCI address the host does not have.
	stateDir := filepath.Join(labDir, "state")
	d, err := apply.LoadDesired(stateDir)
	if err != nil || d == nil {
		t.Fatal(err)
	}
	data := d.Policy
	var eth1 struct{ PFs []struct{ PCIAddress string } }
	json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "show", "eth1", "--json").Stdout), &eth1)
	if len(eth1.PFs) != 1 || !strings.Contains(string(data), eth1.PFs[0].PCIAddress) {
		t.Fatalf("stored state does not name eth1 by PCI address:\n%s", data)
	}
	// Stored through apply.StoreDesired: desired.yaml carries a seal that a hand edit would break.
	if err := apply.StoreDesired(stateDir, []byte(strings.Replace(string(data), eth1.PFs[0].PCIAddress, "0000:99:00.0", 1))); err != nil {
		t.Fatal(err)
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "reboot")
	start := time.Now()
	r := clitest.Run(t, "--lab", labDir, "restore", "--yes", "--wait-pfs", "600ms")
	if r.Code != 1 || !strings.Contains(r.Stderr, "0000:99:00.0") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if time.Since(start) < 600*time.Millisecond {
		t.Fatal("restore did not wait for the missing PF")
	}
	if n := pfNumVFs(t, labDir, "eth0"); n != 2 {
		t.Fatalf("eth0 not restored: %d VFs", n)
	}
}

// TestSecondCtrlCSaysWhatIsLeft: a second Ctrl-C during the rollback stops waiting for it, says that the
// host may be half-changed and that `sriovctl recover` repairs it, and exits 130; recover then brings the
// host back.
func TestSecondCtrlCSaysWhatIsLeft(t *testing.T) {
	// The second Ctrl-C comes 300ms into a rollback of 3-4 writes at 200ms each.
	labDir, before, stderr := interruptApply(t, "200ms", 4, 2)
	if !strings.Contains(stderr.String(), "interrupted again") || !strings.Contains(stderr.String(), "sriovctl recover") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
	clitest.MustRun(t, "--lab", labDir, "recover")
	if got := showNormalized(t, labDir); got != before {
		t.Fatalf("recover did not restore the host:\n%s", applytest.Diff(got, before))
	}
}

// TestMirrorDeleteBindsTheRecordedDriver: a member left without a driver (as a killed create could leave
// it) gets the driver recorded for it back from mirror delete (before, delete ignored it and left the VF
// unbound).
func TestMirrorDeleteBindsTheRecordedDriver(t *testing.T) {
	labDir := clitest.NewLab(t, "eth0=igb")
	clitest.MustRun(t, "--lab", labDir, "pf", "set", "eth0", "--numvfs", "4")
	before := showNormalized(t, labDir)
	clitest.MustRun(t, "--lab", labDir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "1,2", "--mac", "02:00:00:00:00:aa")
	clitest.MustRun(t, "--lab", labDir, "vf", "bind", "eth0", "1", "none")
	clitest.MustRun(t, "--lab", labDir, "mirror", "delete", "m")
	if got := showNormalized(t, labDir); got != before {
		t.Fatalf("mirror delete did not restore the members:\n%s", applytest.Diff(got, before))
	}
}

// TestReadCommandsWorkForAUserWhoCanOnlyRead: plan, status, pool list, assignments and mirror list work
// for a user who may read the state directory but not write it (before, plan and status opened the ledger
// read-write with its lock file and failed; pool list and assignments took the apply lock).
func TestReadCommandsWorkForAUserWhoCanOnlyRead(t *testing.T) {
	runuser, err := exec.LookPath("runuser")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and runuser to run a command as nobody")
	}
	top, err := os.MkdirTemp("", "sriovctl-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	bin := filepath.Join(top, "sriovctl")
	data, err := os.ReadFile(clitest.Binary(t))
	if err != nil || os.WriteFile(bin, data, 0o755) != nil {
		t.Fatal("copy the binary", err)
	}
	labDir := filepath.Join(top, "lab")
	clitest.MustRun(t, "lab", "init", labDir)
	pol := filepath.Join(top, "p.yaml")
	writeFile(t, pol, "pfs: [{name: ens5f0, numVfs: 2}]\npools: [{name: vms, pf: ens5f0, ids: \"0-1\", driver: vfio-pci}]\n")
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol)
	clitest.MustRun(t, "--lab", labDir, "assign", "--pool", "vms", "--owner", "a")
	// Everyone may read (and enter directories); only root may write.
	filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			mode := fi.Mode().Perm()&0o755 | 0o444
			if fi.IsDir() {
				mode |= 0o111
			}
			os.Chmod(p, mode)
		}
		return nil
	})
	for _, args := range [][]string{{"plan", "-f", pol}, {"status"}, {"pool", "list"}, {"assignments"}, {"mirror", "list"}} {
		cmd := exec.Command(runuser, append([]string{"-u", "nobody", "--", bin, "--lab", labDir}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%v as nobody: %v\n%s", args, err, out)
		}
	}
}

// TestReadWaitingForTheLedgerStopsOnCtrlC: while a pool command holds the ledger, status waits for it
// (bounded) and Ctrl-C ends the wait (before, status waited without bound and ignored Ctrl-C).
func TestReadWaitingForTheLedgerStopsOnCtrlC(t *testing.T) {
	labDir, pol := poolLab(t, "ice", 4)
	clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--yes")
	clitest.MustRun(t, "--lab", labDir, "assign", "--pool", "vms", "--owner", "web1")
	held, err := ledger.Open(context.Background(), filepath.Join(labDir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cmd := exec.Command(clitest.Binary(t), "--lab", labDir, "status")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("status did not wait for the ledger held by another command: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Fatalf("exit %v, want 130: %s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("status ignored Ctrl-C while waiting for the ledger")
	}
}

// TestKill9AnyWriterThenRecover kills each writer between two of its host writes (the journal says which
// operation is next) and runs `recover`: the host must then be as before the command, or as the command
// would have left it had it finished, and never anything in between (before, only apply and restore
// journaled their writes).
func TestKill9AnyWriterThenRecover(t *testing.T) {
	mirror := []string{"mirror", "create", "m", "--pf", "eth0", "--vfs", "1,2", "--mac", "02:00:00:00:00:aa"}
	for _, tc := range []struct {
		name    string
		prepare [][]string
		run     []string
		next    int // the operation about to run when killed
		// recorded: a pool command, journaled by its ledger record (no apply journal): killed once the
		// host shows its first write.
		recorded bool
	}{
		{"pf set --force", nil, []string{"pf", "set", "eth0", "--numvfs", "3", "--force"}, 1, false},
		{"vf set --reload-vf-driver", nil, []string{"vf", "set", "eth0", "0", "--mac", "02:00:00:00:00:77", "--vlan", "5", "--reload-vf-driver"}, 2, false},
		{"vf bind", nil, []string{"vf", "bind", "eth0", "3", "vfio-pci"}, 0, false},
		{"mirror create", nil, mirror, 2, false},
		{"mirror delete", [][]string{mirror}, []string{"mirror", "delete", "m"}, 2, false},
		{"assign", nil, []string{"assign", "--pool", "vms", "--owner", "vm1", "--mac", "02:00:00:00:00:99", "--vlan", "7"}, 0, true},
		{"release", [][]string{{"assign", "--pool", "vms", "--owner", "vm1", "--mac", "02:00:00:00:00:99", "--vlan", "7"}}, []string{"release", "--owner", "vm1"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newLab := func() string {
				labDir := clitest.NewLab(t, "eth0=igb")
				pol := filepath.Join(t.TempDir(), "p.yaml")
				writeFile(t, pol, "pfs: [{name: eth0, numVfs: 4, vfs: [{ids: \"0\", mac: \"02:00:00:00:00:10\"}]}]\npools: [{name: vms, pf: eth0, ids: \"0\"}]\n")
				clitest.MustRun(t, "--lab", labDir, "apply", "-f", pol, "--yes")
				for _, p := range tc.prepare {
					clitest.MustRun(t, append([]string{"--lab", labDir}, p...)...)
				}
				return labDir
			}
			// Two labs differ in their PFs' own MACs only.
			state := func(labDir string) string {
				var st sriov.Host
				json.Unmarshal([]byte(clitest.MustRun(t, "--lab", labDir, "show", "--json").Stdout), &st)
				for i := range st.PFs {
					st.PFs[i].MAC = ""
				}
				return applytest.Normalize(&st)
			}
			twin := newLab()
			clitest.MustRun(t, append([]string{"--lab", twin}, tc.run...)...)
			finished := state(twin)

			labDir := newLab()
			before := state(labDir)
			clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--delay", "300ms")
			cmd := exec.Command(clitest.Binary(t), append([]string{"--lab", labDir}, tc.run...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			journal := filepath.Join(labDir, "state", "apply.journal")
			if tc.recorded {
				for deadline := time.Now().Add(30 * time.Second); state(labDir) == before; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						cmd.Wait()
						t.Fatal("the command never wrote the host")
					}
				}
				if _, err := os.Stat(journal); !os.IsNotExist(err) {
					t.Errorf("a pool command wrote the apply journal (its ledger record is its journal): %v", err)
				}
			} else {
				waitJournalNext(t, cmd, journal, tc.next)
			}
			cmd.Process.Kill()
			cmd.Wait()
			clitest.MustRun(t, "--lab", labDir, "lab", "fault", "--clear")
			if (tc.next > 0 || tc.recorded) && state(labDir) == before {
				t.Fatal("the kill did not land between writes: the host is unchanged")
			}
			r := clitest.MustRun(t, "--lab", labDir, "recover")
			got := state(labDir)
			if got != before && got != finished {
				t.Fatalf("after recover (%s) the host is neither as before nor as finished:\nvs before:\n%s\nvs finished:\n%s", strings.TrimSpace(r.Stdout), applytest.Diff(got, before), applytest.Diff(got, finished))
			}
			if _, err := os.Stat(filepath.Join(labDir, "state", "apply.journal")); !os.IsNotExist(err) {
				t.Fatalf("journal left after recover: %v", err)
			}
			// The records agree with the host: nothing is left half-done for a later command.
			if st := clitest.MustRun(t, "--lab", labDir, "status").Stdout; strings.Contains(st, "PENDING") {
				t.Fatalf("status after recover:\n%s", st)
			}
		})
	}
}
