// Package agenttest builds lab hosts in known states for the agent's tests: a policy applied, a pool VF
// assigned to an owner, and a VF drifted from the policy.
package agenttest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/agent"
	"github.com/sriovctl/sriovctl/internal/cli"
	"github.com/sriovctl/sriovctl/internal/host/lab"
)

// Policy is what Drifted applies: 4 VFs on igb0 (VLAN 100 on 0-1), a pool of VFs 2-3 on vfio-pci.
const Policy = `pfs:
  - name: igb0
    numVfs: 4
    vfs:
      - ids: "0-1"
        vlan: 100
pools:
  - name: vms
    pf: igb0
    ids: "2-3"
    driver: vfio-pci
`

// Run runs a sriovctl command line in process on the lab and fails the test unless it exits 0.
func Run(t testing.TB, labDir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Run(context.Background(), append([]string{"--lab", labDir}, args...), nil, &out, &errb); code != 0 {
		t.Fatalf("sriovctl %s: exit %d: %s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// Host is a lab host and its state directory.
type Host struct {
	Lab      *lab.Lab
	LabDir   string
	StateDir string
}

// Drifted builds a lab (igb0, and ice0 without VFs) with Policy applied, VF 2 assigned to web1 with MAC
// 52:54:00:00:00:01, and VF 1's VLAN changed by hand to 5; it returns the host and the agent's
// observation of it.
func Drifted(t testing.TB) (Host, *agent.Drift) {
	t.Helper()
	dir := t.TempDir()
	h := Host{LabDir: filepath.Join(dir, "lab")}
	h.StateDir = filepath.Join(h.LabDir, "state")
	l, err := lab.Init(h.LabDir, []lab.NIC{{Name: "igb0", Profile: "igb"}, {Name: "ice0", Profile: "ice", TotalVFs: 8}})
	if err != nil {
		t.Fatal(err)
	}
	h.Lab = l
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(Policy), 0o644); err != nil {
		t.Fatal(err)
	}
	Run(t, h.LabDir, "apply", "-f", pol)
	Run(t, h.LabDir, "assign", "--pool", "vms", "--owner", "web1", "--mac", "52:54:00:00:00:01")
	Run(t, h.LabDir, "vf", "set", "igb0", "1", "--vlan", "5")
	des, err := agent.StoredSource{StateDir: h.StateDir}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := (&agent.LocalEngine{Host: l, StateDir: h.StateDir}).Drift(context.Background(), des)
	if err != nil {
		t.Fatal(err)
	}
	return h, d
}
