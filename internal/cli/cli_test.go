package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sriovctl/sriovctl/internal/clitest"
)

type showJSON struct {
	PFs []map[string]any `json:"pfs"`
}

func show(t *testing.T, labDir string, pfs ...string) showJSON {
	t.Helper()
	r := clitest.MustRun(t, append([]string{"--lab", labDir, "show", "--json"}, pfs...)...)
	var s showJSON
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("show --json is not JSON: %v\n%s", err, r.Stdout)
	}
	return s
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestShowJSONSchema(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	s := show(t, dir)
	if len(s.PFs) != 5 {
		t.Fatalf("%d PFs", len(s.PFs))
	}
	pfKeys := []string{"deviceId", "driver", "eswitchMode", "mac", "mtu", "name", "numVfs", "operState", "pciAddress", "totalVfs", "vendorId", "vfs"}
	vfKeys := []string{"driver", "id", "linkState", "mac", "maxTxRateMbps", "minTxRateMbps", "netdev", "pciAddress", "qos", "queryRss", "spoofchk", "trust", "vlan", "vlanProto"}
	for _, p := range s.PFs {
		for _, k := range pfKeys {
			if _, ok := p[k]; !ok {
				t.Errorf("PF %v lacks %q (has %v)", p["name"], k, keys(p))
			}
		}
	}
	igb := s.PFs[4]
	if igb["name"] != "ens5f0" || igb["numVfs"] != 2.0 || igb["totalVfs"] != 7.0 || igb["driver"] != "igb" || igb["vendorId"] != "8086" || igb["deviceId"] != "10c9" {
		t.Fatalf("igb PF = %v", igb)
	}
	vfs := igb["vfs"].([]any)
	if len(vfs) != 2 {
		t.Fatalf("vfs = %v", vfs)
	}
	vf := vfs[1].(map[string]any)
	for _, k := range vfKeys {
		if _, ok := vf[k]; !ok {
			t.Errorf("VF lacks %q", k)
		}
	}
	if vf["id"] != 1.0 || vf["pciAddress"] != "0000:01:10.2" || vf["driver"] != "igbvf" || vf["vlanProto"] != "802.1Q" || vf["spoofchk"] != true || vf["linkState"] != "auto" {
		t.Fatalf("vf = %v", vf)
	}
	// An empty PF still has a vfs list (not null), so consumers can iterate.
	if v, ok := s.PFs[0]["vfs"].([]any); !ok || len(v) != 0 {
		t.Fatalf("ens1f0 vfs = %#v", s.PFs[0]["vfs"])
	}
	// Selection by PCI address.
	if sel := show(t, dir, "0000:01:00.0"); len(sel.PFs) != 1 || sel.PFs[0]["name"] != "ens5f0" {
		t.Fatalf("select by PCI address: %v", sel)
	}
}

func TestVFSetRoundTrip(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens3f0", "--numvfs", "4")
	r := clitest.MustRun(t, "--lab", dir, "vf", "set", "ens3f0", "2", "--mac", "02:00:00:00:00:22", "--vlan", "300", "--qos", "5",
		"--vlan-proto", "802.1ad", "--spoofchk", "off", "--trust", "on", "--state", "disable", "--min-tx-rate", "100", "--max-tx-rate", "2000")
	if !strings.Contains(r.Stdout, "ens3f0 vf 2: vlan 0 (flat) -> 300 qos 5 proto 802.1ad") {
		t.Fatalf("output:\n%s", r.Stdout)
	}
	vf := show(t, dir, "ens3f0").PFs[0]["vfs"].([]any)[2].(map[string]any)
	want := map[string]any{"mac": "02:00:00:00:00:22", "vlan": 300.0, "qos": 5.0, "vlanProto": "802.1ad", "spoofchk": false, "trust": true,
		"linkState": "disable", "minTxRateMbps": 100.0, "maxTxRateMbps": 2000.0}
	for k, v := range want {
		if vf[k] != v {
			t.Errorf("%s = %v, want %v", k, vf[k], v)
		}
	}
	// Same again: nothing to do.
	r = clitest.MustRun(t, "--lab", dir, "vf", "set", "ens3f0", "2", "--vlan", "300", "--qos", "5", "--vlan-proto", "802.1ad")
	if strings.TrimSpace(r.Stdout) != "ens3f0 vf 2: no changes" {
		t.Fatalf("idempotent set printed %q", r.Stdout)
	}
	// Flat: vlan 0 clears qos and proto too.
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens3f0", "2", "--vlan", "0")
	vf = show(t, dir, "ens3f0").PFs[0]["vfs"].([]any)[2].(map[string]any)
	if vf["vlan"] != 0.0 || vf["qos"] != 0.0 || vf["vlanProto"] != "802.1Q" {
		t.Fatalf("flat vf = %v", vf)
	}
}

