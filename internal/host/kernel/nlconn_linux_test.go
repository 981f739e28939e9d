package kernel

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// kernelVFEntry builds one IFLA_VF_INFO the way the kernel's rtnl_fill_vfinfo does (same attributes, same
// order, same sizes): about 196 bytes, and about 100 more with IFLA_VF_STATS.
func kernelVFEntry(id int, withStats bool) []byte {
	u := uint32(id)
	mac := make([]byte, 32)
	copy(mac, []byte{2, 0, 0, byte(id >> 16), byte(id >> 8), byte(id)})
	vlan := uint32(id % 4095)
	vlanInfo := append(u32s(u, vlan, 0), 0x81, 0x00, 0, 0) // proto 802.1Q, big-endian, padded
	attrs := [][]byte{
		nla(iflaVFMAC, u32s(u), mac),
		nla(13, make([]byte, 32)), // IFLA_VF_BROADCAST
		nla(iflaVFVLAN, u32s(u, vlan, 0)),
		nla(iflaVFRate, u32s(u, 0, uint32(id))),
		nla(iflaVFTxRate, u32s(u, uint32(id))),
		nla(iflaVFSpoofChk, u32s(u, 1)),
		nla(iflaVFLink, u32s(u, 0)),
		nla(iflaVFRSSQuery, u32s(u, notReported)),
		nla(iflaVFTrust, u32s(u, uint32(id%2))),
		nla(iflaVFVLANList|nlaNested, nla(1, vlanInfo[:14])),
	}
	if withStats {
		var st []byte
		for typ, v := range map[uint16]uint64{vfStatsRxPackets: 1, vfStatsTxPackets: 2, vfStatsRxBytes: 3, vfStatsTxBytes: 4,
			vfStatsBroadcast: 5, vfStatsMulticast: 6, vfStatsRxDropped: 7, vfStatsTxDropped: 8} {
			b := make([]byte, 8)
			binary.NativeEndian.PutUint64(b, v*uint64(id+1))
			st = append(st, nla(typ, b)...)
		}
		attrs = append(attrs, nla(iflaVFStats|nlaNested, st))
	}
	return nla(iflaVFInfo|nlaNested, attrs...)
}

// kernelAnswer is the RTM_NEWLINK datagram the kernel sends for a PF with n VFs: IFLA_NUM_VF, then the
// VF list, whose 16-bit length wraps as the kernel's nla_nest_end lets it when the list outgrows it.
func kernelAnswer(seq uint32, n int, withStats bool) []byte {
	var list []byte
	for i := 0; i < n; i++ {
		list = append(list, kernelVFEntry(i, withStats)...)
	}
	vfl := nla(iflaVFInfoList|nlaNested, list)
	binary.NativeEndian.PutUint16(vfl[0:2], uint16((4+len(list))%65536))
	body := make([]byte, ifInfoMsgLen)
	body = append(body, nla(3, []byte("ens1f0\x00"))...)
	body = append(body, nla(iflaNumVF, u32s(uint32(n)))...)
	body = append(body, vfl...)
	body = append(body, nla(4, u32s(1500))...)
	return nlMessage(unix.RTM_NEWLINK, 0, seq, body)
}

func nlMessage(typ, flags uint16, seq uint32, body []byte) []byte {
	m := make([]byte, 16, 16+len(body))
	binary.NativeEndian.PutUint32(m[0:4], uint32(16+len(body)))
	binary.NativeEndian.PutUint16(m[4:6], typ)
	binary.NativeEndian.PutUint16(m[6:8], flags)
	binary.NativeEndian.PutUint32(m[8:12], seq)
	return append(m, body...)
}

// replay is an nlTransport that answers each request with what answer makes of it.
type replay struct {
	sent    [][]byte
	pending [][]byte
	answer  func(req []byte) [][]byte
}

func (r *replay) send(b []byte) error {
	r.sent = append(r.sent, b)
	r.pending = append(r.pending, r.answer(b)...)
	return nil
}

