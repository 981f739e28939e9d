package lab

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// VF records are kept in a compact binary form: observing a PF decodes every one of its VFs, and with
// 256 VFs JSON decoding was the largest part of a command's work on the lab (a pool assign spent about
// 2 ms of its ~15 ms there). Records written before this form are JSON, read as such until rewritten.
//
// The form: a format byte, then the fields in declaration order: integers as varints, strings
// length-prefixed, the three booleans as one byte of bits.
const vfFormat = 1 // a JSON record starts with '{'

const (
	bitSpoofCheck = 1 << iota
	bitTrust
	bitQueryRSS
)

func encodeVF(v *vf) []byte {
	c := &v.VFConfig
	b := make([]byte, 0, 64+len(v.Driver))
	b = append(b, vfFormat)
	b = binary.AppendVarint(b, int64(v.ID))
	b = appendString(b, v.Driver)
	b = appendString(b, v.NetdevMAC)
	b = appendString(b, c.MAC)
	b = binary.AppendVarint(b, int64(c.VLAN))
	b = binary.AppendVarint(b, int64(c.QoS))
	b = appendString(b, string(c.VLANProto))
	var bits byte
	if c.SpoofCheck {
		bits |= bitSpoofCheck
	}
	if c.Trust {
		bits |= bitTrust
	}
	if c.QueryRSS {
		bits |= bitQueryRSS
	}
	b = append(b, bits)
	b = appendString(b, string(c.LinkState))
	b = binary.AppendVarint(b, int64(c.MinTxRateMbps))
	b = binary.AppendVarint(b, int64(c.MaxTxRateMbps))
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errVFRecord = errors.New("truncated or unknown VF record")

// decodeVF reads a record in either form.
func decodeVF(data []byte, v *vf) error {
	if len(data) > 0 && data[0] == '{' {
		return json.Unmarshal(data, v)
	}
	if len(data) == 0 || data[0] != vfFormat {
		return errVFRecord
	}
	d := decoder{b: data[1:]}
	c := &v.VFConfig
	v.ID = d.int()
	v.Driver = d.string()
	v.NetdevMAC = d.string()
	c.MAC = d.string()
	c.VLAN = d.int()
	c.QoS = d.int()
	c.VLANProto = sriov.VLANProto(d.string())
	bits := d.byte()
	c.SpoofCheck, c.Trust, c.QueryRSS = bits&bitSpoofCheck != 0, bits&bitTrust != 0, bits&bitQueryRSS != 0
	c.LinkState = sriov.LinkState(d.string())
	c.MinTxRateMbps = d.int()
	c.MaxTxRateMbps = d.int()
	if d.bad || len(d.b) != 0 || bits&^(bitSpoofCheck|bitTrust|bitQueryRSS) != 0 {
		return errVFRecord
	}
	return nil
}

// decoder reads varints and strings, remembering the first short read.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) int() int {
	n, k := binary.Varint(d.b)
	if k <= 0 || overlong(d.b, k) || int64(int(n)) != n {
		d.bad = true
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

// overlong reports a varint of k bytes padded with a zero group: encodeVF never writes one, so a
// record holding it was not written by it.
func overlong(b []byte, k int) bool { return k > 1 && b[k-1] == 0 }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || overlong(d.b, k) || n > uint64(len(d.b)-k) {
		d.bad = true
		return ""
	}
	s := d.b[k : k+int(n)]
	d.b = d.b[k+int(n):]
	return intern(s)
}

// intern returns the common values without allocating: most VFs share their driver, VLAN protocol,
// link state and the zero MAC.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case sriov.ZeroMAC:
		return sriov.ZeroMAC
	case string(sriov.VLANProto8021Q):
		return string(sriov.VLANProto8021Q)
	case string(sriov.LinkStateAuto):
		return string(sriov.LinkStateAuto)
	case "vfio-pci":
		return "vfio-pci"
	}
	return string(b)
}