// TestRejectedInputChangesNothing runs every kind of invalid input and checks exit code 2, a single
// stderr line naming the field and the allowed values, and a byte-for-byte unchanged lab.
func TestRejectedInputChangesNothing(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "4")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens5f0", "1", "--vlan", "100")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"vf", "set", "ens5f0", "0", "--vlan", "4095"}, `sriovctl: --vlan: invalid value "4095": allowed 0-4094 (0 = no VLAN, flat)`},
		{[]string{"vf", "set", "ens5f0", "0", "--vlan", "-1"}, `sriovctl: --vlan: invalid value "-1": allowed 0-4094`},
		{[]string{"vf", "set", "ens5f0", "0", "--vlan", "ten"}, `--vlan: invalid value "ten": want a whole number, e.g. 10`},
		{[]string{"vf", "set", "ens5f0", "0", "--qos", "8", "--vlan", "5"}, `sriovctl: --qos: invalid value "8": allowed 0-7`},
		{[]string{"vf", "set", "ens5f0", "0", "--qos", "3"}, `sriovctl: --qos: invalid value "3": a QoS priority needs a VLAN`},
		{[]string{"vf", "set", "ens5f0", "0", "--mac", "ff:ff:ff:ff:ff:ff"}, `sriovctl: --mac: invalid value "ff:ff:ff:ff:ff:ff": multicast and broadcast MACs are not allowed`},
		{[]string{"vf", "set", "ens5f0", "0", "--mac", "02:00"}, `sriovctl: --mac: invalid value "02:00": want a 48-bit MAC`},
		{[]string{"vf", "set", "ens5f0", "0", "--vlan-proto", "qinq"}, `sriovctl: --vlan-proto: invalid value "qinq": allowed 802.1Q or 802.1ad`},
		{[]string{"vf", "set", "ens5f0", "0", "--spoofchk", "maybe"}, `sriovctl: --spoofchk: invalid value "maybe": allowed on or off`},
		{[]string{"vf", "set", "ens5f0", "0", "--state", "up"}, `sriovctl: --state: invalid value "up": allowed auto, enable or disable`},
		{[]string{"vf", "set", "ens5f0", "0", "--min-tx-rate", "500", "--max-tx-rate", "100"}, `sriovctl: --min-tx-rate: invalid value "500": must not exceed --max-tx-rate (100 Mbps)`},
		{[]string{"vf", "set", "ens5f0", "0", "--max-tx-rate", "-3"}, `sriovctl: --max-tx-rate: invalid value "-3": allowed 0-1000000 Mbps`},
		{[]string{"vf", "set", "ens5f0", "9", "--trust", "on"}, `sriovctl: VF: invalid value "9": allowed 0-3`},
		{[]string{"vf", "set", "ens5f0", "x", "--trust", "on"}, `sriovctl: VF: invalid value "x"`},
		{[]string{"vf", "set", "eth9", "0", "--trust", "on"}, `sriovctl: PF: invalid value "eth9": no such PF; PFs on this host: ens1f0, ens2f0, ens3f0, ens4f0, ens5f0`},
		{[]string{"vf", "set", "ens5f0", "0"}, `sriovctl: vf set: nothing to set`},
		{[]string{"vf", "set", "ens5f0"}, `want 2 arguments (PF VF); got 1 argument`},
		{[]string{"vf", "set", "ens5f0", "0", "--bogus"}, `vf set: unknown flag --bogus`},
		{[]string{"pf", "set", "ens5f0", "--numvfs", "8"}, `sriovctl: --numvfs: invalid value "8": allowed 0-7 (sriov_totalvfs)`},
		{[]string{"pf", "set", "ens5f0", "--numvfs", "2"}, `sriovctl: --numvfs: ens5f0 has 4 VFs and the kernel resizes only through 0, destroying the configuration of VFs 0-3 (configured: 1); rerun with --force`},
		{[]string{"pf", "set", "ens5f0"}, `nothing to set: give --numvfs N`},
		{[]string{"show", "nope"}, `sriovctl: PF: invalid value "nope": no such PF`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"lab", "fault", "--fail-at", "0"}, `sriovctl: --fail-at: invalid value "0": allowed 1 or more`},
		{[]string{"lab", "fault", "--fail-at", "1", "--errno", "EWHAT"}, `sriovctl: --errno: invalid value "EWHAT": one of`},
	}
	stateFile := filepath.Join(dir, "lab.db")
	before, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := clitest.Run(t, append([]string{"--lab", dir}, c.args...)...)
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", r.Code, r.Stderr)
			}
			if !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("stderr %q, want %q", r.Stderr, c.want)
			}
			if n := strings.Count(r.Stderr, "\n"); n != 1 || !strings.HasPrefix(r.Stderr, "sriovctl: ") {
				t.Fatalf("want one line `sriovctl: ...`, got %q", r.Stderr)
			}
			if r.Stdout != "" {
				t.Fatalf("stdout on error: %q", r.Stdout)
			}
			after, _ := os.ReadFile(stateFile)
			if string(after) != string(before) {
				t.Fatal("rejected input changed the lab state")
			}
		})
	}
}

