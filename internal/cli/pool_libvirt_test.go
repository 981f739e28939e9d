package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

func TestPoolLibvirtNetwork(t *testing.T) {
	dir := clitest.NewLab(t)
	pol := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pol, []byte("pfs:\n  - name: ens3f0\n    numVfs: 4\npools:\n  - {name: vms, pf: ens3f0, ids: \"1-3\", driver: vfio-pci}\n  - {name: later, pf: ens2f0, ids: \"0-1\"}\n"), 0o644)
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol)

	r := clitest.MustRun(t, "--lab", dir, "pool", "libvirt-network", "vms")
	if !strings.Contains(r.Stdout, "<name>vms</name>") || !strings.Contains(r.Stdout, `<forward mode="hostdev" managed="yes">`) || strings.Count(r.Stdout, `<address type="pci"`) != 3 {
		t.Errorf("network:\n%s", r.Stdout)
	}
	if r.Stderr != "" {
		t.Errorf("stderr without assignments: %s", r.Stderr)
	}
	clitest.MustRun(t, "--lab", dir, "assign", "--pool", "vms", "--owner", "web1")
	file := filepath.Join(t.TempDir(), "net.xml")
	r = clitest.MustRun(t, "--lab", dir, "pool", "libvirt-network", "vms", "--name", "sriov-vms", "-o", file)
	if !strings.Contains(r.Stderr, "note: 1 VFs of pool vms are assigned by sriovctl now") || !strings.Contains(r.Stdout, "wrote "+file) {
		t.Errorf("stdout %s\nstderr %s", r.Stdout, r.Stderr)
	}
	if data, err := os.ReadFile(file); err != nil || !strings.Contains(string(data), "<name>sriov-vms</name>") {
		t.Errorf("%v\n%s", err, data)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"pool", "libvirt-network", "nope"}, 2, `POOL: no pool "nope"`},
		{[]string{"pool", "libvirt-network", "vms", "--name", "a/b"}, 2, `--name: invalid value "a/b"`},
		{[]string{"pool", "libvirt-network", "later", "-f", pol}, 1, "VF 0 of ens2f0 does not exist (it has 0 VFs)"},
	} {
		r := clitest.Run(t, append([]string{"--lab", dir}, c.args...)...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, r.Code, r.Stderr, c.code, c.msg)
		}
	}
}
