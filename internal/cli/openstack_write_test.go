package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

// TestOpenStackRenderKeepsNovaConfPrivate: rendering into a directory that holds a nova.conf with
// secrets (root:nova 0640 on a real host) keeps its mode, owner and group and its other settings.
func TestOpenStackRenderKeepsNovaConfPrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file a foreign owner")
	}
	lab := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", lab, "pf", "set", "ens5f0", "--numvfs", "2")
	out := t.TempDir()
	nova := filepath.Join(out, "nova.conf")
	if err := os.WriteFile(nova, []byte("[database]\nconnection = mysql://nova:s3cret@db/nova\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(nova, 0, 4242); err != nil {
		t.Fatal(err)
	}
	clitest.MustRun(t, "--lab", lab, "openstack", "render", "--out", out, "--physnet", "physnet1", "--pf", "ens5f0")
	fi, err := os.Stat(nova)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || st.Uid != 0 || st.Gid != 4242 {
		t.Fatalf("nova.conf is now %o %d:%d, want 640 0:4242", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	data, _ := os.ReadFile(nova)
	if !strings.Contains(string(data), "s3cret") || !strings.Contains(string(data), "[pci]") {
		t.Fatalf("nova.conf lost its settings or got no [pci]:\n%s", data)
	}
	if fi, err := os.Stat(filepath.Join(out, "ml2_conf.ini")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("new ml2_conf.ini: %v %v", fi, err)
	}
}
