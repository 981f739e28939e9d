package service_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// stuckHost makes numvfs writes land and then fail to confirm; with stuck, the undo's numvfs writes
// "succeed" without taking effect, so the host stays changed after the rollback.
type stuckHost struct {
	host.Host
	calls int
	stuck bool
}

func (h *stuckHost) SetNumVFs(ctx context.Context, pf string, n int) error {
	h.calls++
	if h.calls == 1 {
		if err := h.Host.SetNumVFs(ctx, pf, n); err != nil {
			return err
		}
		return host.WrittenUnconfirmed(errors.New("the VFs did not appear within the timeout"))
	}
	if h.stuck {
		return nil
	}
	return h.Host.SetNumVFs(ctx, pf, n)
}

// TestUnconfirmedWriteJournalStaysUntilHostMatches: a numvfs write that landed but did not confirm is
// undone; the journal goes only when the host is observed to match the snapshot again, otherwise it
// stays and the error says to run `sriovctl recover` (before, apply removed it and said "restored").
func TestUnconfirmedWriteJournalStaysUntilHostMatches(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stuck       bool
		wantJournal bool
		wantMsg     string
	}{
		{"undo works", false, false, "written but not confirmed"},
		{"undo does not take", true, true, "sriovctl recover"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := lab.Init(filepath.Join(dir, "lab"), []lab.NIC{{Name: "eth0", Profile: "ice", TotalVFs: 8}})
			if err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(dir, "state")
			svc := service.New(&stuckHost{Host: l, stuck: tc.stuck}, state, service.Options{})
			_, err = svc.SetNumVFs(context.Background(), "eth0", 4, false)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "host restored") || tc.stuck != strings.Contains(err.Error(), "could NOT restore") {
				t.Fatalf("message does not tell the truth: %v", err)
			}
			_, statErr := os.Stat(filepath.Join(state, apply.JournalFile))
			if got := statErr == nil; got != tc.wantJournal {
				t.Fatalf("journal kept %v, want %v", got, tc.wantJournal)
			}
			st, _ := l.Observe(context.Background())
			if n := st.FindPF("eth0").NumVFs; (n == 0) == tc.stuck {
				t.Fatalf("numvfs %d", n)
			}
			if tc.stuck {
				// recover, on a host that behaves, finishes the undo.
				rec, err := service.New(l, state, service.Options{}).Recover(context.Background())
				if err != nil || rec.Apply == nil || rec.Apply.Action != "undone" {
					t.Fatalf("recover: %+v %v", rec, err)
				}
				st, _ := l.Observe(context.Background())
				if n := st.FindPF("eth0").NumVFs; n != 0 {
					t.Fatalf("after recover numvfs %d", n)
				}
			}
		})
	}
}

// macFailingHost refuses every admin MAC write.
type macFailingHost struct{ host.Host }

func (h macFailingHost) SetVFMAC(ctx context.Context, pf string, vf int, mac string) error {
	return host.Errorf("set vf mac", syscall.EIO, "")
}

// TestAssignStopsWhenTheRepairItNeedsFails: a record left "assigning" by a killed command must be repaired
// before assign hands out VFs; when that repair fails, assign stops with the error and changes nothing
// (before, it printed a warning and went on). A direct vf set only warns.
func TestAssignStopsWhenTheRepairItNeedsFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := lab.Init(filepath.Join(dir, "lab"), []lab.NIC{{Name: "eth0", Profile: "ice", TotalVFs: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetNumVFs(ctx, "eth0", 4); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Observe(ctx)
	pf := st.FindPF("eth0")
	state := filepath.Join(dir, "state")
	led, err := ledger.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	prior := pf.VFs[0].VFConfig
	prior.MAC = "02:00:00:00:00:01" // the repair must write it back
	stuck := ledger.Record{Pool: "vms", PF: "eth0", PFAddress: pf.PCIAddress, VF: 0, PCIAddress: pf.VFs[0].PCIAddress, Owner: "vm1",
		Lease: "l1", State: ledger.StateAssigning, Config: pf.VFs[0].VFConfig, Driver: pf.VFs[0].Driver, Prior: prior, PriorDriver: pf.VFs[0].Driver}
	if err := led.Put(stuck); err != nil {
		t.Fatal(err)
	}
	led.Close()
	var notes []service.Note
	svc := service.New(macFailingHost{l}, state, service.Options{Progress: func(n service.Note) { notes = append(notes, n) }})
	req := pool.Request{Pool: policy.Pool{Name: "vms", PF: "eth0", IDs: "0-1", VFIDs: []int{0, 1}}, Owner: "vm2"}
	if _, err := svc.Assign(ctx, req); err == nil || !strings.Contains(err.Error(), "repair") {
		t.Fatalf("assign went ahead: %v", err)
	}
	recs, err := readRecords(t, state)
	if err != nil || len(recs) != 1 || recs[0].Owner != "vm1" || recs[0].State != ledger.StateAssigning {
		t.Fatalf("ledger after the refused assign: %+v %v", recs, err)
	}
	if _, err := svc.SetVF(ctx, service.VFRequest{PF: "eth0", VF: 2, Settings: sriov.VFSettings{Trust: ptr(true)}}); err != nil {
		t.Fatalf("vf set: %v", err)
	}
	if len(notes) == 0 || notes[len(notes)-1].Kind != service.NoteWarning {
		t.Fatalf("vf set did not warn about the failed repair: %+v", notes)
	}
}

func ptr[T any](v T) *T { return &v }

func readRecords(t *testing.T, dir string) ([]ledger.Record, error) {
	t.Helper()
	l, err := ledger.OpenReadOnly(context.Background(), dir)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return l.All()
}
