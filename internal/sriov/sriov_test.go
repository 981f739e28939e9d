package sriov

import (
	"strings"
	"testing"
)

func TestParseMAC(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"02:00:00:00:00:10", "02:00:00:00:00:10", ""},
		{"02:AB:CD:EF:00:01", "02:ab:cd:ef:00:01", ""},
		{"02-00-00-00-00-10", "02:00:00:00:00:10", ""},
		{"00:00:00:00:00:00", ZeroMAC, ""},
		{"01:00:5e:00:00:01", "", "multicast and broadcast MACs are not allowed"},
		{"ff:ff:ff:ff:ff:ff", "", "multicast and broadcast MACs are not allowed"},
		{"02:00:00:00:00", "", "want a 48-bit MAC"},
		{"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", "", "want a 48-bit MAC"},
		{"zz", "", "want a 48-bit MAC"},
	}
	for _, c := range cases {
		got, err := ParseMAC("--mac", c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseMAC(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "--mac: invalid value") {
			t.Errorf("ParseMAC(%q) error = %v; want --mac ... %q", c.in, err, c.err)
		}
	}
}

func TestRangeValidators(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string // "" = valid
	}{
		{"vlan 0 flat", ValidateVLAN("vlan", 0), ""},
		{"vlan 4094", ValidateVLAN("vlan", 4094), ""},
		{"vlan 4095 reserved", ValidateVLAN("vlan", 4095), `vlan: invalid value "4095": allowed 0-4094 (0 = no VLAN, flat)`},
		{"vlan negative", ValidateVLAN("vlan", -1), "allowed 0-4094"},
		{"qos 7", ValidateQoS("qos", 7), ""},
		{"qos 8", ValidateQoS("qos", 8), `qos: invalid value "8": allowed 0-7`},
		{"rate 0", ValidateRate("r", 0), ""},
		{"rate negative", ValidateRate("r", -5), "allowed 0-1000000 Mbps"},
		{"min<=max", ValidateRates("min", 10, "max", 100), ""},
		{"max 0 unlimited", ValidateRates("min", 10, "max", 0), ""},
		{"min>max", ValidateRates("min", 200, "max", 100), `min: invalid value "200": must not exceed max (100 Mbps)`},
		{"vf id ok", ValidateVFID("VF", 3, 4), ""},
		{"vf id beyond", ValidateVFID("VF", 4, 4), `VF: invalid value "4": allowed 0-3`},
		{"vf id no vfs", ValidateVFID("VF", 0, 0), "the PF has no VFs"},
		{"numvfs max", ValidateNumVFs("--numvfs", 7, 7), ""},
		{"numvfs beyond", ValidateNumVFs("--numvfs", 8, 7), `--numvfs: invalid value "8": allowed 0-7 (sriov_totalvfs)`},
		{"mtu min", ValidateMTU("mtu", 68, 9216), ""},
		{"mtu NIC max", ValidateMTU("mtu", 9216, 9216), ""},
		{"mtu below IPv4 minimum", ValidateMTU("mtu", 67, 9216), `mtu: invalid value "67": allowed 68-9216`},
		{"mtu above NIC max", ValidateMTU("pfs[0].mtu", 9217, 9216), `pfs[0].mtu: invalid value "9217": allowed 68-9216`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.want == "" {
				if c.err != nil {
					t.Fatalf("unexpected error %v", c.err)
				}
				return
			}
			if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
				t.Fatalf("error = %v, want %q", c.err, c.want)
			}
		})
	}
}

func TestParseEnums(t *testing.T) {
	if p, err := ParseVLANProto("p", "802.1AD"); err != nil || p != VLANProto8021AD {
		t.Errorf("802.1AD -> %v %v", p, err)
	}
	if _, err := ParseVLANProto("p", "qinq"); err == nil || !strings.Contains(err.Error(), "allowed 802.1Q or 802.1ad") {
		t.Errorf("qinq accepted or unclear: %v", err)
	}
	for _, s := range []string{"auto", "enable", "disable"} {
		if _, err := ParseLinkState("s", s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseLinkState("s", "up"); err == nil {
		t.Error("link state up accepted")
	}
}

func TestVFConfigValidate(t *testing.T) {
	ok := DefaultVFConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	bad := ok
	bad.QoS = 3
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "needs a VLAN") {
		t.Errorf("qos without vlan: %v", err)
	}
	bad = ok
	bad.MinTxRateMbps, bad.MaxTxRateMbps = 100, 50
	if err := bad.Validate(); err == nil {
		t.Error("min > max accepted")
	}
}

func TestSettingsApplyTo(t *testing.T) {
	cur := DefaultVFConfig()
	cur.VLAN, cur.QoS = 100, 3
	vlan := 200
	got := VFSettings{VLAN: &vlan}.ApplyTo(cur)
	if got.VLAN != 200 || got.QoS != 0 {
		t.Errorf("vlan without qos should reset qos like ip link: %+v", got)
	}
	flat := 0
	got = VFSettings{VLAN: &flat}.ApplyTo(cur)
	if got.VLAN != 0 || got.QoS != 0 || got.VLANProto != VLANProto8021Q {
		t.Errorf("flat: %+v", got)
	}
	off := false
	got = VFSettings{SpoofCheck: &off}.ApplyTo(cur)
	if got.SpoofCheck || got.VLAN != 100 || got.QoS != 3 {
		t.Errorf("unnamed attributes must stay: %+v", got)
	}
}
