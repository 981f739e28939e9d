package nicprofile

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

func TestEmbeddedProfiles(t *testing.T) {
	want := map[string]struct {
		total    int
		vfDriver string
	}{
		"ixgbe": {63, "ixgbevf"}, "i40e": {64, "iavf"}, "ice": {256, "iavf"}, "mlx5": {16, "mlx5_core"}, "igb": {7, "igbvf"},
		"netdevsim": {4, ""},
	}
	if len(All()) != len(want) {
		t.Fatalf("got %d profiles, want %d", len(All()), len(want))
	}
	for name, w := range want {
		p, ok := ByName(name)
		if !ok {
			t.Fatalf("profile %s missing", name)
		}
		if p.TotalVFs != w.total || p.VFDriver != w.vfDriver {
			t.Errorf("%s: total %d driver %s, want %d %s", name, p.TotalVFs, p.VFDriver, w.total, w.vfDriver)
		}
		if p.VFStride < 1 || !p.NoVFDevices && (p.VendorID == "" || p.VFDeviceID == "") {
			t.Errorf("%s: incomplete profile %+v", name, p)
		}
	}
	igb, _ := ByName("igb")
	if igb.Supports(AttrLinkState) || !igb.Supports(AttrTrust) || !igb.MACNeedsVFReload {
		t.Errorf("igb capabilities wrong: %+v", igb)
	}
	if r, _ := igb.Refusal(AttrVLANProto8021AD); r.Errno != "EPROTONOSUPPORT" {
		t.Errorf("igb 802.1ad refusal = %+v", r)
	}
	if mlx, _ := ByName("mlx5_core"); mlx.DuplicateMAC != DuplicateMACRefused || mlx.DuplicateMACRefusal == nil {
		t.Errorf("mlx5 duplicate MAC: %+v", mlx)
	}
}

// TestVerified: the profiles checked against a real driver by the guest suite are igb and netdevsim;
// the others come from driver sources.
func TestVerified(t *testing.T) {
	for _, p := range All() {
		want := VerifiedDriverSources
		if p.Name == "igb" || p.Name == "netdevsim" {
			want = VerifiedRealDriver
		}
		if p.Verified != want {
			t.Errorf("%s: verified %q, want %q", p.Name, p.Verified, want)
		}
	}
}

// TestNetdevsimSwitchdevRefusesRates: netdevsim accepts every VF attribute in legacy mode and refuses
// VF rates (EOPNOTSUPP) in switchdev mode.
func TestNetdevsimSwitchdevRefusesRates(t *testing.T) {
	p, _ := ByName("netdevsim")
	cur := sriov.DefaultVFConfig()
	want := cur
	want.MinTxRateMbps, want.MaxTxRateMbps, want.LinkState, want.VLANProto, want.QueryRSS, want.Trust = 10, 100, sriov.LinkStateDisable, sriov.VLANProto8021AD, true, true
	tests := []struct {
		mode  string
		errno syscall.Errno
	}{{"legacy", 0}, {"", 0}, {"switchdev", syscall.EOPNOTSUPP}}
	for _, tt := range tests {
		err := p.CheckChangeIn(tt.mode, "eth0", 0, cur, want)
		if tt.errno == 0 && err != nil || tt.errno != 0 && !errors.Is(err, tt.errno) {
			t.Errorf("mode %q: %v, want errno %v", tt.mode, err, tt.errno)
		}
	}
}

func TestMTULimit(t *testing.T) {
	cases := []struct {
		driver string
		want   int
	}{
		{"igb", 9216}, {"ixgbe", 9710}, {"i40e", 9702}, {"ice", 9702}, {"mlx5_core", 9978}, {"netdevsim", 65535},
		{"bnxt_en", sriov.DefaultMaxMTU}, // no profile: the common jumbo limit; the kernel refuses more itself
	}
	for _, c := range cases {
		if got := ForDriver(c.driver).MTULimit(); got != c.want {
			t.Errorf("%s: MTULimit() = %d, want %d", c.driver, got, c.want)
		}
	}
}

// TestNamesMatchProfiles: Names reads profiles.yaml without parsing it; it must list what the parse does,
// in file order.
func TestNamesMatchProfiles(t *testing.T) {
	var want []string
	for _, p := range All() {
		want = append(want, p.Name)
	}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, parsed profiles: %v", got, want)
	}
}

// TestProfilesJSONUpToDate fails while profiles.json is not what profiles.yaml generates: edit the YAML,
// then run `go generate ./internal/nicprofile`.
func TestProfilesJSONUpToDate(t *testing.T) {
	want, err := GenerateJSON(profilesYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, profilesJSON) {
		t.Fatal("profiles.json is stale: run `go generate ./internal/nicprofile`")
	}
}

// TestDecodeRefusesUnknownKeys: a key no Profile field reads is an error, in the JSON as in the YAML.
func TestDecodeRefusesUnknownKeys(t *testing.T) {
	if _, err := decode([]byte(`[{"driver": "x", "verified": "real-driver", "totlVfs": 4}]`)); err == nil || !strings.Contains(err.Error(), "totlVfs") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := GenerateJSON([]byte("- driver: x\n  verified: real-driver\n  totlVfs: 4\n")); err == nil || !strings.Contains(err.Error(), "totlVfs") {
		t.Fatalf("unknown key in YAML: %v", err)
	}
	if _, err := decode([]byte(`[{"driver": "x", "verified": "maybe"}]`)); err == nil {
		t.Fatal("a bad verified value was accepted")
	}
}