func (r *replay) recv() ([]byte, error) {
	if len(r.pending) == 0 {
		return nil, fmt.Errorf("%w: no answer recorded", unix.ETIMEDOUT)
	}
	d := r.pending[0]
	r.pending = r.pending[1:]
	return d, nil
}

func seqOf(req []byte) uint32 { return binary.NativeEndian.Uint32(req[8:12]) }

// extMaskOf reads IFLA_EXT_MASK from an RTM_GETLINK request.
func extMaskOf(t *testing.T, req []byte) uint32 {
	t.Helper()
	mask := uint32(0)
	found := false
	walkAttrs(req[16+ifInfoMsgLen:], func(typ uint16, v []byte) bool {
		if typ == unix.IFLA_EXT_MASK {
			mask, found = binary.NativeEndian.Uint32(v), true
		}
		return true
	})
	if !found {
		t.Fatal("request has no IFLA_EXT_MASK")
	}
	return mask
}

// The VF reader at 1, 210, 256 and 512 VFs on the kernel's own layout: it asks for no statistics, gets
// every VF up to the answer's limit (about 330), and a PF beyond it is an operational error that names
// the limit. With statistics the list is cut short sooner (about 220 VFs), which is why Observe does not
// ask for them.
func TestVFInfoAtScale(t *testing.T) {
	for _, c := range []struct {
		n         int
		withStats bool
		complete  bool
	}{
		{1, false, true}, {210, false, true}, {256, false, true}, {512, false, false},
		{1, true, true}, {210, true, true}, {256, true, false},
	} {
		t.Run(fmt.Sprintf("%d VFs stats=%v", c.n, c.withStats), func(t *testing.T) {
			tr := &replay{answer: func(req []byte) [][]byte {
				stats := extMaskOf(t, req)&rtextFilterSkipStats == 0
				return [][]byte{kernelAnswer(seqOf(req), c.n, stats)}
			}}
			r := newRtnl(func() (nlTransport, error) { return tr, nil })
			list, err := r.VFInfo(7, c.withStats)
			if err != nil {
				t.Fatal(err)
			}
			req := tr.sent[0]
			if typ := binary.NativeEndian.Uint16(req[4:6]); typ != unix.RTM_GETLINK {
				t.Errorf("request type %d", typ)
			}
			if idx := int32(binary.NativeEndian.Uint32(req[16+4 : 16+8])); idx != 7 {
				t.Errorf("request for ifindex %d", idx)
			}
			wantMask := uint32(1) // RTEXT_FILTER_VF
			if !c.withStats {
				wantMask |= rtextFilterSkipStats
			}
			if got := extMaskOf(t, req); got != wantMask {
				t.Errorf("IFLA_EXT_MASK %#x, want %#x", got, wantMask)
			}
			if list.NumVFs != c.n {
				t.Errorf("IFLA_NUM_VF %d, want %d", list.NumVFs, c.n)
			}
			err = checkComplete("observe ens1f0", list, c.n, c.withStats)
			if c.complete {
				if err != nil || len(list.VFs) != c.n {
					t.Fatalf("%d of %d VFs, %v", len(list.VFs), c.n, err)
				}
			} else {
				if len(list.VFs) >= c.n || !errors.Is(err, host.ErrFailed) || !errors.Is(err, syscall.EMSGSIZE) ||
					!strings.Contains(err.Error(), "65535 bytes") {
					t.Fatalf("%d of %d VFs: got %v, want a KindFailed EMSGSIZE error naming the limit", len(list.VFs), c.n, err)
				}
			}
			for i, v := range list.VFs {
				wantMAC := fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))
				if v.ID != i || v.Config.MAC != wantMAC || v.Config.VLAN != i%4095 || v.Config.MaxTxRateMbps != i ||
					v.Config.Trust != (i%2 == 1) || !v.Config.SpoofCheck || v.Config.QueryRSS {
					t.Fatalf("VF %d: %+v", i, v)
				}
				if (v.Stats != nil) != c.withStats || (v.Stats != nil && (v.Stats.RxPackets != uint64(i+1) || v.Stats.TxDropped != 8*uint64(i+1))) {
					t.Fatalf("VF %d stats: %+v", i, v.Stats)
				}
			}
		})
	}
}

