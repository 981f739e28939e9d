package change_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

func observe(t *testing.T, l *lab.Lab) string {
	t.Helper()
	st, err := l.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The VF netdev's own MAC is the guest side: after an admin MAC is cleared a real VF keeps or
	// regenerates its MAC, so no tool can restore it. Everything sriovctl manages must match.
	for i := range st.PFs {
		for j := range st.PFs[i].VFs {
			st.PFs[i].VFs[j].NetdevMAC = ""
		}
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// setup gives an ice PF with 4 VFs, two of them configured.
func setup(t *testing.T) (*lab.Lab, *sriov.PF) {
	t.Helper()
	ctx := context.Background()
	l, err := lab.Init(filepath.Join(t.TempDir(), "lab"), []lab.NIC{{Name: "p0", Profile: "ice", TotalVFs: 8}})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.SetNumVFs(ctx, "p0", 4))
	must(l.SetVFMAC(ctx, "p0", 1, "02:00:00:00:00:01"))
	must(l.SetVFVLAN(ctx, "p0", 1, 100, 2, sriov.VLANProto8021Q))
	must(l.SetVFTrust(ctx, "p0", 2, true))
	must(l.BindVF(ctx, "p0", 3, "vfio-pci"))
	st, err := l.Observe(ctx)
	must(err)
	return l, st.FindPF("p0")
}

// opsFor builds a change touching several VFs, the PF's MTU and a resize, so every kind of undo is exercised.
func opsFor(p *sriov.PF) []change.Op {
	want := p.VFs[0].VFConfig
	want.MAC, want.VLAN, want.SpoofCheck, want.MaxTxRateMbps = "02:00:00:00:00:09", 300, false, 500
	ops := change.Diff("p0", p.VFs[0], want, "test")
	want2 := p.VFs[2].VFConfig
	want2.LinkState, want2.Trust = sriov.LinkStateDisable, false
	ops = append(ops, change.Diff("p0", p.VFs[2], want2, "test")...)
	ops = append(ops,
		change.Op{Kind: change.KindNumVFs, PF: "p0", VF: -1, From: change.Value{NumVFs: 4}, To: change.Value{NumVFs: 0}, PriorVFs: p.VFs},
		change.Op{Kind: change.KindNumVFs, PF: "p0", VF: -1, From: change.Value{NumVFs: 0}, To: change.Value{NumVFs: 6}},
		change.Op{Kind: change.KindMTU, PF: "p0", VF: -1, From: change.Value{MTU: p.MTU}, To: change.Value{MTU: 9000}},
	)
	return ops
}

func TestRunAppliesAll(t *testing.T) {
	l, p := setup(t)
	ops := opsFor(p)[:6]
	res, err := change.Run(context.Background(), l, ops, change.Hooks{})
	if err != nil || res.Writes != len(ops) {
		t.Fatalf("writes %d err %v", res.Writes, err)
	}
	st, _ := l.Observe(context.Background())
	v := st.FindPF("p0").VFs[0]
	if v.MAC != "02:00:00:00:00:09" || v.VLAN != 300 || v.SpoofCheck || v.MaxTxRateMbps != 500 {
		t.Fatalf("vf 0 = %+v", v)
	}
}

// TestRollbackAtEveryOperation injects a failure at each operation index and checks that the host ends
// exactly as it was, including VFs destroyed by a resize and a vfio-pci binding.
func TestRollbackAtEveryOperation(t *testing.T) {
	_, p0 := setup(t)
	n := len(opsFor(p0))
	for k := 1; k <= n; k++ {
		l, p := setup(t)
		before := observe(t, l)
		if err := l.SetFault(lab.FaultConfig{FailAt: k, Errno: "EIO"}); err != nil {
			t.Fatal(err)
		}
		res, err := change.Run(context.Background(), l, opsFor(p), change.Hooks{})
		var fe *change.FailedError
		if !errors.As(err, &fe) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("fail at %d: err %v", k, err)
		}
		if res.Writes != k-1 || !res.RolledBack || len(res.Unrestored) != 0 {
			t.Fatalf("fail at %d: %+v", k, res)
		}
		if !strings.Contains(err.Error(), "host restored to its prior state") {
			t.Fatalf("message %q", err)
		}
		if after := observe(t, l); after != before {
			t.Fatalf("fail at op %d: host not restored\nbefore %s\nafter  %s", k, before, after)
		}
	}
}

func TestUnrestorableIsReported(t *testing.T) {
	l, p := setup(t)
	ops := opsFor(p)[:2]
	// Op 2 fails, and the undo of op 1 fails too.
	if err := l.SetFault(lab.FaultConfig{FailAt: 2}); err != nil {
		t.Fatal(err)
	}
	failUndo := &failingHost{Host: l, failOn: 3}
	_, err := change.Run(context.Background(), failUndo, ops, change.Hooks{})
	if !change.IsRollbackFailure(err) || !strings.Contains(err.Error(), "could NOT restore: p0 vf 0: mac 02:00:00:00:00:09 -> 00:00:00:00:00:00") {
		t.Fatalf("err = %v", err)
	}
}

// failingHost fails its Nth call with EIO, to make an undo fail.
type failingHost struct {
	host.Host
	calls, failOn int
}

func (f *failingHost) SetVFMAC(ctx context.Context, pf string, vf int, mac string) error {
	f.calls++
	if f.calls == 2 {
		return host.Errorf("set mac", syscall.EIO, "")
	}
	return f.Host.SetVFMAC(ctx, pf, vf, mac)
}

