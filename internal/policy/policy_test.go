package policy

import (
	"strings"
	"testing"
)

func TestParseErrorsNameLineAndField(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"unknown key", "pfs:\n  - name: a\n    numVfz: 3\n", "p.yaml:3: pfs[0].numVfz: unknown key; did you mean \"numVfs\"?"},
		{"unknown key, case", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        spoofChk: false\n", "p.yaml:5: pfs[0].vfs[0].spoofChk: unknown key; did you mean \"spoofchk\"?"},
		{"unknown key, nothing close", "pfs:\n  - name: a\n    bandwidth: 3\n", "p.yaml:3: pfs[0].bandwidth: unknown key; allowed here: eswitchMode, match, mtu, name, numVfs, pciAddress, vfs"},
		{"unknown top key", "pfs: []\npool:\n  - {name: a}\n", "p.yaml:2: pool: unknown key; did you mean \"pools\"?"},
		{"wrong type", "pfs:\n  - name: a\n    numVfs: many\n", "p.yaml:3: pfs[0].numVfs: invalid value \"many\": want a whole number, e.g. 10"},
		{"octal vlan", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        vlan: 010\n", "p.yaml:5: pfs[0].vfs[0].vlan: invalid value \"010\": want a whole number in plain decimal"},
		{"0o vlan", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        vlan: 0o10\n", "pfs[0].vfs[0].vlan: invalid value \"0o10\""},
		{"hex numVfs", "pfs:\n  - name: a\n    numVfs: 0x10\n", "p.yaml:3: pfs[0].numVfs: invalid value \"0x10\""},
		{"plus sign", "pfs:\n  - name: a\n    numVfs: +4\n", "p.yaml:3: pfs[0].numVfs: invalid value \"+4\""},
		{"fraction vlan", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        vlan: 100.9\n", "p.yaml:5: pfs[0].vfs[0].vlan: invalid value \"100.9\": want a whole number, e.g. 10 (no fraction)"},
		{"fraction numVfs", "pfs:\n  - name: a\n    numVfs: 2.5\n", "p.yaml:3: pfs[0].numVfs: invalid value \"2.5\": want a whole number, e.g. 10 (no fraction)"},
		{"integral float", "pfs:\n  - name: a\n    numVfs: 2.0\n", "p.yaml:3: pfs[0].numVfs: invalid value \"2.0\""},
		{"quoted number", "pfs:\n  - name: a\n    numVfs: \"4\"\n", "p.yaml:3: pfs[0].numVfs: invalid value \"4\": want a whole number"},
		{"huge number", "pfs:\n  - name: a\n    numVfs: 99999999999999999999\n", "p.yaml:3: pfs[0].numVfs: invalid value \"99999999999999999999\": out of range"},
		{"tab indent", "pfs:\n\t- name: a\n", "p.yaml:2: found character that cannot start any token (a tab? YAML indents with spaces only)"},
		{"yes is not a bool", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        trust: yes\n", "p.yaml:5: pfs[0].vfs[0].trust: invalid value \"yes\": want true or false"},
		{"list for a mapping", "pfs:\n  - - a\n", "p.yaml:2: pfs[0]: want a mapping (key: value lines), got a list"},
		{"mapping for a list", "pfs:\n  name: a\n", "p.yaml:2: pfs: want a list (lines starting with -), got a mapping"},
		{"mapping for a value", "pfs:\n  - name: {a: b}\n", "p.yaml:2: pfs[0].name: want a single value, got a mapping"},
		{"scalar document", "hello\n", "p.yaml:1: want a mapping (key: value lines), got the value \"hello\""},
		{"null document", "~\n", "p.yaml:1: empty policy"},
		{"empty mapping", "{}\n", "p.yaml:1: empty policy"},
		{"comments only", "# nothing\n", "p.yaml: empty policy"},
		{"merge key checked", "base: &b {numVfz: 2}\npfs: []\n", "p.yaml:1: base: unknown key"},
		{"vlan range", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        vlan: 5000\n", "p.yaml:5: pfs[0].vfs[0].vlan: invalid value \"5000\": allowed 0-4094"},
		{"mac for many", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0-1\"\n        mac: 02:00:00:00:00:01\n", "p.yaml:5: pfs[0].vfs[0].mac: a MAC is for a single VF"},
		{"overlap", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0-2\"\n      - ids: \"2\"\n", "p.yaml:5: pfs[0].vfs[1].ids: VF 2 already appears in pfs[0].vfs[0]"},
		{"beyond numVfs", "pfs:\n  - name: a\n    numVfs: 2\n    vfs:\n      - ids: \"0-2\"\n", "p.yaml:5: pfs[0].vfs[0].ids: VF 2 does not exist with numVfs 2"},
		{"no name", "pfs:\n  - numVfs: 2\n", "p.yaml:2: pfs[0]: give name"},
		{"multicast mac", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        mac: 01:00:5e:00:00:01\n", "p.yaml:5: pfs[0].vfs[0].mac: invalid value"},
		{"bad state", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        linkState: up\n", "p.yaml:5: pfs[0].vfs[0].linkState: invalid value \"up\": allowed auto, enable or disable"},
		{"min over max", "pfs:\n  - name: a\n    vfs:\n      - ids: \"0\"\n        minTxRateMbps: 500\n        maxTxRateMbps: 100\n", "p.yaml:5: pfs[0].vfs[0].minTxRateMbps: invalid value \"500\": must not exceed maxTxRateMbps"},
		{"bad ids", "pfs:\n  - name: a\n    vfs:\n      - ids: \"3-1\"\n", "p.yaml:4: pfs[0].vfs[0].ids: invalid value \"3-1\""},
		{"mirror one vf", "pfs: []\nmirrors:\n  - name: m\n    pf: a\n    vfs: \"2\"\n", "p.yaml:5: mirrors[0].vfs: a mirror group needs at least 2 VFs"},
		{"pool overlap", "pfs: []\npools:\n  - {name: a, pf: x, ids: \"0-3\"}\n  - {name: b, pf: x, ids: \"3\"}\n", "p.yaml:4: pools[1].ids: VF 3 of x is already in pool \"a\""},
		{"pool driver", "pfs: []\npools:\n  - name: a\n    pf: x\n    ids: \"0\"\n    driver: ../../../x\n", "p.yaml:6: pools[0].driver: invalid value \"../../../x\": want a driver name"},
		{"empty", "", "p.yaml: empty policy"},
		{"mtu below 68", "pfs:\n  - name: a\n    mtu: 67\n", "p.yaml:3: pfs[0].mtu: invalid value \"67\": allowed 68-65535"},
		{"mtu above ETH_MAX_MTU", "pfs:\n  - name: a\n    mtu: 65536\n", "p.yaml:3: pfs[0].mtu: invalid value \"65536\": allowed 68-65535"},
		{"mtu octal", "pfs:\n  - name: a\n    mtu: 09000\n", "p.yaml:3: pfs[0].mtu: invalid value \"09000\""},
		{"name and match", "pfs:\n  - name: a\n    match: {driver: ice}\n", "p.yaml:2: pfs[0]: give one of name, pciAddress and match, not several"},
		{"empty match", "pfs:\n  - match: {}\n    numVfs: 2\n", "p.yaml:2: pfs[0].match: invalid value \"{}\": give at least one of vendorId, deviceId, driver and pciAddress"},
		{"match vendor", "pfs:\n  - match:\n      vendorId: intel\n", "p.yaml:3: pfs[0].match.vendorId: invalid value \"intel\": want 4 hex digits"},
		{"match glob", "pfs:\n  - match:\n      pciAddress: \"0000:3b:00.[\"\n", "p.yaml:3: pfs[0].match.pciAddress: invalid value \"0000:3b:00.[\": want a glob over a PCI address"},
		{"match glob no colons", "pfs:\n  - match:\n      pciAddress: \"*\"\n", "pfs[0].match.pciAddress: invalid value \"*\""},
		{"match driver glob", "pfs:\n  - match: {driver: \"i*\"}\n", "p.yaml:2: pfs[0].match.driver: invalid value \"i*\": want a PF driver name"},
		{"match unknown key", "pfs:\n  - match: {vendor: \"8086\"}\n", "pfs[0].match.vendor: unknown key; did you mean \"vendorId\"?"},
		{"same match twice", "pfs:\n  - match: {driver: ice}\n  - match: {driver: ice}\n", "p.yaml:3: pfs[1]: PF \"match{driver=ice}\" already appears in pfs[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			for _, internal := range []string{"strconv", "policy.", "!!", "unmarshal", "not found in"} {
				if strings.Contains(err.Error(), internal) {
					t.Fatalf("error %q shows Go internals (%q)", err, internal)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	in := `pfs:
  - name: ens2f0
    numVfs: 8
    vfs:
      - ids: "0-3"
        vlan: 100
        qos: 2
        spoofchk: false
      - ids: "5"
        mac: "02:00:00:00:00:10"
        driver: vfio-pci
  - pciAddress: "0000:3b:00.0"
mirrors:
  - {name: probe, pf: ens2f0, vfs: "6,7", mac: "02:00:00:00:00:aa"}
pools:
  - {name: vms, pf: ens2f0, ids: "0-3", driver: vfio-pci}
`
	p, err := Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.PFs) != 2 || *p.PFs[0].NumVFs != 8 || p.PFs[1].Ref() != "0000:3b:00.0" {
		t.Fatalf("pfs = %+v", p.PFs)
	}
	g := p.PFs[0].VFs[0]
	if FormatIDs(g.VFIDs) != "0-3" || *g.VLAN != 100 || *g.SpoofCheck || g.Line != 5 {
		t.Fatalf("group = %+v", g)
	}
	if p.Mirrors[0].Strategy != StrategyAuto || FormatIDs(p.Mirrors[0].VFIDs) != "6-7" {
		t.Fatalf("mirror = %+v", p.Mirrors[0])
	}
	if p.Pools[0].Driver != "vfio-pci" || len(p.Pools[0].VFIDs) != 4 {
		t.Fatalf("pool = %+v", p.Pools[0])
	}
}

func TestParseMergeKeysAndAliases(t *testing.T) {
	in := "common: &c\n  vlan: 100\n  trust: true\npfs:\n  - name: a\n    vfs:\n      - <<: *c\n        ids: \"0-1\"\n      - <<: [*c]\n        ids: \"2\"\n"
	_, err := Parse("p.yaml", []byte(in))
	// common: is not a policy key; the merged keys themselves are valid.
	if err == nil || !strings.Contains(err.Error(), "p.yaml:1: common: unknown key") {
		t.Fatalf("err = %v", err)
	}
	in = "pfs:\n  - name: a\n    vfs:\n      - &g {ids: \"0\", vlan: 100}\n  - name: b\n    vfs:\n      - <<: *g\n        ids: \"1\"\n        qos: 2\n"
	p, err := Parse("p.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if g := p.PFs[1].VFs[0]; *g.VLAN != 100 || *g.QoS != 2 || g.IDs != "1" {
		t.Fatalf("merged group = %+v", g)
	}
}

func TestParseIDs(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "0,2-5": "0,2-5", "3,1,2": "1-3", " 0 - 1 , 4": "0-1,4"} {
		ids, err := ParseIDs(in)
		if err != nil || FormatIDs(ids) != want {
			t.Errorf("ParseIDs(%q) = %v, %v; want %s", in, ids, err, want)
		}
	}
	for _, bad := range []string{"", "a", "-1", "2-1", "1-", "99999"} {
		if _, err := ParseIDs(bad); err == nil {
			t.Errorf("ParseIDs(%q) accepted", bad)
		}
	}
}