// Observe through the netlink reader on a fake sysfs at 256 VFs (complete) and 512 (an exit-1 error).
func TestObserveLargePF(t *testing.T) {
	for _, n := range []int{256, 512} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFakeSysfs(t)
			f.addPF("ens1f0", "0000:3b:00.0", 512, n)
			for i := 0; i < n; i++ {
				f.addVF("0000:3b:00.0", i, fmt.Sprintf("0000:3c:%02x.%d", i/8, i%8), "", "")
			}
			tr := &replay{answer: func(req []byte) [][]byte { return [][]byte{kernelAnswer(seqOf(req), n, false)} }}
			h, err := newHost(Options{SysfsRoot: f.root}, newRtnl(func() (nlTransport, error) { return tr, nil }))
			if err != nil {
				t.Fatal(err)
			}
			st, err := h.Observe(context.Background())
			if n == 256 {
				if err != nil || len(st.PFs[0].VFs) != 256 || st.PFs[0].VFs[255].MAC != "02:00:00:00:00:ff" {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, host.ErrFailed) || !strings.Contains(err.Error(), "of 512 VFs") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// Error answers: the errno, the kernel's extended-ack text (with a capped or a full echo of the
// request), answers to other requests skipped.
func TestNetlinkErrorAnswers(t *testing.T) {
	nlErr := func(seq uint32, errno syscall.Errno, flags uint16, echo []byte, msg string) []byte {
		body := u32s(uint32(-int32(errno)))
		body = append(body, echo...)
		if msg != "" {
			body = append(body, nla(nlmsgerrAttrMsg, []byte(msg+"\x00"))...)
		}
		return nlMessage(unix.NLMSG_ERROR, flags, seq, body)
	}
	reqHeader := nlMessage(unix.RTM_SETLINK, 0, 1, nil)
	fullEcho := nlMessage(unix.RTM_SETLINK, 0, 1, make([]byte, 40))
	for _, c := range []struct {
		name   string
		answer func(seq uint32) [][]byte
		errno  syscall.Errno
		text   string
	}{
		{"ack", func(seq uint32) [][]byte { return [][]byte{nlErr(seq, 0, 0, reqHeader, "")} }, 0, ""},
		{"plain errno", func(seq uint32) [][]byte { return [][]byte{nlErr(seq, syscall.EINVAL, 0, reqHeader, "")} }, syscall.EINVAL, "invalid argument"},
		{"extended ack, capped", func(seq uint32) [][]byte {
			return [][]byte{nlErr(seq, syscall.EOPNOTSUPP, nlmFCapped|nlmFAckTLVs, reqHeader, "VF trust is not supported")}
		}, syscall.EOPNOTSUPP, "operation not supported: VF trust is not supported"},
		{"extended ack, full echo", func(seq uint32) [][]byte {
			return [][]byte{nlErr(seq, syscall.ERANGE, nlmFAckTLVs, fullEcho, "rate too high")}
		}, syscall.ERANGE, "rate too high"},
		{"a late answer to an earlier request first", func(seq uint32) [][]byte {
			return [][]byte{nlErr(seq-1, syscall.EBUSY, 0, reqHeader, ""), nlErr(seq, syscall.EEXIST, 0, reqHeader, "")}
		}, syscall.EEXIST, "file exists"},
		{"both in one datagram", func(seq uint32) [][]byte {
			return [][]byte{append(nlErr(seq-1, syscall.EBUSY, 0, reqHeader, ""), nlErr(seq, syscall.EPERM, 0, reqHeader, "")...)}
		}, syscall.EPERM, "operation not permitted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := &replay{answer: func(req []byte) [][]byte { return c.answer(seqOf(req)) }}
			r := newRtnl(func() (nlTransport, error) { return tr, nil })
			r.conn.seq = 10
			err := r.SetTrust(3, 1, true)
			if c.errno == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v and %q", err, c.errno, c.text)
			}
			// The extended-ack text becomes the host error's detail.
			he := mapErr("set vf 1 trust on eth0", err).(*host.Error)
			if strings.Contains(c.text, ": ") && he.Detail != strings.SplitN(c.text, ": ", 2)[1] {
				t.Errorf("detail %q", he.Detail)
			}
		})
	}
	// A malformed answer is an error, not a hang or a panic.
	tr := &replay{answer: func([]byte) [][]byte { return [][]byte{{0xff, 0xff, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}} }}
	if _, err := newRtnl(func() (nlTransport, error) { return tr, nil }).VFInfo(1, false); err == nil {
		t.Error("malformed answer accepted")
	}
}

