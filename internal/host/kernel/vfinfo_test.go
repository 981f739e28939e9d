package kernel

import (
	"encoding/binary"
	"testing"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

func nla(typ uint16, payload ...[]byte) []byte {
	var p []byte
	for _, x := range payload {
		p = append(p, x...)
	}
	b := make([]byte, 4, 4+len(p)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(p)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32s(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.NativeEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func vfEntry(id uint32, mac byte, vlan, qos uint32, proto uint16) []byte {
	m := make([]byte, 32)
	copy(m, []byte{2, 0, 0, 0, 0, mac})
	vi := append(u32s(id, vlan, qos), byte(proto>>8), byte(proto))
	return nla(iflaVFInfo|nlaNested,
		nla(iflaVFMAC, u32s(id), m),
		nla(iflaVFVLAN, u32s(id, vlan, qos)),
		nla(iflaVFVLANList|nlaNested, nla(1, vi)),
		nla(iflaVFRate, u32s(id, 0, 100)),
		nla(iflaVFSpoofChk, u32s(id, 0)),
		nla(iflaVFLink, u32s(id, 2)),
		nla(iflaVFRSSQuery, u32s(id, notReported)),
		nla(iflaVFTrust, u32s(id, 1)),
	)
}

func newlinkPayload(list []byte) []byte {
	p := make([]byte, ifInfoMsgLen)
	p = append(p, nla(3, []byte("eth0\x00"))...) // IFLA_IFNAME
	p = append(p, list...)
	return append(p, nla(4, u32s(1500))...) // IFLA_MTU after the list
}

func TestParseVFInfoLenient(t *testing.T) {
	var entries []byte
	for i := 0; i < 3; i++ {
		entries = append(entries, vfEntry(uint32(i), byte(0x10+i), 100, 3, 0x88a8)...)
	}
	got := parseVFList(newlinkPayload(nla(iflaVFInfoList|nlaNested, entries))).VFs
	if len(got) != 3 {
		t.Fatalf("got %d VFs", len(got))
	}
	want := sriov.VFConfig{MAC: "02:00:00:00:00:11", VLAN: 100, QoS: 3, VLANProto: sriov.VLANProto8021AD, SpoofCheck: false,
		Trust: true, LinkState: sriov.LinkStateDisable, MaxTxRateMbps: 100, QueryRSS: false}
	if got[1].ID != 1 || got[1].Config != want {
		t.Errorf("VF 1: %+v\nwant %+v", got[1], want)
	}
}

// A list longer than 65535 bytes: the kernel's 16-bit length wraps and the list reads as a short one,
// possibly ending inside an entry. The parser keeps the complete entries and never panics.
func TestParseVFInfoLenientWrappedLength(t *testing.T) {
	var entries []byte
	n := 0
	for len(entries) < 70000 {
		entries = append(entries, vfEntry(uint32(n), byte(n), 0, 0, 0x8100)...)
		n++
	}
	list := nla(iflaVFInfoList|nlaNested, entries)
	// What the kernel writes: the real length modulo 65536.
	binary.NativeEndian.PutUint16(list[0:2], uint16((4+len(entries))%65536))
	got := parseVFList(newlinkPayload(list)).VFs
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("got %d of %d VFs, want a short list", len(got), n)
	}
	for i, v := range got {
		if v.ID != i {
			t.Fatalf("entry %d has id %d", i, v.ID)
		}
	}
	// Every prefix of a message parses without panicking.
	p := newlinkPayload(nla(iflaVFInfoList|nlaNested, vfEntry(0, 1, 5, 0, 0x8100)))
	for i := range p {
		parseVFList(p[:i])
	}
}
