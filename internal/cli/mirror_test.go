package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

type traceJSON struct {
	Verdict   string `json:"verdict"`
	Reason    string `json:"reason"`
	Receivers []struct {
		Port string `json:"port"`
		VLAN int    `json:"vlan"`
	} `json:"receivers"`
	Steps []string `json:"steps"`
}

func trace(t *testing.T, dir string, args ...string) traceJSON {
	t.Helper()
	r := clitest.MustRun(t, append([]string{"--lab", dir, "trace", "--json"}, args...)...)
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Stdout), &keys); err != nil || len(keys) != 4 {
		t.Fatalf("trace --json: want exactly verdict, reason, receivers, steps: %v\n%s", err, r.Stdout)
	}
	var tj traceJSON
	if err := json.Unmarshal([]byte(r.Stdout), &tj); err != nil {
		t.Fatal(err)
	}
	return tj
}

func ports(tj traceJSON) []string {
	p := []string{}
	for _, r := range tj.Receivers {
		p = append(p, r.Port)
	}
	return p
}

func pfState(t *testing.T, dir, pf string) sriov.PF {
	t.Helper()
	r := clitest.MustRun(t, "--lab", dir, "show", pf, "--json")
	var h sriov.Host
	if err := json.Unmarshal([]byte(r.Stdout), &h); err != nil {
		t.Fatal(err)
	}
	return h.PFs[0]
}

// adminView keeps what mirror delete must restore (the netdev MAC of a reloaded VF is new by design).
func adminView(p sriov.PF) []sriov.VFConfig {
	var out []sriov.VFConfig
	for _, v := range p.VFs {
		out = append(out, v.VFConfig)
	}
	return out
}