// TestOperationalFailuresExit1 covers refusals by the (emulated) driver and injected I/O errors: exit 1,
// the driver's wording, and the host as it was.
func TestOperationalFailuresExit1(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "4")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens4f0", "--numvfs", "4")
	before := show(t, dir)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"vf", "set", "ens5f0", "0", "--trust", "on", "--state", "enable"}, "set vf 0 state enable on ens5f0: operation not supported (igb: Operation not supported)"},
		{[]string{"vf", "set", "ens5f0", "0", "--vlan", "10", "--vlan-proto", "802.1ad"}, "protocol not supported (igb: Protocol not supported)"},
		{[]string{"vf", "set", "ens5f0", "0", "--min-tx-rate", "10"}, "invalid argument (igb: Invalid argument)"},
		{[]string{"vf", "set", "ens5f0", "0", "--query-rss", "on"}, "operation not supported"},
		{[]string{"vf", "set", "ens5f0", "0", "--max-tx-rate", "2000"}, "rate above the 1000 Mbps link speed"},
	}
	for _, c := range cases {
		r := clitest.Run(t, append([]string{"--lab", dir}, c.args...)...)
		if r.Code != 1 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%v: exit %d stderr %q, want 1 and %q", c.args, r.Code, r.Stderr, c.want)
		}
	}
	// mlx5 refuses a duplicate MAC (known from its profile: refused before any write); the first VF
	// keeps it and nothing else changes.
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens4f0", "0", "--mac", "02:00:00:00:00:aa")
	r := clitest.Run(t, "--lab", dir, "vf", "set", "ens4f0", "1", "--mac", "02:00:00:00:00:aa", "--vlan", "7")
	if r.Code != 1 || !strings.Contains(r.Stderr, "mlx5_core refuses a MAC two VFs share (mac is already in use by vport); nothing was changed") {
		t.Fatalf("duplicate MAC on mlx5: exit %d %q", r.Code, r.Stderr)
	}
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens4f0", "0", "--mac", "00:00:00:00:00:00")
	// An injected fault on the second write rolls back the first.
	clitest.MustRun(t, "--lab", dir, "lab", "fault", "--fail-at", "2", "--errno", "EIO")
	r = clitest.Run(t, "--lab", dir, "vf", "set", "ens5f0", "2", "--vlan", "20", "--spoofchk", "off", "--trust", "on")
	if r.Code != 1 || !strings.Contains(r.Stderr, "ens5f0 vf 2: spoofchk on -> off failed") || !strings.Contains(r.Stderr, "host restored to its prior state") {
		t.Fatalf("fault: exit %d %q", r.Code, r.Stderr)
	}
	after := show(t, dir)
	if !reflect.DeepEqual(stripNetdevMAC(before), stripNetdevMAC(after)) {
		t.Fatalf("host changed by failed operations\nbefore %v\nafter %v", before, after)
	}
}

func stripNetdevMAC(s showJSON) showJSON {
	for _, p := range s.PFs {
		for _, v := range p["vfs"].([]any) {
			delete(v.(map[string]any), "netdevMac")
		}
	}
	return s
}