// Each setter sends one RTM_SETLINK with NLM_F_ACK carrying IFLA_VFINFO_LIST { IFLA_VF_INFO { attr } }
// for the PF's ifindex, with the values in the kernel's structs.
func TestSetterMessages(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(r *rtnl) error
		typ  uint16
		want []uint32 // the struct's u32 fields
	}{
		{"mac", func(r *rtnl) error { return r.SetMAC(9, 2, "02:00:00:00:00:10") }, iflaVFMAC, []uint32{2}},
		{"vlan", func(r *rtnl) error { return r.SetVLAN(9, 2, 100, 3, sriov.VLANProto8021Q) }, iflaVFVLAN, []uint32{2, 100, 3}},
		{"spoofchk", func(r *rtnl) error { return r.SetSpoofCheck(9, 2, false) }, iflaVFSpoofChk, []uint32{2, 0}},
		{"trust", func(r *rtnl) error { return r.SetTrust(9, 2, true) }, iflaVFTrust, []uint32{2, 1}},
		{"state", func(r *rtnl) error { return r.SetLinkState(9, 2, sriov.LinkStateDisable) }, iflaVFLink, []uint32{2, 2}},
		{"rate", func(r *rtnl) error { return r.SetRate(9, 2, 10, 500) }, iflaVFRate, []uint32{2, 10, 500}},
		{"rss", func(r *rtnl) error { return r.SetQueryRSS(9, 2, true) }, iflaVFRSSQuery, []uint32{2, 1}},
		{"802.1ad", func(r *rtnl) error { return r.SetVLAN(9, 2, 100, 0, sriov.VLANProto8021AD) }, iflaVFVLANList, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := &replay{answer: func(req []byte) [][]byte {
				return [][]byte{nlMessage(unix.NLMSG_ERROR, 0, seqOf(req), append(u32s(0), req[:16]...))}
			}}
			r := newRtnl(func() (nlTransport, error) { return tr, nil })
			if err := c.set(r); err != nil {
				t.Fatal(err)
			}
			req := tr.sent[0]
			if typ, flags := binary.NativeEndian.Uint16(req[4:6]), binary.NativeEndian.Uint16(req[6:8]); typ != unix.RTM_SETLINK || flags != unix.NLM_F_REQUEST|unix.NLM_F_ACK {
				t.Fatalf("type %d flags %#x", typ, flags)
			}
			if idx := binary.NativeEndian.Uint32(req[16+4:]); idx != 9 {
				t.Errorf("ifindex %d", idx)
			}
			var got []byte
			gotTyp := uint16(0)
			walkAttrs(req[16+ifInfoMsgLen:], func(typ uint16, v []byte) bool {
				if typ == unix.IFLA_VFINFO_LIST {
					walkAttrs(v, func(_ uint16, info []byte) bool {
						walkAttrs(info, func(typ uint16, v []byte) bool { gotTyp, got = typ, v; return false })
						return false
					})
				}
				return true
			})
			if gotTyp != c.typ {
				t.Fatalf("attribute %d, want %d", gotTyp, c.typ)
			}
			for i, w := range c.want {
				if g := binary.NativeEndian.Uint32(got[4*i:]); g != w {
					t.Errorf("field %d = %d, want %d", i, g, w)
				}
			}
			if c.name == "mac" && macString(got[4:10]) != "02:00:00:00:00:10" {
				t.Errorf("mac %x", got[4:10])
			}
			if c.name == "802.1ad" {
				// IFLA_VF_VLAN_INFO { vf, vlan, qos, __be16 proto }
				var info []byte
				walkAttrs(got, func(_ uint16, v []byte) bool { info = v; return false })
				if len(info) < 14 || binary.BigEndian.Uint16(info[12:14]) != 0x88a8 || binary.NativeEndian.Uint32(info[4:]) != 100 {
					t.Errorf("vlan info %x", info)
				}
			}
		})
	}
}