// TestMirrorRoundTripEveryProfile creates and deletes a mirror group on every lab NIC in legacy mode:
// igb and ice accept same-mac; mlx5 (EEXIST), ixgbe and i40e (unknown) are refused before anything is
// touched, and the refusal names what would work.
func TestMirrorRoundTripEveryProfile(t *testing.T) {
	dir := clitest.NewLab(t)
	cases := []struct {
		pf, profile string
		accept      bool
		refusal     string // in stderr when refused
	}{
		{"ens1f0", "ixgbe", false, "no strategy of sriovctl mirrors VFs on this NIC"},
		{"ens2f0", "i40e", false, "no strategy of sriovctl mirrors VFs on this NIC"},
		{"ens3f0", "ice", true, ""},
		{"ens4f0", "mlx5", false, "switchdev-tc"},
		{"ens5f0", "igb", true, ""},
	}
	for _, c := range cases {
		t.Run(c.profile, func(t *testing.T) {
			clitest.MustRun(t, "--lab", dir, "pf", "set", c.pf, "--numvfs", "4")
			clitest.MustRun(t, "--lab", dir, "vf", "set", c.pf, "1", "--mac", "02:00:00:00:01:01", "--trust", "on", "--reload-vf-driver")
			before := pfState(t, dir, c.pf)
			ops := labOps(t, dir)
			name := "m-" + c.profile
			r := clitest.Run(t, "--lab", dir, "mirror", "create", name, "--pf", c.pf, "--vfs", "1,2")
			if !c.accept {
				if r.Code != 1 || !strings.Contains(r.Stderr, c.refusal) || !strings.Contains(r.Stderr, "nothing was changed") {
					t.Fatalf("exit %d stderr %q: want exit 1 naming %q", r.Code, r.Stderr, c.refusal)
				}
				if labOps(t, dir) != ops {
					t.Fatalf("a refused mirror wrote to the host")
				}
				if l := clitest.MustRun(t, "--lab", dir, "mirror", "list", "--json"); strings.Contains(l.Stdout, name) {
					t.Fatalf("a refused mirror was recorded: %s", l.Stdout)
				}
				return
			}
			if r.Code != 0 {
				t.Fatalf("mirror create: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stdout, "same-mac") || !strings.Contains(r.Stdout, "delivered to vf:1, vf:2") {
				t.Fatalf("create output: %s", r.Stdout)
			}
			after := pfState(t, dir, c.pf)
			for _, id := range []int{1, 2} {
				v := after.VF(id)
				if v.MAC != "02:00:00:00:01:01" || v.SpoofCheck || v.NetdevMAC != v.MAC {
					t.Fatalf("VF %d after create: %+v", id, v)
				}
			}
			for _, from := range []string{"wire", "pf", "vf:3"} {
				tj := trace(t, dir, "--pf", c.pf, "--from", from, "--dst", "02:00:00:00:01:01")
				if tj.Verdict != "delivered" || !reflect.DeepEqual(ports(tj), []string{"vf:1", "vf:2"}) {
					t.Fatalf("trace from %s: %+v", from, tj)
				}
			}
			if l := clitest.MustRun(t, "--lab", dir, "mirror", "list"); !strings.Contains(l.Stdout, " ok") {
				t.Fatalf("list: %s", l.Stdout)
			}
			l := clitest.MustRun(t, "--lab", dir, "mirror", "list", "--json")
			var list struct{ Mirrors []map[string]any }
			if err := json.Unmarshal([]byte(l.Stdout), &list); err != nil || len(list.Mirrors) == 0 {
				t.Fatalf("mirror list --json: %v %s", err, l.Stdout)
			}
			clitest.MustRun(t, "--lab", dir, "mirror", "delete", name)
			restored := pfState(t, dir, c.pf)
			if !reflect.DeepEqual(adminView(restored), adminView(before)) {
				t.Fatalf("delete did not restore:\nbefore %+v\nafter  %+v", adminView(before), adminView(restored))
			}
			if v := restored.VF(1); v.NetdevMAC != "02:00:00:00:01:01" {
				t.Fatalf("VF 1 netdev MAC %s after delete", v.NetdevMAC)
			}
			if l := clitest.MustRun(t, "--lab", dir, "mirror", "list"); !strings.Contains(l.Stdout, "no mirror groups") {
				t.Fatalf("list after delete: %s", l.Stdout)
			}
		})
	}
}

// TestMirrorSwitchdev: mlx5 and ice in switchdev mode mirror with an offloaded tc rule.
func TestMirrorSwitchdev(t *testing.T) {
	for _, c := range []struct{ pf, profile string }{{"ens4f0", "mlx5"}, {"ens3f0", "ice"}} {
		t.Run(c.profile, func(t *testing.T) {
			dir := clitest.NewLab(t)
			clitest.MustRun(t, "--lab", dir, "lab", "eswitch", c.pf, "switchdev")
			clitest.MustRun(t, "--lab", dir, "pf", "set", c.pf, "--numvfs", "4")
			clitest.MustRun(t, "--lab", dir, "vf", "set", c.pf, "0", "--mac", "02:00:00:00:02:00")
			if r := clitest.Run(t, "--lab", dir, "mirror", "create", "x", "--pf", c.pf, "--vfs", "0,1", "--strategy", "same-mac"); r.Code != 1 || !strings.Contains(r.Stderr, "switchdev-tc") {
				t.Fatalf("same-mac in switchdev mode: exit %d %s", r.Code, r.Stderr)
			}
			r := clitest.MustRun(t, "--lab", dir, "mirror", "create", "tap", "--pf", c.pf, "--vfs", "0,1")
			if !strings.Contains(r.Stdout, "switchdev-tc") || !strings.Contains(r.Stdout, "tc filter add dev "+c.pf+"_2 ingress") ||
				!strings.Contains(r.Stdout, "mirred egress mirror dev "+c.pf+"_1") {
				t.Fatalf("create output: %s", r.Stdout)
			}
			if p := pfState(t, dir, c.pf); len(p.MirrorRules) != 1 || p.VF(1).MAC != sriov.ZeroMAC {
				t.Fatalf("after create: rules %+v, VF 1 MAC %s (switchdev-tc must not touch MACs)", p.MirrorRules, p.VF(1).MAC)
			}
			if sh := clitest.MustRun(t, "--lab", dir, "show", c.pf); !strings.Contains(sh.Stdout, "mirror rule tap: dst 02:00:00:00:02:00 -> vf 0,1") {
				t.Fatalf("show: %s", sh.Stdout)
			}
			tj := trace(t, dir, "--pf", c.pf, "--from", "vf:3", "--dst", "02:00:00:00:02:00")
			if !reflect.DeepEqual(ports(tj), []string{"vf:0", "vf:1"}) {
				t.Fatalf("trace: %+v", tj)
			}
			clitest.MustRun(t, "--lab", dir, "mirror", "delete", "tap")
			if p := pfState(t, dir, c.pf); len(p.MirrorRules) != 0 {
				t.Fatalf("rule left after delete: %+v", p.MirrorRules)
			}
		})
	}
}

func TestMirrorInputErrors(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "eth0", "--numvfs", "5")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "eth0", "3", "--vlan", "100")
	clitest.MustRun(t, "--lab", dir, "mirror", "create", "a", "--pf", "eth0", "--vfs", "0,1", "--mac", "02:00:00:00:00:aa")
	ops := labOps(t, dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "1"}, "at least 2"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "x"}, "--vfs"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "2,9"}, "allowed 0-4"},
		{[]string{"mirror", "create", "b", "--pf", "eth9", "--vfs", "2,3"}, "no such PF"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "2,3", "--mac", "01:00:5e:00:00:01"}, "unicast"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "2,3", "--strategy", "magic"}, "same-mac"},
		{[]string{"mirror", "create", "a", "--pf", "eth0", "--vfs", "2,3"}, "already exists"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "1,2"}, "already in mirror group a"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "2,3"}, "share a port VLAN"},
		{[]string{"mirror", "create", "b", "--pf", "eth0", "--vfs", "2,4", "--mac", "02:00:00:00:00:aa"}, "VF 0, not a member, already has it"},
		{[]string{"mirror", "create", "bad name", "--pf", "eth0", "--vfs", "2,3"}, "NAME"},
		{[]string{"mirror", "create", "b", "--vfs", "2,3"}, "--pf"},
		{[]string{"mirror", "delete", "nope"}, "no such mirror group; groups: a"},
		{[]string{"trace", "--pf", "eth0", "--from", "vf", "--dst", "02:00:00:00:00:aa"}, "--from"},
		{[]string{"trace", "--pf", "eth0", "--from", "wire", "--dst", "zz"}, "--dst"},
		{[]string{"trace", "--pf", "eth0", "--from", "wire", "--dst", "02:00:00:00:00:aa", "--vlan", "4095"}, "--vlan"},
		{[]string{"trace", "--pf", "eth0", "--from", "wire"}, "--dst"},
		{[]string{"trace", "--pf", "eth0", "--from", "vf:7", "--dst", "02:00:00:00:00:aa"}, `--from: invalid value "vf:7": allowed 0-4`},
	} {
		r := clitest.Run(t, append([]string{"--lab", dir}, c.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%v: exit %d stderr %q, want exit 2 mentioning %q", c.args, r.Code, r.Stderr, c.want)
		}
	}
	if labOps(t, dir) != ops {
		t.Fatalf("input errors wrote to the host")
	}
}