func TestDiffOnlyChangedGroups(t *testing.T) {
	cur := sriov.VF{ID: 3, VFConfig: sriov.DefaultVFConfig()}
	want := cur.VFConfig
	if ops := change.Diff("p", cur, want, ""); len(ops) != 0 {
		t.Fatalf("no change gave %v", ops)
	}
	want.VLAN, want.Trust = 5, true
	ops := change.Diff("p", cur, want, "")
	kinds := []change.Kind{}
	for _, o := range ops {
		kinds = append(kinds, o.Kind)
	}
	if !reflect.DeepEqual(kinds, []change.Kind{change.KindVLAN, change.KindTrust}) {
		t.Fatalf("kinds %v", kinds)
	}
	if got := ops[0].Describe(); got != "p vf 3: vlan 0 (flat) -> 5" {
		t.Fatalf("describe %q", got)
	}
}

func TestHooksSeeEveryOperation(t *testing.T) {
	l, p := setup(t)
	ops := opsFor(p)[:3]
	var before, after []int
	_, err := change.Run(context.Background(), l, ops, change.Hooks{
		Before: func(i int, o change.Op) error { before = append(before, i); return nil },
		After:  func(i int, o change.Op) { after = append(after, i) },
	})
	if err != nil || !reflect.DeepEqual(before, []int{0, 1, 2}) || !reflect.DeepEqual(after, []int{0, 1, 2}) {
		t.Fatalf("before %v after %v err %v", before, after, err)
	}
}

// unconfirmingHost makes its Nth write, and only that one, reach the host and then fail to confirm, as
// the kernel backend does when sriov_numvfs was written but the VFs did not appear in time.
type unconfirmingHost struct {
	host.Host
	calls, at int
}

func (u *unconfirmingHost) step(err error) error {
	u.calls++
	if err == nil && u.calls == u.at {
		return host.WrittenUnconfirmed(errors.New("timed out waiting for the VFs"))
	}
	return err
}

func (u *unconfirmingHost) SetNumVFs(ctx context.Context, pf string, n int) error {
	return u.step(u.Host.SetNumVFs(ctx, pf, n))
}

func (u *unconfirmingHost) SetVFMAC(ctx context.Context, pf string, vf int, mac string) error {
	return u.step(u.Host.SetVFMAC(ctx, pf, vf, mac))
}

func (u *unconfirmingHost) SetVFVLAN(ctx context.Context, pf string, vf int, vlan, qos int, proto sriov.VLANProto) error {
	return u.step(u.Host.SetVFVLAN(ctx, pf, vf, vlan, qos, proto))
}

// TestUnconfirmedWriteIsUndone: a write that reached the host but failed to confirm is undone like a done
// one (before this, Run undid only the writes before it and said "host restored" with the host changed),
// and the error says it was written but not confirmed.
func TestUnconfirmedWriteIsUndone(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  func(p *sriov.PF) []change.Op
		at   int
		kind change.Kind
	}{
		{"first write (mac)", func(p *sriov.PF) []change.Op { return opsFor(p)[:2] }, 1, change.KindMAC},
		{"second write (vlan)", func(p *sriov.PF) []change.Op { return opsFor(p)[:3] }, 2, change.KindVLAN},
		{"numvfs to 0", func(p *sriov.PF) []change.Op { return opsFor(p)[6:] }, 1, change.KindNumVFs},
		{"numvfs to 6", func(p *sriov.PF) []change.Op { return opsFor(p)[6:] }, 2, change.KindNumVFs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, p := setup(t)
			before := observe(t, l)
			ops := tc.ops(p)
			res, err := change.Run(context.Background(), &unconfirmingHost{Host: l, at: tc.at}, ops, change.Hooks{})
			var fe *change.FailedError
			if !errors.As(err, &fe) || fe.Outcome != host.Unconfirmed {
				t.Fatalf("err %v", err)
			}
			if res.Unconfirmed == nil || res.Unconfirmed.Kind != tc.kind || !res.RolledBack || res.Writes != tc.at-1 {
				t.Fatalf("result %+v", res)
			}
			if msg := err.Error(); !strings.Contains(msg, "written but not confirmed") || !strings.Contains(msg, "undone") || strings.Contains(msg, "host restored") {
				t.Fatalf("message %q", msg)
			}
			if after := observe(t, l); after != before {
				t.Fatalf("host not restored\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestMTUOp(t *testing.T) {
	o := change.Op{Kind: change.KindMTU, PF: "p0", VF: -1, From: change.Value{MTU: 1500}, To: change.Value{MTU: 9000}}
	if got := o.Describe(); got != "p0: mtu 1500 -> 9000" {
		t.Fatalf("describe %q", got)
	}
	l, _ := setup(t)
	before := observe(t, l)
	if err := l.SetFault(lab.FaultConfig{FailAt: 2}); err != nil {
		t.Fatal(err)
	}
	// The MTU is written, the next write fails: the MTU is set back.
	next := change.Op{Kind: change.KindTrust, PF: "p0", VF: 0, To: change.Value{On: true}}
	if _, err := change.Run(context.Background(), l, []change.Op{o, next}, change.Hooks{}); err == nil {
		t.Fatal("want the injected failure")
	}
	if after := observe(t, l); after != before {
		t.Fatalf("MTU not undone\nbefore %s\nafter  %s", before, after)
	}
	if _, err := change.Run(context.Background(), l, []change.Op{o}, change.Hooks{}); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Observe(context.Background())
	if got := st.FindPF("p0").MTU; got != 9000 {
		t.Fatalf("MTU %d, want 9000", got)
	}
}