func TestResizeWithForceGoesThroughZero(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens2f0", "--numvfs", "8")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens2f0", "7", "--vlan", "42")
	r := clitest.MustRun(t, "--lab", dir, "pf", "set", "ens2f0", "--numvfs", "16", "--force")
	if !strings.Contains(r.Stdout, "ens2f0: numvfs 8 -> 16") {
		t.Fatalf("stdout %q", r.Stdout)
	}
	p := show(t, dir, "ens2f0").PFs[0]
	if p["numVfs"] != 16.0 || p["vfs"].([]any)[7].(map[string]any)["vlan"] != 0.0 {
		t.Fatalf("after resize: numVfs %v, vf 7 %v", p["numVfs"], p["vfs"].([]any)[7])
	}
	r = clitest.MustRun(t, "--lab", dir, "pf", "set", "ens2f0", "--numvfs", "16")
	if !strings.Contains(r.Stdout, "already 16, no changes") {
		t.Fatalf("no-op: %q", r.Stdout)
	}
}

func TestStatePersistsAcrossProcessesAndReboot(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens1f0", "--numvfs", "3")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens1f0", "1", "--trust", "on")
	env := clitest.Run(t, "--lab", dir, "show", "ens1f0", "--json")
	if !strings.Contains(env.Stdout, `"trust": true`) {
		t.Fatalf("a later process did not see the change: %s", env.Stdout)
	}
	clitest.MustRun(t, "--lab", dir, "lab", "reboot")
	if p := show(t, dir, "ens1f0").PFs[0]; p["numVfs"] != 0.0 {
		t.Fatalf("after reboot numVfs %v", p["numVfs"])
	}
}

func TestTwentyConcurrentProcesses(t *testing.T) {
	dir := clitest.NewLab(t, "p0=ice:32")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "p0", "--numvfs", "20")
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := clitest.Run(t, "--lab", dir, "vf", "set", "p0", fmt.Sprint(i), "--vlan", fmt.Sprint(1000+i), "--mac", fmt.Sprintf("02:00:00:00:01:%02x", i))
			if r.Code != 0 {
				errs <- fmt.Sprintf("vf %d: exit %d %s", i, r.Code, r.Stderr)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i, v := range show(t, dir, "p0").PFs[0]["vfs"].([]any) {
		vf := v.(map[string]any)
		if vf["vlan"] != float64(1000+i) || vf["mac"] != fmt.Sprintf("02:00:00:00:01:%02x", i) {
			t.Errorf("vf %d = vlan %v mac %v: a concurrent write was lost", i, vf["vlan"], vf["mac"])
		}
	}
}

func TestLabEnvVarAndMissingLab(t *testing.T) {
	r := clitest.Run(t, "--lab", filepath.Join(t.TempDir(), "none"), "show")
	if r.Code != 2 || !strings.Contains(r.Stderr, "is not a lab") || !strings.Contains(r.Stderr, "sriovctl lab init") {
		t.Fatalf("missing lab: exit %d %q", r.Code, r.Stderr)
	}
	r = clitest.Run(t, "lab", "reboot")
	if r.Code != 2 || !strings.Contains(r.Stderr, "give --lab DIR or set SRIOVCTL_LAB") {
		t.Fatalf("lab command without lab: exit %d %q", r.Code, r.Stderr)
	}
}

func TestIGBMACNoticeAndReload(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	r := clitest.MustRun(t, "--lab", dir, "vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:31")
	if !strings.Contains(r.Stderr, "Reload the VF driver to make this change effective") || !strings.Contains(r.Stderr, "--reload-vf-driver") {
		t.Fatalf("no reload notice: %q", r.Stderr)
	}
	vf := show(t, dir, "ens5f0").PFs[0]["vfs"].([]any)[0].(map[string]any)
	if vf["netdevMac"] == "02:00:00:00:00:31" {
		t.Fatal("igb netdev took the MAC without reload")
	}
	clitest.MustRun(t, "--lab", dir, "vf", "set", "ens5f0", "0", "--reload-vf-driver")
	vf = show(t, dir, "ens5f0").PFs[0]["vfs"].([]any)[0].(map[string]any)
	if vf["netdevMac"] != "02:00:00:00:00:31" || vf["driver"] != "igbvf" {
		t.Fatalf("after reload: %v", vf)
	}
}