// TestMirrorRollbackOnFault: a host write failing half-way leaves the host and the records as before.
func TestMirrorRollbackOnFault(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "eth0", "--numvfs", "3")
	before := pfState(t, dir, "eth0")
	clitest.MustRun(t, "--lab", dir, "lab", "fault", "--fail-at", "4", "--errno", "EIO")
	r := clitest.Run(t, "--lab", dir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "0-2")
	if r.Code != 1 || !strings.Contains(r.Stderr, "restored") {
		t.Fatalf("exit %d stderr %q: want exit 1 and a restored host", r.Code, r.Stderr)
	}
	if after := pfState(t, dir, "eth0"); !reflect.DeepEqual(after, before) {
		t.Fatalf("host changed:\n%+v\n%+v", before, after)
	}
	if l := clitest.MustRun(t, "--lab", dir, "mirror", "list"); !strings.Contains(l.Stdout, "no mirror groups") {
		t.Fatalf("record left after a rolled-back create: %s", l.Stdout)
	}
}

// TestMirrorDeleteAfterVFsGone: after a reboot list says the group is broken; deleting it just forgets it.
func TestMirrorDeleteAfterVFsGone(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=ice")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "eth0", "--numvfs", "2")
	clitest.MustRun(t, "--lab", dir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "0,1")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "eth0", "1", "--spoofchk", "on", "--mac", "02:00:00:00:00:99")
	if l := clitest.MustRun(t, "--lab", dir, "mirror", "list"); !strings.Contains(l.Stdout, "broken: the model says frames to") {
		t.Fatalf("list after a member changed: %s", l.Stdout)
	}
	clitest.MustRun(t, "--lab", dir, "lab", "reboot")
	if l := clitest.MustRun(t, "--lab", dir, "mirror", "list"); !strings.Contains(l.Stdout, "broken: VF 0 is gone") {
		t.Fatalf("list after reboot: %s", l.Stdout)
	}
	r := clitest.MustRun(t, "--lab", dir, "mirror", "delete", "m")
	if !strings.Contains(r.Stdout, "no longer exists") {
		t.Fatalf("delete output: %s", r.Stdout)
	}
}

