package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

// TestDamagedLedgerCLI: every command that reads a damaged ledger exits 1 naming it and the way back,
// changes nothing, and `ledger restore-backup` brings the assignments back.
func TestDamagedLedgerCLI(t *testing.T) {
	labDir, pol := poolLab(t, "i40e", 4)
	lab := []string{"--lab", labDir}
	clitest.MustRun(t, append(lab, "assign", "--pool", "vms", "--owner", "web1", "-f", pol)...)
	db := filepath.Join(labDir, "state", "ledger.db")
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"zero-length", nil},
		{"truncated", good[:len(good)/3]},
		{"first pages only", good[:2*os.Getpagesize()+100]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(db, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			before := vfs(t, labDir)
			for _, args := range [][]string{
				{"assignments"},
				{"assign", "--pool", "vms", "--owner", "web2", "-f", pol},
				{"pf", "set", "eth0", "--numvfs", "0"},
			} {
				r := clitest.Run(t, append(lab, args...)...)
				if r.Code != 1 || !strings.Contains(r.Stderr, db) || !strings.Contains(r.Stderr, "restore-backup") ||
					strings.Contains(r.Stderr, "goroutine") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
					t.Fatalf("%v on a %s ledger: exit %d, stderr %q; want exit 1 and one line naming %s and the way back", args, tc.name, r.Code, r.Stderr, db)
				}
			}
			if after := vfs(t, labDir); len(after) != len(before) {
				t.Fatalf("the host changed: %d VFs, was %d", len(after), len(before))
			}
			clitest.MustRun(t, append(lab, "ledger", "restore-backup")...)
			recs, _ := assignments(t, labDir)
			if len(recs) != 1 || recs[0].Owner != "web1" {
				t.Fatalf("after restore-backup: %+v", recs)
			}
		})
	}
}

// TestPlantedLinksInStateDirCLI: links planted at apply.lock or ledger.db make the commands that would
// open them exit 1 naming the link, and their targets stay as they were.
func TestPlantedLinksInStateDirCLI(t *testing.T) {
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"apply.lock", []string{"pf", "set", "eth0", "--numvfs", "1"}},
		{"apply.lock", []string{"vf", "set", "eth0", "0", "--vlan", "5"}},
		{"ledger.db", []string{"assignments"}},
	} {
		t.Run(tc.file+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			labDir, _ := poolLab(t, "i40e", 2)
			state := filepath.Join(labDir, "state")
			os.MkdirAll(state, 0o755)
			target := filepath.Join(t.TempDir(), "precious")
			os.WriteFile(target, []byte("keep me\n"), 0o644)
			link := filepath.Join(state, tc.file)
			os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			r := clitest.Run(t, append([]string{"--lab", labDir}, tc.args...)...)
			if r.Code != 1 || !strings.Contains(r.Stderr, link) || !strings.Contains(r.Stderr, "symbolic link") {
				t.Fatalf("exit %d, stderr %q; want exit 1 naming the link %s", r.Code, r.Stderr, link)
			}
			if data, _ := os.ReadFile(target); string(data) != "keep me\n" {
				t.Fatalf("the link's target became %q", data)
			}
		})
	}
}
