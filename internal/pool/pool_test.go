package pool

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// env is a lab host with one PF of n VFs, an open ledger and a pool over the given VF ids.
// held is what `sriovctl assignments` shows: the records with their VFs' state on the host.
func (e *env) held() ([]Held, error) {
	st, err := e.m.Host.Observe(context.Background())
	if err != nil {
		return nil, err
	}
	recs, err := e.m.Ledger.All()
	return HeldOn(st, recs), err
}

// statuses is what `sriovctl pool list` shows.
func (e *env) statuses(pools []policy.Pool) ([]Status, error) {
	st, err := e.m.Host.Observe(context.Background())
	if err != nil {
		return nil, err
	}
	recs, err := e.m.Ledger.All()
	return StatusesOn(st, recs, pools), err
}

type env struct {
	t    *testing.T
	lab  *lab.Lab
	m    *Manager
	pool policy.Pool
}

func newEnv(t *testing.T, profile string, numVFs int, ids, driver string) *env {
	t.Helper()
	ctx := context.Background()
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), []lab.NIC{{Name: "eth0", Profile: profile, TotalVFs: 2 * numVFs}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetNumVFs(ctx, "eth0", numVFs); err != nil {
		t.Fatal(err)
	}
	led, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	vfids, err := policy.ParseIDs(ids)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, lab: l, m: &Manager{Host: l, Ledger: led},
		pool: policy.Pool{Name: "vms", PF: "eth0", IDs: ids, VFIDs: vfids, Driver: driver}}
}

func (e *env) vf(id int) sriov.VF {
	e.t.Helper()
	st, err := e.lab.Observe(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return *st.FindPF("eth0").VF(id)
}

func (e *env) assign(owner string, s sriov.VFSettings) (ledger.Record, bool, error) {
	a, err := e.m.Assign(context.Background(), Request{Pool: e.pool, Owner: owner, Settings: s})
	return a.Record, a.Existing, err
}

func (e *env) mustAssign(owner string, s sriov.VFSettings) ledger.Record {
	e.t.Helper()
	r, _, err := e.assign(owner, s)
	if err != nil {
		e.t.Fatalf("assign %s: %v", owner, err)
	}
	return r
}

// sameAdminState compares what sriovctl sets: the admin configuration and the driver (not the netdev's
// own MAC, which the driver derives).
func sameAdminState(a, b sriov.VF) bool { return a.VFConfig == b.VFConfig && a.Driver == b.Driver }

func ptr[T any](v T) *T { return &v }

// fullSettings touches every attribute assign offers.
func fullSettings(mac string) sriov.VFSettings {
	return sriov.VFSettings{MAC: ptr(mac), VLAN: ptr(100), QoS: ptr(3), SpoofCheck: ptr(false), Trust: ptr(true), MaxTxRateMbps: ptr(500)}
}

func TestAssignAppliesSettingsAndReleaseRestoresExactPriorState(t *testing.T) {
	e := newEnv(t, "i40e", 4, "0-3", "vfio-pci")
	ctx := context.Background()
	// A prior state far from the defaults, so that restoring defaults would be caught.
	prior := sriov.VFSettings{MAC: ptr("02:aa:00:00:00:01"), VLAN: ptr(7), QoS: ptr(1), SpoofCheck: ptr(false), Trust: ptr(true), MaxTxRateMbps: ptr(250)}
	for _, id := range []int{0} {
		c := prior.ApplyTo(e.vf(id).VFConfig)
		for _, step := range []error{
			e.lab.SetVFMAC(ctx, "eth0", id, c.MAC), e.lab.SetVFVLAN(ctx, "eth0", id, c.VLAN, c.QoS, c.VLANProto),
			e.lab.SetVFSpoofCheck(ctx, "eth0", id, c.SpoofCheck), e.lab.SetVFTrust(ctx, "eth0", id, c.Trust),
			e.lab.SetVFRate(ctx, "eth0", id, 0, c.MaxTxRateMbps),
		} {
			if step != nil {
				t.Fatal(step)
			}
		}
	}
	before := e.vf(0)
	s := sriov.VFSettings{MAC: ptr("02:00:00:00:01:01"), VLAN: ptr(100), QoS: ptr(3), SpoofCheck: ptr(true), Trust: ptr(false), MaxTxRateMbps: ptr(1000)}
	r := e.mustAssign("web1", s)
	if r.VF != 0 || r.State != ledger.StateAssigned || r.Lease == "" || r.PCIAddress != before.PCIAddress {
		t.Fatalf("record %+v", r)
	}
	got := e.vf(0)
	if got.VFConfig != s.ApplyTo(before.VFConfig) || got.Driver != "vfio-pci" {
		t.Fatalf("assigned VF %+v, want %+v on vfio-pci", got, s.ApplyTo(before.VFConfig))
	}
	done, err := e.m.Release(ctx, Selector{Owner: "web1"})
	if err != nil || len(done) != 1 {
		t.Fatalf("release: %v %+v", err, done)
	}
	if after := e.vf(0); !reflect.DeepEqual(after.VFConfig, before.VFConfig) || after.Driver != before.Driver {
		t.Fatalf("after release %+v, want %+v", after, before)
	}
	if all, _ := e.m.Ledger.All(); len(all) != 0 {
		t.Fatalf("ledger after release: %+v", all)
	}
}

func TestAssignIsIdempotentPerOwner(t *testing.T) {
	e := newEnv(t, "ice", 4, "0-3", "vfio-pci")
	s := fullSettings("02:00:00:00:01:01")
	first := e.mustAssign("web1", s)
	again, existing, err := e.assign("web1", fullSettings("02:00:00:00:01:01"))
	if err != nil || !existing || again.Lease != first.Lease || again.VF != first.VF {
		t.Fatalf("second assign: %+v existing=%v err=%v; first %+v", again, existing, err, first)
	}
	_, _, err = e.assign("web1", fullSettings("02:00:00:00:01:02"))
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("assign with other settings: %v, want a ConflictError", err)
	}
	if other := e.mustAssign("web2", sriov.VFSettings{}); other.VF == first.VF {
		t.Fatalf("two owners got VF %d", other.VF)
	}
}