// TestIGBMACOnTrustedVFReachesNetdev: `vf set --mac` on a VF that ends trusted gives the igbvf netdev the
// MAC by its own address write (no reload, no notice), and says so in its operations.
func TestIGBMACOnTrustedVFReachesNetdev(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	r := clitest.MustRun(t, "--lab", dir, "vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:31", "--trust", "on")
	if strings.Contains(r.Stderr, "Reload the VF driver") || !strings.Contains(r.Stdout+r.Stderr, "netdevMac") {
		t.Fatalf("want the netdev write and no reload notice: stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	vf := show(t, dir, "ens5f0").PFs[0]["vfs"].([]any)[0].(map[string]any)
	if vf["netdevMac"] != "02:00:00:00:00:31" || vf["mac"] != "02:00:00:00:00:31" || vf["trust"] != true || vf["driver"] != "igbvf" {
		t.Fatalf("after vf set: %v", vf)
	}
}

func TestDemoRuns(t *testing.T) {
	r := clitest.MustRun(t, "demo")
	for _, want := range []string{"$ sriovctl pf set ens5f0 --numvfs 4", "(exit code 2)", "demo finished"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestReloadFailureLeavesOldMAC: with --reload-vf-driver the MAC is written while the VF is unbound, so
// a failed rebind is rolled back to the old MAC on a bound VF, never a netdev carrying the new MAC.
func TestReloadFailureLeavesOldMAC(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "2")
	before := show(t, dir, "ens5f0").PFs[0]["vfs"].([]any)[0].(map[string]any)
	// Writes: clear MAC (igb rebind quirk), unbind, MAC, bind: fail the bind.
	clitest.MustRun(t, "--lab", dir, "lab", "fault", "--fail-at", "4")
	r := clitest.Run(t, "--lab", dir, "vf", "set", "ens5f0", "0", "--mac", "02:00:00:00:00:41", "--reload-vf-driver")
	if r.Code != 1 || !strings.Contains(r.Stderr, "driver (none) -> igbvf failed") || !strings.Contains(r.Stderr, "host restored") {
		t.Fatalf("exit %d %q", r.Code, r.Stderr)
	}
	after := show(t, dir, "ens5f0").PFs[0]["vfs"].([]any)[0].(map[string]any)
	if after["mac"] != before["mac"] || after["driver"] != "igbvf" || after["netdevMac"] == "02:00:00:00:00:41" {
		t.Fatalf("before %v\nafter %v", before, after)
	}
}

// TestVFSetSharedMACNote: a MAC another VF of the PF has is set (the NIC allows it) with a note naming
// both VFs and what the NIC does with a shared MAC; a MAC of its own gets none.
func TestVFSetSharedMACNote(t *testing.T) {
	dir := clitest.NewLab(t)
	clitest.MustRun(t, "--lab", dir, "pf", "set", "ens5f0", "--numvfs", "3")
	for _, tc := range []struct {
		vf, mac string
		note    bool
	}{
		{"0", "02:00:00:00:00:31", false},
		{"2", "02:00:00:00:00:31", true},
		{"1", "02:00:00:00:00:32", false},
	} {
		r := clitest.MustRun(t, "--lab", dir, "vf", "set", "ens5f0", tc.vf, "--mac", tc.mac)
		got := strings.Contains(r.Stderr, "note: ens5f0: VFs 0,2 share MAC 02:00:00:00:00:31 outside any mirror group")
		if got != tc.note || (!tc.note && strings.Contains(r.Stderr, "share MAC")) {
			t.Fatalf("vf %s --mac %s: note %v, want %v:\n%s", tc.vf, tc.mac, got, tc.note, r.Stderr)
		}
	}
}

// TestVFSetSharedMACRefusedUpFront: on a NIC that refuses a MAC two VFs share (mlx5), vf set says so
// before writing anything (exit 1) instead of writing and undoing.
func TestVFSetSharedMACRefusedUpFront(t *testing.T) {
	dir := clitest.NewLab(t, "eth0=mlx5:8")
	clitest.MustRun(t, "--lab", dir, "pf", "set", "eth0", "--numvfs", "2")
	clitest.MustRun(t, "--lab", dir, "vf", "set", "eth0", "0", "--mac", "02:00:00:00:00:41")
	clitest.MustRun(t, "--lab", dir, "lab", "fault", "--fail-at", "1") // any write would fail (and say so)
	r := clitest.Run(t, "--lab", dir, "vf", "set", "eth0", "1", "--mac", "02:00:00:00:00:41")
	want := "sriovctl: vf set: eth0 vf 1: MAC 02:00:00:00:00:41 is vf 0's already and mlx5_core refuses a MAC two VFs share (mac is already in use by vport); nothing was changed\n"
	if r.Code != 1 || r.Stderr != want {
		t.Fatalf("exit %d, stderr %q, want 1 and %q", r.Code, r.Stderr, want)
	}
	if vf := show(t, dir, "eth0").PFs[0]["vfs"].([]any)[1].(map[string]any); vf["mac"] != "00:00:00:00:00:00" {
		t.Fatalf("vf 1 changed: %v", vf)
	}
}