// The real socket against this machine's kernel: the loopback device has no VFs (no IFLA_NUM_VF), an
// ifindex that does not exist is ENODEV, and a VF write to a device without VFs is refused with an errno
// (EOPNOTSUPP, or EPERM without CAP_NET_ADMIN), not a hang.
func TestNetlinkSocketOnThisKernel(t *testing.T) {
	r := newRtnl(func() (nlTransport, error) { return openNLSocket(nlTimeout) })
	lo, err := readInt("/sys/class/net/lo/ifindex")
	if err != nil {
		t.Fatalf("no loopback device in sysfs: %v", err)
	}
	list, err := r.VFInfo(lo, false)
	if err != nil || len(list.VFs) != 0 || list.NumVFs != -1 {
		t.Fatalf("lo: %+v, %v", list, err)
	}
	if _, err := r.VFInfo(1<<30, false); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("unknown ifindex: %v, want ENODEV", err)
	}
	err = r.SetTrust(lo, 0, true)
	if errnoOf(err) == 0 {
		t.Errorf("VF write on lo: %v, want the kernel's errno", err)
	}
	if os.Geteuid() == 0 && !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.EPERM) {
		t.Errorf("VF write on lo as root: %v", err)
	}
	// Closed, the next request opens a new socket.
	r.close()
	if _, err := r.VFInfo(lo, false); err != nil {
		t.Errorf("after close: %v", err)
	}
	r.close()
}

// recordedIgb3VFs is embedded so that the test also runs where the source tree is not (the guest).
//
//go:embed testdata/igb-3vfs.hex
var recordedIgb3VFs string

// TestRecordedIgbAnswer replays an answer of the real igb driver (Linux 6.1, QEMU's 82576; recorded by
// TestGuestVFReaderMatchesNetlink in the guest) to the reader's RTM_GETLINK: 3 VFs, VF 0 with max rate
// 300, VF 1 with MAC 02:00:00:00:01:01 and VLAN 42 qos 5, VF 2 with spoof check off and trust on, and no
// IFLA_VF_STATS (the kernel honoured RTEXT_FILTER_SKIP_STATS).
func TestRecordedIgbAnswer(t *testing.T) {
	rec, err := hex.DecodeString(strings.TrimSpace(recordedIgb3VFs))
	if err != nil {
		t.Fatal(err)
	}
	tr := &replay{answer: func(req []byte) [][]byte {
		d := append([]byte(nil), rec...)
		binary.NativeEndian.PutUint32(d[8:12], seqOf(req)) // the recording answered another sequence number
		return [][]byte{d}
	}}
	list, err := newRtnl(func() (nlTransport, error) { return tr, nil }).VFInfo(2, false)
	if err != nil {
		t.Fatal(err)
	}
	if list.NumVFs != 3 || len(list.VFs) != 3 {
		t.Fatalf("IFLA_NUM_VF %d, %d VFs", list.NumVFs, len(list.VFs))
	}
	def := sriov.DefaultVFConfig()
	want := []sriov.VFConfig{def, def, def}
	want[0].MaxTxRateMbps = 300
	want[1].MAC, want[1].VLAN, want[1].QoS = "02:00:00:00:01:01", 42, 5
	want[2].SpoofCheck, want[2].Trust = false, true
	for i, v := range list.VFs {
		if v.ID != i || v.Config != want[i] || v.Stats != nil {
			t.Errorf("VF %d: %+v (stats %v)\nwant %+v", i, v.Config, v.Stats, want[i])
		}
	}
}