func TestExhausted(t *testing.T) {
	e := newEnv(t, "ice", 6, "1-4", "")
	for i := range 4 {
		e.mustAssign(fmt.Sprintf("vm%d", i), sriov.VFSettings{})
	}
	_, _, err := e.assign("vm9", sriov.VFSettings{})
	if err == nil || err.Error() != "pool vms exhausted (4/4 in use)" {
		t.Fatalf("err %v", err)
	}
	sts, err := e.statuses([]policy.Pool{e.pool})
	if err != nil || sts[0].Used != 4 || sts[0].Free != 0 || len(sts[0].Owners) != 4 {
		t.Fatalf("status %+v %v", sts, err)
	}
}

// TestExhaustedNamesMissingVFs: a pool whose PF has fewer VFs than the pool names is exhausted with
// fewer than all in use; the message says why instead of a bare "(2/4 in use)".
func TestExhaustedNamesMissingVFs(t *testing.T) {
	e := newEnv(t, "ice", 2, "0-3", "")
	e.mustAssign("vm0", sriov.VFSettings{})
	e.mustAssign("vm1", sriov.VFSettings{})
	_, _, err := e.assign("vm9", sriov.VFSettings{})
	want := "pool vms exhausted (2/4 in use); VFs 2-3 of the pool do not exist on the PF now (numVfs too low)"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

func TestStaleLeaseNeverTouchesReassignedVF(t *testing.T) {
	e := newEnv(t, "ice", 1, "0", "vfio-pci")
	ctx := context.Background()
	old := e.mustAssign("a", sriov.VFSettings{MAC: ptr("02:00:00:00:00:0a")})
	if done, err := e.m.Release(ctx, Selector{Lease: old.Lease}); err != nil || len(done) != 1 {
		t.Fatalf("release: %v %+v", err, done)
	}
	cur := e.mustAssign("b", sriov.VFSettings{MAC: ptr("02:00:00:00:00:0b"), VLAN: ptr(20)})
	if cur.VF != old.VF || cur.Lease == old.Lease {
		t.Fatalf("reassigned %+v", cur)
	}
	before := e.vf(0)
	ops, _ := e.lab.MutatingOps()
	for _, sel := range []Selector{{Lease: old.Lease}, {Owner: "a"}} {
		done, err := e.m.Release(ctx, sel)
		if err != nil || len(done) != 0 {
			t.Fatalf("stale release %+v: %v %+v", sel, err, done)
		}
	}
	if after, _ := e.lab.MutatingOps(); after != ops || !reflect.DeepEqual(e.vf(0), before) {
		t.Fatalf("stale release wrote to the host: %d -> %d writes", ops, after)
	}
	if all, _ := e.m.Ledger.All(); len(all) != 1 || all[0].Owner != "b" {
		t.Fatalf("ledger %+v", all)
	}
}

// TestFaultAtEveryWriteLeavesVFFree fails each host write of an assign in turn: the VF must come back
// unchanged and free.
func TestFaultAtEveryWriteLeavesVFFree(t *testing.T) {
	for n := 1; ; n++ {
		e := newEnv(t, "i40e", 2, "0-1", "vfio-pci")
		before := e.vf(0)
		if err := e.lab.SetFault(lab.FaultConfig{FailAt: n}); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.assign("web1", fullSettings("02:00:00:00:01:01"))
		if err == nil {
			if n < 4 {
				t.Fatalf("assign made only %d writes", n-1)
			}
			return // every write index has been failed once
		}
		if !sameAdminState(e.vf(0), before) {
			t.Fatalf("fail-at %d: VF %+v, want %+v", n, e.vf(0), before)
		}
		if all, _ := e.m.Ledger.All(); len(all) != 0 {
			t.Fatalf("fail-at %d: ledger %+v", n, all)
		}
	}
}

// TestReleaseFaultKeepsAssignment fails each write of a release: the VF keeps its owner's settings and
// stays assigned, so a retry can release it.
func TestReleaseFaultKeepsAssignment(t *testing.T) {
	for n := 1; n < 10; n++ {
		e := newEnv(t, "i40e", 2, "0-1", "vfio-pci")
		r := e.mustAssign("web1", fullSettings("02:00:00:00:01:01"))
		assigned := e.vf(0)
		if err := e.lab.SetFault(lab.FaultConfig{FailAt: n}); err != nil {
			t.Fatal(err)
		}
		done, err := e.m.Release(context.Background(), Selector{Lease: r.Lease})
		if err == nil {
			if len(done) != 1 {
				t.Fatalf("release %+v", done)
			}
			return
		}
		if !sameAdminState(e.vf(0), assigned) {
			t.Fatalf("fail-at %d: VF %+v, want %+v", n, e.vf(0), assigned)
		}
		if all, _ := e.m.Ledger.All(); len(all) != 1 || all[0].State != ledger.StateAssigned {
			t.Fatalf("fail-at %d: ledger %+v", n, all)
		}
	}
	t.Fatal("release never succeeded")
}

// TestRepairRestoresInterruptedCommands stands for a process killed between recording intent and
// recording completion: half-written host state plus an "assigning" or "releasing" record.
func TestRepairRestoresInterruptedCommands(t *testing.T) {
	for _, state := range []ledger.State{ledger.StateAssigning, ledger.StateReleasing} {
		t.Run(string(state), func(t *testing.T) {
			e := newEnv(t, "igb", 2, "0-1", "vfio-pci")
			ctx := context.Background()
			before := e.vf(1)
			r := e.mustAssign("web1", fullSettings("02:00:00:00:01:01"))
			// Half of the release (or half of the assign) done: MAC back, the rest not.
			if err := e.lab.SetVFMAC(ctx, "eth0", r.VF, before.MAC); err != nil {
				t.Fatal(err)
			}
			r.State = state
			if err := e.m.Ledger.Put(r); err != nil {
				t.Fatal(err)
			}
			fixed, err := e.m.Repair(ctx)
			if err != nil || len(fixed) != 1 {
				t.Fatalf("repair: %v %+v", err, fixed)
			}
			if got := e.vf(r.VF); got.VFConfig != before.VFConfig || got.Driver != before.Driver {
				t.Fatalf("repaired VF %+v, want %+v", got, before)
			}
			if all, _ := e.m.Ledger.All(); len(all) != 0 {
				t.Fatalf("ledger %+v", all)
			}
		})
	}
}

func TestReleaseOnIgbRebindsSoNetdevLosesOwnerMAC(t *testing.T) {
	e := newEnv(t, "igb", 2, "0-1", "") // no pool driver: the VF stays on igbvf
	r := e.mustAssign("c1", sriov.VFSettings{MAC: ptr("02:00:00:00:02:01")})
	if got := e.vf(r.VF); got.NetdevMAC != "02:00:00:00:02:01" {
		t.Fatalf("netdev MAC %s after assign, want the owner's MAC (igb needs a VF driver reload)", got.NetdevMAC)
	}
	if _, err := e.m.Release(context.Background(), Selector{Owner: "c1"}); err != nil {
		t.Fatal(err)
	}
	if got := e.vf(r.VF); got.NetdevMAC == "02:00:00:00:02:01" || got.MAC != sriov.ZeroMAC {
		t.Fatalf("after release the VF still carries the last owner's MAC: %+v", got)
	}
}

// TestReleaseOnIgbKeepsClearAdminMACClear: a VF that had no admin MAC before its assignment has none after
// its release, although igb reports igbvf's own MAC once igbvf binds again.
func TestReleaseOnIgbKeepsClearAdminMACClear(t *testing.T) {
	for _, c := range []struct {
		driver string
		s      sriov.VFSettings
	}{
		{"vfio-pci", sriov.VFSettings{}},
		{"vfio-pci", sriov.VFSettings{MAC: ptr("02:00:00:00:02:01")}},
		{"", sriov.VFSettings{MAC: ptr("02:00:00:00:02:01")}}, // stays on igbvf: reloaded for the MAC
	} {
		e := newEnv(t, "igb", 2, "0-1", c.driver)
		e.m.Host = e.lab // the lab emulates igb reporting igbvf's MAC after a rebind (rebindReportsVfMac)
		before := e.vf(0)
		e.mustAssign("c1", c.s)
		if _, err := e.m.Release(context.Background(), Selector{Owner: "c1"}); err != nil {
			t.Fatal(err)
		}
		if got := e.vf(0); !sameAdminState(got, before) {
			t.Fatalf("pool driver %q, settings %+v: after release VF %+v, want %+v", c.driver, c.s, got, before)
		}
	}
}

func TestAssignRefusesWhatTheDriverRefuses(t *testing.T) {
	e := newEnv(t, "igb", 2, "0-1", "")
	_, _, err := e.assign("x", sriov.VFSettings{MaxTxRateMbps: ptr(5000)}) // above igb's 1 Gb/s link
	if err == nil {
		t.Fatal("assign above the link speed succeeded")
	}
	if all, _ := e.m.Ledger.All(); len(all) != 0 {
		t.Fatalf("ledger %+v", all)
	}
	ops, _ := e.lab.MutatingOps()
	if ops != 1 { // the numvfs write of the setup only
		t.Fatalf("%d host writes", ops)
	}
}

func TestDriftIsShownAndReassertedAndMissingVFsReported(t *testing.T) {
	e := newEnv(t, "i40e", 2, "0-1", "vfio-pci")
	ctx := context.Background()
	s := sriov.VFSettings{MAC: ptr("02:00:00:00:01:01"), VLAN: ptr(100)}
	r := e.mustAssign("web1", s)
	want := e.vf(r.VF)
	// Someone else's `vf set` and `vf bind` behind the ledger's back.
	if err := e.lab.SetVFVLAN(ctx, "eth0", r.VF, 5, 0, sriov.VLANProto8021Q); err != nil {
		t.Fatal(err)
	}
	if err := e.lab.BindVF(ctx, "eth0", r.VF, "iavf"); err != nil {
		t.Fatal(err)
	}
	held, err := e.held()
	if err != nil || len(held) != 1 || !strings.Contains(held[0].Host, "drift: vlan (5 qos 0 -> 100 qos 0), driver (iavf -> vfio-pci)") {
		t.Fatalf("assignments: %v %+v", err, held)
	}
	again, err := e.m.Assign(ctx, Request{Pool: e.pool, Owner: "web1", Settings: s})
	if err != nil || !again.Existing || len(again.Reapplied) != 2 || again.Lease != r.Lease {
		t.Fatalf("assign again: %v %+v", err, again)
	}
	if got := e.vf(r.VF); !sameAdminState(got, want) {
		t.Fatalf("not re-applied: %+v, want %+v", got, want)
	}
	if held, _ := e.held(); held[0].Host != "ok" {
		t.Fatalf("after re-apply: %s", held[0].Host)
	}

	if err := e.lab.Reboot(); err != nil { // every VF gone
		t.Fatal(err)
	}
	if held, _ := e.held(); held[0].Host != "missing" {
		t.Fatalf("after reboot: %s", held[0].Host)
	}
	var me *MissingError
	if _, err := e.m.Assign(ctx, Request{Pool: e.pool, Owner: "web1", Settings: s}); !errors.As(err, &me) {
		t.Fatalf("assign of a vanished VF: %v", err)
	}
	if done, err := e.m.Release(ctx, Selector{Owner: "web1"}); err != nil || len(done) != 1 {
		t.Fatalf("release of a vanished VF: %v %+v", err, done)
	}
}

// TestReleaseFaultKeepsStuckAssigningForRepair: a release of an assignment that never completed (its
// record stuck "assigning" after a failed repair) that fails and rolls back must leave the record
// "assigning", not promote it to "assigned": the VF is half-configured and the owner was never told.
func TestReleaseFaultKeepsStuckAssigningForRepair(t *testing.T) {
	e := newEnv(t, "i40e", 2, "0-1", "vfio-pci")
	ctx := context.Background()
	r := e.mustAssign("web1", fullSettings("02:00:00:00:01:01"))
	r.State = ledger.StateAssigning
	if err := e.m.Ledger.Put(r); err != nil {
		t.Fatal(err)
	}
	if err := e.lab.SetFault(lab.FaultConfig{FailAt: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Release(ctx, Selector{Owner: "web1"}); err == nil {
		t.Fatal("release with a fault at write 2 succeeded")
	}
	all, _ := e.m.Ledger.All()
	if len(all) != 1 || all[0].State != ledger.StateAssigning {
		t.Fatalf("ledger after a failed release of a stuck assignment: %+v, want it still %s", all, ledger.StateAssigning)
	}
}

// TestMACPickedByTheVMIsNoDrift: a VF handed out without an admin MAC gets one when the VM starts
// (libvirt picks it, having no <mac> in the element assign printed). That is no drift, and the owner
// asking again must not write 00:00:00:00:00:00 under the running VM.
func TestMACPickedByTheVMIsNoDrift(t *testing.T) {
	e := newEnv(t, "i40e", 2, "0-1", "vfio-pci")
	ctx := context.Background()
	s := sriov.VFSettings{VLAN: ptr(100)}
	r := e.mustAssign("web1", s)
	if r.Config.MAC != sriov.ZeroMAC {
		t.Fatalf("assigned MAC %s, want none", r.Config.MAC)
	}
	if err := e.lab.SetVFMAC(ctx, "eth0", r.VF, "52:54:00:12:34:56"); err != nil { // libvirt at VM start
		t.Fatal(err)
	}
	if held, err := e.held(); err != nil || held[0].Host != "ok" {
		t.Fatalf("assignments: %v %+v", err, held)
	}
	again, err := e.m.Assign(ctx, Request{Pool: e.pool, Owner: "web1", Settings: s})
	if err != nil || len(again.Reapplied) != 0 {
		t.Fatalf("assign again: %v %+v", err, again)
	}
	if got := e.vf(r.VF); got.MAC != "52:54:00:12:34:56" {
		t.Fatalf("assign again rewrote the VM's MAC: %s", got.MAC)
	}
}

// observeCounter is the lab, counting whole-host and one-PF observations.
type observeCounter struct {
	*lab.Lab
	all, one int
}

func (c *observeCounter) Observe(ctx context.Context) (*sriov.Host, error) {
	c.all++
	return c.Lab.Observe(ctx)
}

func (c *observeCounter) ObservePF(ctx context.Context, ref string) (*sriov.PF, bool, error) {
	c.one++
	return c.Lab.ObservePF(ctx, ref)
}

// TestAssignObservesThePoolsPFOnly: an assign, and a release of its VF, read the pool's PF alone (a host
// with many 256-VF PFs would otherwise answer every VF of every PF), once each; a pool whose PF is
// missing still names the PFs there are.
func TestAssignObservesThePoolsPFOnly(t *testing.T) {
	e := newEnv(t, "ice", 4, "0-3", "vfio-pci")
	c := &observeCounter{Lab: e.lab}
	e.m.Host = c
	if _, _, err := e.assign("web1", sriov.VFSettings{}); err != nil {
		t.Fatal(err)
	}
	if c.all != 0 || c.one != 1 {
		t.Fatalf("assign observed the whole host %d times and the pool's PF %d times, want 0 and 1", c.all, c.one)
	}
	if _, err := e.m.Release(context.Background(), Selector{Owner: "web1"}); err != nil {
		t.Fatal(err)
	}
	if c.all != 0 || c.one != 2 || e.vf(0).Driver == "vfio-pci" {
		t.Fatalf("release: whole host %d, one PF %d, vf 0 driver %q", c.all, c.one, e.vf(0).Driver)
	}
	e.pool.PF = "eth7"
	_, _, err := e.assign("web2", sriov.VFSettings{})
	var pe *PFError
	if !errors.As(err, &pe) || pe.Have != "eth0" {
		t.Fatalf("missing PF: %v", err)
	}
}

// TestAssignTrustedOnIgbWritesTheNetdevAddress: a VF that stays on igbvf and ends trusted takes the
// owner's MAC by a write of its netdev's address (no reload); an untrusted one is reloaded. After the
// release the netdev no longer carries the owner's MAC either way.
func TestAssignTrustedOnIgbWritesTheNetdevAddress(t *testing.T) {
	const mac = "02:00:00:00:02:01"
	prof, _ := nicprofile.ByName("igb")
	cur := sriov.VF{ID: 1, Driver: "igbvf", Netdev: "eth0v1", NetdevMAC: "6a:00:00:00:00:01", VFConfig: sriov.DefaultVFConfig()}
	for _, c := range []struct {
		trust bool
		kinds string
	}{
		{true, "mac trust netdevMac"},
		{false, "mac driver mac driver"}, // the clear admin MAC written again first, for an undo
	} {
		want := cur.VFConfig
		want.MAC, want.Trust = mac, c.trust
		var kinds []string
		for _, o := range ConvergeOps("eth0", prof, cur, want, "igbvf", "assign") {
			kinds = append(kinds, string(o.Kind))
		}
		if got := strings.Join(kinds, " "); got != c.kinds {
			t.Errorf("trust %v: ops %s, want %s", c.trust, got, c.kinds)
		}

		e := newEnv(t, "igb", 2, "0-1", "")
		r := e.mustAssign("c1", sriov.VFSettings{MAC: ptr(mac), Trust: ptr(c.trust)})
		if got := e.vf(r.VF); got.NetdevMAC != mac || got.MAC != mac {
			t.Fatalf("trust %v: admin MAC %s, netdev MAC %s after assign, want both %s", c.trust, got.MAC, got.NetdevMAC, mac)
		}
		if _, err := e.m.Release(context.Background(), Selector{Owner: "c1"}); err != nil {
			t.Fatal(err)
		}
		if got := e.vf(r.VF); got.NetdevMAC == mac || got.MAC != sriov.ZeroMAC || got.Trust {
			t.Fatalf("trust %v: after release the VF still carries the owner's settings: %+v", c.trust, got)
		}
	}
}
