//go:build vmguest

package guest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The wire tap: run.sh puts the igb PF's port and an e1000 NIC on one QEMU hub, so the e1000 netdev in
// the guest sends frames onto the igb's wire and sees what leaves on it.
const wireDriver = "e1000"

// TestMirrorOnIGB holds the switch model (sriovctl trace) to the real igb driver: a mirror group of two
// VFs made with `mirror create`, frames to the shared MAC from the wire tap and from a third VF, and the
// negative cases the model predicts (VLAN mismatch: untagged frames do not reach a VF with a port VLAN;
// unknown unicast is dropped from the wire and leaves on the wire from a VF). For each frame the set of ports that received it must be
// exactly the set trace predicted. Spoof-check drops cannot be checked here: QEMU does not enforce them.
func TestMirrorOnIGB(t *testing.T) {
	wire := netdevByDriver(wireDriver)
	if wire == "" {
		t.Skip("no wire tap (" + wireDriver + " netdev): run.sh boots the guest without one")
	}
	setNumVFs(t, 0)
	setNumVFs(t, 4)
	// Let the PF settle after creating VFs (every VF up with link) before reloading igbvf on members:
	// reloads while the PF is still resetting leave a VF without MAC or link.
	for id := 0; id < 4; id++ {
		if dev := vfNetdev(id); dev != "" {
			ifUp(t, dev)
		}
	}
	for id := 0; id < 4; id++ {
		waitVFLink(t, id)
	}
	state := t.TempDir()
	const shared = "02:00:00:00:aa:01"
	const vlanMAC = "02:00:00:00:bb:03"
	const unknownMAC = "02:00:00:00:cc:cc"
	mustRun(t, "--state-dir", state, "mirror", "create", "tap", "--pf", pf, "--vfs", "0,1", "--mac", shared)
	mustRun(t, "vf", "set", pf, "3", "--mac", vlanMAC, "--vlan", "100", "--reload-vf-driver")
	defer func() {
		mustRun(t, "--state-dir", state, "mirror", "delete", "tap")
		v := showJSON(t)
		for _, id := range []int{0, 1} {
			if vf := v.VF(id); vf.SpoofCheck != true || vf.MAC == shared {
				t.Errorf("after mirror delete VF %d: %+v", id, vf)
			}
		}
	}()
	ports := map[string]string{"pf": pf, "wire": wire}
	for id := 0; id < 4; id++ {
		dev := vfNetdev(id)
		if dev == "" {
			t.Fatalf("VF %d has no netdev", id)
		}
		ports[fmt.Sprintf("vf:%d", id)] = dev
	}
	for _, dev := range ports {
		ifUp(t, dev)
	}
	// The tap must see every frame on the wire, not only those to its own MAC.
	if out, err := runIP("link", "set", wire, "promisc", "on"); err != nil {
		t.Fatalf("ip link set %s promisc on: %v %s", wire, err, out)
	}
	for id := 0; id < 4; id++ {
		waitVFLink(t, id)
	}
	ports["vf:0"], ports["vf:1"], ports["vf:2"], ports["vf:3"] = vfNetdev(0), vfNetdev(1), vfNetdev(2), vfNetdev(3)
	if got := readSys("class/net/" + ports["vf:0"] + "/address"); got != shared {
		t.Fatalf("VF 0 netdev %s carries %s after mirror create, want %s", ports["vf:0"], got, shared)
	}

	for _, c := range []struct {
		name string
		from string
		dst  string
		vlan int
		want []string // the prediction this test expects trace to make (checked too)
	}{
		{"wire to shared MAC", "wire", shared, 0, []string{"vf:0", "vf:1"}},
		{"third VF to shared MAC", "vf:2", shared, 0, []string{"vf:0", "vf:1"}},
		{"PF to shared MAC", "pf", shared, 0, []string{"vf:0", "vf:1"}},
		{"wire tagged 100 to port-VLAN VF", "wire", vlanMAC, 100, []string{"vf:3"}},
		// VLAN mismatch: VF 3 does not get untagged frames; from the wire igb hands them to its default
		// pool (the PF), from a VF it drops them inside the NIC.
		{"wire untagged to port-VLAN VF: VLAN mismatch, default pool", "wire", vlanMAC, 0, []string{"pf"}},
		{"third VF untagged to port-VLAN VF: VLAN mismatch, dropped", "vf:2", vlanMAC, 0, nil},
		// Unknown unicast: from the wire igb gives it to the PF (default pool) unless its VLAN is no VF's;
		// from a VF it leaves on the wire.
		{"wire to unknown MAC: default pool", "wire", unknownMAC, 0, []string{"pf"}},
		{"wire tagged 200 to unknown MAC: dropped by the VLAN filter", "wire", unknownMAC, 200, nil},
		{"third VF to unknown MAC leaves on the wire", "vf:2", unknownMAC, 0, []string{"wire"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--json", "trace", "--pf", pf, "--from", c.from, "--dst", c.dst}
			if c.vlan != 0 {
				args = append(args, "--vlan", fmt.Sprint(c.vlan))
			}
			var pred struct {
				Verdict   string `json:"verdict"`
				Reason    string `json:"reason"`
				Receivers []struct {
					Port string `json:"port"`
					VLAN int    `json:"vlan"`
				} `json:"receivers"`
			}
			if err := json.Unmarshal([]byte(mustRun(t, args...)), &pred); err != nil {
				t.Fatal(err)
			}
			var predicted []string
			for _, r := range pred.Receivers {
				predicted = append(predicted, r.Port)
			}
			sort.Strings(predicted)
			if !slices.Equal(predicted, c.want) {
				t.Errorf("trace predicts %v (%s: %s), this test expects %v", predicted, pred.Verdict, pred.Reason, c.want)
			}
			got := sendAndCapture(t, ports, c.from, c.dst, c.vlan)
			t.Logf("%s: predicted %v, received by %v", c.name, predicted, got)
			if !slices.Equal(got, predicted) {
				t.Errorf("received by %v; trace predicted %v (%s)", got, predicted, pred.Reason)
			}
		})
	}
}