func TestTraceText(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "eth0", "--numvfs", "2")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "eth0", "0", "--mac", "02:00:00:00:00:10", "--vlan", "100", "--reload-vf-driver")
	r := clitest.MustRun(t, "--lab", dir, "trace", "--pf", "eth0", "--from", "vf:1", "--dst", "02:00:00:00:00:10")
	for _, want := range []string{"prediction", "verdict: dropped", "port VLAN 100", "receivers: none"} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("trace output lacks %q:\n%s", want, r.Stdout)
		}
	}
	tj := trace(t, dir, "--pf", "eth0", "--from", "wire", "--dst", "02:00:00:00:00:10", "--vlan", "100")
	if tj.Verdict != "delivered" || len(tj.Receivers) != 1 || tj.Receivers[0].Port != "vf:0" || tj.Receivers[0].VLAN != 0 {
		t.Fatalf("tagged 100: %+v", tj)
	}
}

// TestMirrorFromPolicy: mirrors: in a policy file are planned, applied and listed; trace shows them.
func TestMirrorFromPolicy(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb", "eth1=mlx5")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, pol, `
pfs:
  - name: eth0
    numVfs: 4
    vfs:
      - ids: "1"
        mac: "02:00:00:00:00:21"
mirrors:
  - name: probe
    pf: eth0
    vfs: "1,2"
`)
	r := clitest.MustRun(t, "--lab", dir, "plan", "-f", pol)
	if !strings.Contains(r.Stdout, "mirror probe (same-mac)") || !strings.Contains(r.Stdout, "spoofchk on -> off") {
		t.Fatalf("plan: %s", r.Stdout)
	}
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes")
	tj := trace(t, dir, "--pf", "eth0", "--from", "vf:3", "--dst", "02:00:00:00:00:21")
	if !reflect.DeepEqual(ports(tj), []string{"vf:1", "vf:2"}) {
		t.Fatalf("trace: %+v", tj)
	}
	l := clitest.MustRun(t, "--lab", dir, "mirror", "list")
	if !strings.Contains(l.Stdout, "probe") || !strings.Contains(l.Stdout, "policy") {
		t.Fatalf("list: %s", l.Stdout)
	}
	if d := clitest.Run(t, "--lab", dir, "mirror", "delete", "probe"); d.Code != 2 || !strings.Contains(d.Stderr, "remove it from the policy") {
		t.Fatalf("delete of a policy mirror: %d %s", d.Code, d.Stderr)
	}
	writeFile(t, pol, `{pfs: [{name: eth1, numVfs: 2}], mirrors: [{name: m, pf: eth1, vfs: "0-1"}]}`)
	if r := clitest.Run(t, "--lab", dir, "apply", "-f", pol, "--yes"); r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "switchdev-tc") {
		t.Fatalf("mlx5 policy mirror: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyProtectsMirrorGroups: a policy that would change a member of a group made with mirror create
// is refused (exit 1, nothing changed) unless --force.
func TestPolicyProtectsMirrorGroups(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "eth0", "--numvfs", "4")
	clitest.MustRun(t, "--lab", dir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "0,1", "--mac", "02:00:00:00:00:aa")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, pol, `{pfs: [{name: eth0, vfs: [{ids: "1-2", spoofchk: true}]}]}`)
	ops := labOps(t, dir)
	r := clitest.Run(t, "--lab", dir, "apply", "-f", pol, "--yes")
	if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "break mirror group m") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if labOps(t, dir) != ops {
		t.Fatal("a refused plan wrote to the host")
	}
	writeFile(t, pol, `{pfs: [{name: eth0, vfs: [{ids: "2-3", spoofchk: false}]}]}`)
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes") // other VFs: fine
	writeFile(t, pol, `{pfs: [{name: eth0, vfs: [{ids: "1-2", spoofchk: true}]}]}`)
	if r := clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes", "--force"); !strings.Contains(r.Stdout, "breaks mirror group m") {
		t.Fatalf("--force: %s", r.Stdout)
	}
}

// TestRestoreAfterRebootNotBlockedByMirrorGroup: after a reboot the members of a group made with mirror
// create are gone; restore recreates the VFs with the desired settings instead of refusing the whole
// plan (which left the host with no VFs at boot).
func TestRestoreAfterRebootNotBlockedByMirrorGroup(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, pol, `{pfs: [{name: eth0, numVfs: 4, vfs: [{ids: "1", mac: "02:00:00:00:00:01"}]}]}`)
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes")
	clitest.MustRun(t, "--lab", dir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "1,2", "--mac", "02:00:00:00:00:aa")
	clitest.MustRun(t, "--lab", dir, "lab", "reboot")
	if r := clitest.Run(t, "--lab", dir, "restore", "--yes"); r.Code != 0 {
		t.Fatalf("restore after reboot: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := clitest.MustRun(t, "--lab", dir, "--json", "status"); !strings.Contains(r.Stdout, `"inSync": true`) {
		t.Fatalf("status after restore: %s", r.Stdout)
	}
}

// TestMirrorCreateRespectsPolicyMirrors: mirror create may not take VFs (or the name) of a group of the
// stored desired policy: it broke that group, and every later apply or restore of the policy was refused.
func TestMirrorCreateRespectsPolicyMirrors(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, pol, `{pfs: [{name: eth0, numVfs: 4}], mirrors: [{name: tap, pf: eth0, vfs: "0-1", mac: "02:00:00:00:aa:01"}]}`)
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes")
	ops := labOps(t, dir)
	for _, args := range [][]string{
		{"mirror", "create", "tap2", "--pf", "eth0", "--vfs", "1,2", "--mac", "02:00:00:00:bb:01"},
		{"mirror", "create", "tap", "--pf", "eth0", "--vfs", "2,3", "--mac", "02:00:00:00:bb:02"},
	} {
		r := clitest.Run(t, append([]string{"--lab", dir}, args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "tap") {
			t.Fatalf("%v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	if labOps(t, dir) != ops {
		t.Fatal("a refused mirror create wrote to the host")
	}
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes")
}

// TestMirrorCreateRefusesAssignedVFs: a group over a VF handed to an owner would rewrite the VM's MAC and
// spoof check: refused (exit 1, like every refusal over VFs handed to owners), nothing written.
func TestMirrorCreateRefusesAssignedVFs(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=igb")
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, pol, `{pfs: [{name: eth0, numVfs: 4}], pools: [{name: vms, pf: eth0, ids: "0-1"}]}`)
	clitest.MustRun(t, "--lab", dir, "apply", "-f", pol, "--yes")
	clitest.MustRun(t, "--lab", dir, "assign", "--pool", "vms", "--owner", "web1", "--mac", "02:00:00:00:01:01")
	ops := labOps(t, dir)
	r := clitest.Run(t, "--lab", dir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "0,2", "--mac", "02:00:00:00:00:aa")
	if r.Code != 1 || !strings.Contains(r.Stderr, "assigned to web1") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if labOps(t, dir) != ops {
		t.Fatal("a refused mirror create wrote to the host")
	}
	clitest.MustRun(t, "--lab", dir, "mirror", "create", "m", "--pf", "eth0", "--vfs", "2,3", "--mac", "02:00:00:00:00:aa")
}
