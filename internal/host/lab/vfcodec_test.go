package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sriovctl/sriovctl/internal/nicprofile"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// fillAll sets every field of the struct v points to (embedded ones too) to a value of its own, so that a
// field the codec forgets fails the round trip.
func fillAll(v reflect.Value, n *int) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		*n++
		switch f.Kind() {
		case reflect.Struct:
			fillAll(f, n)
		case reflect.Int:
			f.SetInt(int64(*n) * 1000003)
		case reflect.String:
			f.SetString("s" + string(rune('a'+*n)))
		case reflect.Bool:
			f.SetBool(true)
		default:
			panic("vf has a field of kind " + f.Kind().String() + ": teach encodeVF and this test about it")
		}
	}
}

func TestVFCodecRoundTripsEveryField(t *testing.T) {
	var full vf
	n := 0
	fillAll(reflect.ValueOf(&full).Elem(), &n)
	for _, v := range []vf{
		full,
		{},
		{ID: 255, Driver: "vfio-pci", NetdevMAC: sriov.ZeroMAC, VFConfig: sriov.DefaultVFConfig()},
		{ID: 7, VFConfig: sriov.VFConfig{VLAN: 4095, QoS: 7, MinTxRateMbps: -1, MaxTxRateMbps: 100000, Trust: true}},
	} {
		var got vf
		if err := decodeVF(encodeVF(&v), &got); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %+v: got %+v, %v", v, got, err)
		}
		// Records written before the binary form are JSON and still read.
		data, _ := json.Marshal(v)
		got = vf{}
		if err := decodeVF(data, &got); err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("JSON record %s: got %+v, %v", data, got, err)
		}
	}
}

func TestVFCodecRefusesDamage(t *testing.T) {
	good := encodeVF(&vf{ID: 3, Driver: "iavf", VFConfig: sriov.DefaultVFConfig()})
	cases := map[string][]byte{
		"empty":          {},
		"unknown format": append([]byte{9}, good[1:]...),
		"trailing bytes": append(append([]byte{}, good...), 0),
		"unknown bits":   func() []byte { b := encodeVF(&vf{}); b[len(b)-4] = 0xf0; return b }(),
	}
	for i := 1; i < len(good); i++ {
		cases["truncated at "+string(rune('0'+i%10))+"/"+string(rune('a'+i))] = good[:i]
	}
	for name, data := range cases {
		var v vf
		if err := decodeVF(data, &v); err == nil {
			t.Errorf("%s: %x decoded as %+v", name, data, v)
		}
	}
}

func FuzzDecodeVF(f *testing.F) {
	f.Add(encodeVF(&vf{ID: 1, Driver: "iavf", VFConfig: sriov.DefaultVFConfig()}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v vf
		if decodeVF(data, &v) == nil && data[0] == vfFormat {
			// What decodes re-encodes to the same bytes.
			if again := encodeVF(&v); string(again) != string(data) {
				t.Fatalf("%x decoded to %+v, which encodes as %x", data, v, again)
			}
		}
	})
}

func TestVFAddressesFormatLikePrintf(t *testing.T) {
	for _, pf := range []string{"0000:86:00.0", "0000:3b:00.1", "abcd:fe:1f.7", "0001:00:00.0"} {
		for _, prof := range []*nicprofile.Profile{{VFOffset: 128, VFStride: 1}, {VFOffset: 0x180, VFStride: 2}, {VFOffset: 1, VFStride: 1}} {
			var dom, bus, dev, fn int
			fmt.Sscanf(pf, "%04x:%02x:%02x.%x", &dom, &bus, &dev, &fn)
			address := vfAddresses(pf, prof)
			for id := 0; id < 300; id++ {
				rid := bus<<8 | dev<<3 | fn + prof.VFOffset + prof.VFStride*id
				want := fmt.Sprintf("%04x:%02x:%02x.%x", dom, (rid>>8)&0xff, (rid>>3)&0x1f, rid&7)
				if got := address(id); got != want {
					t.Fatalf("%s %+v vf %d: %s, want %s", pf, prof, id, got, want)
				}
			}
		}
	}
}

// A lab written before the binary VF records (store version 2, JSON records) reads the same, and its
// first write moves it to version 3, which an older sriovctl refuses by its version.
func TestJSONVFLabIsReadAndMovedOnWrite(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := Init(dir, []NIC{{Name: "eth0", Profile: "ice", TotalVFs: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetNumVFs(ctx, "eth0", 4); err != nil {
		t.Fatal(err)
	}
	if err := l.SetVFVLAN(ctx, "eth0", 2, 7, 3, sriov.VLANProto8021Q); err != nil {
		t.Fatal(err)
	}
	want, err := l.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	version := func() string {
		t.Helper()
		var v string
		withBolt(t, dir, func(b *bolt.Tx) error { v = string(b.Bucket(bktLab).Get(keyVersion)); return nil })
		return v
	}
	// Back to the old form: every VF record as JSON, version 2.
	withBolt(t, dir, func(b *bolt.Tx) error {
		vb := b.Bucket(bktVFs).Bucket([]byte("eth0"))
		var recs [][2][]byte
		vb.ForEach(func(k, data []byte) error {
			var v vf
			if err := decodeVF(data, &v); err != nil {
				return err
			}
			j, _ := json.Marshal(v)
			recs = append(recs, [2][]byte{append([]byte(nil), k...), j})
			return nil
		})
		for _, r := range recs {
			if err := vb.Put(r[0], r[1]); err != nil {
				return err
			}
		}
		return b.Bucket(bktLab).Put(keyVersion, []byte(jsonVFsVersion))
	})
	if got, err := l.Observe(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("a version-2 lab reads as %+v, %v; want %+v", got, err, want)
	}
	if v := version(); v != jsonVFsVersion {
		t.Fatalf("reading moved the lab to version %s", v)
	}
	if err := l.SetVFTrust(ctx, "eth0", 1, true); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != storeVersion {
		t.Fatalf("after a write the lab has version %s, want %s", v, storeVersion)
	}
	want.PFs[0].VFs[1].Trust = true
	if got, err := l.Observe(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after the write: %+v, %v; want %+v", got, err, want)
	}
}
