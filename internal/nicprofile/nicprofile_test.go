package nicprofile

import "testing"

func TestEmbeddedProfiles(t *testing.T) {
	want := map[string]struct {
		total    int
		vfDriver string
	}{
		"ixgbe": {63, "ixgbevf"}, "i40e": {64, "iavf"}, "ice": {256, "iavf"}, "mlx5": {16, "mlx5_core"}, "igb": {7, "igbvf"},
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
		if p.VFStride < 1 || p.VendorID == "" || p.VFDeviceID == "" {
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