// SetVFAttrs sends one RTM_SETLINK whose single IFLA_VF_INFO carries every group, in the kernel's order,
// each attribute byte for byte what the single setter sends.
func TestSetVFAttrsMessage(t *testing.T) {
	ack := func(req []byte) [][]byte {
		return [][]byte{nlMessage(unix.NLMSG_ERROR, 0, seqOf(req), append(u32s(0), req[:16]...))}
	}
	// vfAttrs returns the attributes of every IFLA_VF_INFO of request req, one list per IFLA_VF_INFO.
	vfAttrs := func(req []byte) [][][]byte {
		var infos [][][]byte
		walkAttrs(req[16+ifInfoMsgLen:], func(typ uint16, v []byte) bool {
			if typ == unix.IFLA_VFINFO_LIST {
				walkAttrs(v, func(_ uint16, info []byte) bool {
					var attrs [][]byte
					for len(info) >= 4 {
						l := int(binary.NativeEndian.Uint16(info[0:2]))
						attrs = append(attrs, info[:l])
						info = info[min((l+3)&^3, len(info)):]
					}
					infos = append(infos, attrs)
					return true
				})
			}
			return true
		})
		return infos
	}
	mac, state, on, off := "02:00:00:00:00:10", sriov.LinkStateEnable, true, false
	a := host.VFAttrs{MAC: &mac, VLAN: &host.VFVLAN{VLAN: 100, QoS: 3}, SpoofCheck: &off, Trust: &on, LinkState: &state,
		Rate: &host.VFRate{MinMbps: 10, MaxMbps: 500}, QueryRSS: &on}
	tr := &replay{answer: ack}
	r := newRtnl(func() (nlTransport, error) { return tr, nil })
	if err := r.SetVFAttrs(9, 2, a); err != nil {
		t.Fatal(err)
	}
	// The same groups one message each, in the kernel's order.
	for _, set := range []func() error{
		func() error { return r.SetMAC(9, 2, mac) },
		func() error { return r.SetVLAN(9, 2, 100, 3, "") },
		func() error { return r.SetRate(9, 2, 10, 500) },
		func() error { return r.SetSpoofCheck(9, 2, off) },
		func() error { return r.SetLinkState(9, 2, state) },
		func() error { return r.SetQueryRSS(9, 2, on) },
		func() error { return r.SetTrust(9, 2, on) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	if len(tr.sent) != 8 {
		t.Fatalf("%d messages", len(tr.sent))
	}
	batch := vfAttrs(tr.sent[0])
	if len(batch) != 1 || len(batch[0]) != 7 {
		t.Fatalf("batch: %d IFLA_VF_INFO, attributes %v", len(batch), batch)
	}
	for i, single := range tr.sent[1:] {
		s := vfAttrs(single)
		if len(s) != 1 || len(s[0]) != 1 || !bytes.Equal(s[0][0], batch[0][i]) {
			t.Errorf("attribute %d of the batch %x, single setter %x", i, batch[0][i], s)
		}
	}
	if idx := binary.NativeEndian.Uint32(tr.sent[0][16+4:]); idx != 9 {
		t.Errorf("ifindex %d", idx)
	}
}
