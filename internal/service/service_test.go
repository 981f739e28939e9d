package service_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/host/lab"
	"github.com/sriovctl/sriovctl/internal/service"
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