// sendAndCapture sends 3 marked frames from port from (wire, pf or vf:N) and returns, sorted, the ports
// (other than the sender) on which at least one arrived.
func sendAndCapture(t *testing.T, ports map[string]string, from, dst string, vlan int) []string {
	t.Helper()
	nonce := make([]byte, 8)
	rand.Read(nonce)
	marker := []byte("sriovctl-mirror-" + hex.EncodeToString(nonce))
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var socks []int
	for port, dev := range ports {
		if port == from {
			continue
		}
		fd := packetSocket(t, dev)
		socks = append(socks, fd)
		wg.Add(1)
		go func(port string, fd int) {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				n, sa, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					if err == unix.EAGAIN || err == unix.EINTR {
						continue
					}
					return // closed
				}
				if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
					continue
				}
				if strings.Contains(string(buf[:n]), string(marker)) {
					mu.Lock()
					seen[port] = true
					mu.Unlock()
				}
			}
		}(port, fd)
	}
	src := readSys("class/net/" + ports[from] + "/address")
	frame := buildFrame(t, dst, src, vlan, marker)
	out := packetSocket(t, ports[from])
	ifindex := ifIndex(t, ports[from])
	hw, _ := net.ParseMAC(dst)
	var addr [8]byte
	copy(addr[:], hw)
	for i := 0; i < 3; i++ {
		if err := unix.Sendto(out, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6, Addr: addr}); err != nil {
			t.Fatalf("send on %s: %v", ports[from], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // TCG is slow; frames arrive within milliseconds on KVM
	unix.Close(out)
	for _, fd := range socks {
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
	}
	wg.Wait()
	var got []string
	for p := range seen {
		got = append(got, p)
	}
	sort.Strings(got)
	return got
}

const etherTypeLocal = 0x88b5 // IEEE 802 local experimental

func buildFrame(t *testing.T, dst, src string, vlan int, payload []byte) []byte {
	d, err1 := net.ParseMAC(dst)
	s, err2 := net.ParseMAC(src)
	if err1 != nil || err2 != nil {
		t.Fatalf("frame MACs %q %q", dst, src)
	}
	f := append(append([]byte{}, d...), s...)
	if vlan != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, uint16(vlan))
	}
	f = binary.BigEndian.AppendUint16(f, etherTypeLocal)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetSocket opens an AF_PACKET socket bound to dev that sees every frame (with a receive timeout so
// that readers notice the close).
func packetSocket(t *testing.T, dev string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("AF_PACKET socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifIndex(t, dev)}); err != nil {
		t.Fatalf("bind %s: %v", dev, err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd
}

func ifIndex(t *testing.T, dev string) int {
	t.Helper()
	i, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatalf("interface %s: %v", dev, err)
	}
	return i.Index
}

// netdevByDriver finds the netdev whose device is bound to driver.
func netdevByDriver(driver string) string {
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		if linkName("class/net/"+e.Name()+"/device/driver") == driver {
			return e.Name()
		}
	}
	return ""
}

// vfNetdev is VF id's netdev name now (it can change when igbvf is rebound).
func vfNetdev(id int) string {
	ents, _ := os.ReadDir(fmt.Sprintf("/sys/%s/net", pfDev(fmt.Sprintf("virtfn%d", id))))
	if len(ents) == 0 {
		return ""
	}
	return ents[0].Name()
}

func ifUp(t *testing.T, dev string) {
	t.Helper()
	if out, err := runIP("link", "set", dev, "up"); err != nil {
		t.Fatalf("ip link set %s up: %v %s", dev, err, out)
	}
}

// waitVFLink waits for VF id's carrier, rebinding igbvf once if it has none after 15 s ("PF still
// resetting", seen once in 16 runs).
func waitVFLink(t *testing.T, id int) {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if dev := vfNetdev(id); dev != "" && readSys("class/net/"+dev+"/carrier") == "1" {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("VF %d has no link after 15 s: rebinding igbvf", id)
		mustRun(t, "vf", "bind", pf, fmt.Sprint(id), "none")
		mustRun(t, "vf", "bind", pf, fmt.Sprint(id), "igbvf")
		ifUp(t, vfNetdev(id))
	}
	t.Fatalf("VF %d never got link", id)
}

func runIP(args ...string) ([]byte, error) { return exec.Command(ipBin, args...).CombinedOutput() }
