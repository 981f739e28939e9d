package kernel

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Devlink describes a NIC's embedded switch: its eswitch mode (legacy or switchdev) and its ports. In
// switchdev mode every VF has a port of flavour "pcivf" (with the PF number, the VF number and, for
// SmartNICs, the controller it belongs to) whose netdev is the VF's representor. That is how the kernel
// says which netdev represents which VF; the representors' names (pf0vf3, often renamed by udev) are only
// a convention, read as a fallback (sysfsRepresentors).

// devlink attribute and flavour numbers (include/uapi/linux/devlink.h) that vishvananda/netlink v1.3.1
// does not decode in its port dump.
const (
	devlinkAttrBusName          = 1
	devlinkAttrDevName          = 2
	devlinkAttrPortIndex        = 3
	devlinkAttrPortNetdevIfidx  = 6
	devlinkAttrPortNetdevName   = 7
	devlinkAttrPortFlavour      = 77
	devlinkAttrPortPCIPFNumber  = 127
	devlinkAttrPortPCIVFNumber  = 128
	devlinkAttrPortExternal     = 149
	devlinkAttrPortControllerNo = 150

	devlinkPortFlavourPhysical = 0
	devlinkPortFlavourPCIVF    = 4

	genlHeaderLen = 4 // struct genlmsghdr
)

// devlinkPort is one port of a devlink port dump (DEVLINK_CMD_PORT_GET), with the attributes that tie a
// representor to its VF. Numbers the kernel did not send are -1.
type devlinkPort struct {
	Bus, Dev   string // the devlink instance: "pci"/"0000:3b:00.0", "netdevsim"/"netdevsim10"
	Index      int
	Flavour    int
	Controller int // 0 is the local host; others are external hosts of a SmartNIC
	External   bool
	PFNum      int
	VFNum      int
	Netdev     string
	Ifindex    int
}

// parseDevlinkPorts decodes the messages of a port dump (each a genlmsghdr and attributes).
func parseDevlinkPorts(msgs [][]byte) ([]devlinkPort, error) {
	var out []devlinkPort
	for i, m := range msgs {
		if len(m) < genlHeaderLen {
			return nil, fmt.Errorf("devlink port message %d: %d bytes", i, len(m))
		}
		p := devlinkPort{Index: -1, Flavour: -1, PFNum: -1, VFNum: -1}
		walkAttrs(m[genlHeaderLen:], func(typ uint16, v []byte) bool {
			switch typ {
			case devlinkAttrBusName:
				p.Bus = cString(v)
			case devlinkAttrDevName:
				p.Dev = cString(v)
			case devlinkAttrPortIndex:
				p.Index = intAttr(v)
			case devlinkAttrPortFlavour:
				p.Flavour = intAttr(v)
			case devlinkAttrPortPCIPFNumber:
				p.PFNum = intAttr(v)
			case devlinkAttrPortPCIVFNumber:
				p.VFNum = intAttr(v)
			case devlinkAttrPortControllerNo:
				p.Controller = intAttr(v)
			case devlinkAttrPortExternal:
				p.External = len(v) > 0 && v[0] != 0
			case devlinkAttrPortNetdevName:
				p.Netdev = cString(v)
			case devlinkAttrPortNetdevIfidx:
				p.Ifindex = intAttr(v)
			}
			return true
		})
		out = append(out, p)
	}
	return out, nil
}

// vfRepresentors picks, from a port dump, the representors of the VFs of the devlink instance bus/dev:
// its local (not external) pcivf ports that have a netdev, by VF number. A devlink instance serves one
// PF on mlx5 and ice (each PF has its own), and one device with shared VFs on netdevsim; a second PF
// number among its local VF ports (a multi-PF instance) is told apart by pfNum when pfNum >= 0.
func vfRepresentors(ports []devlinkPort, bus, dev string, pfNum int) map[int]string {
	reps := map[int]string{}
	for _, p := range ports {
		if p.Bus != bus || p.Dev != dev || p.Flavour != devlinkPortFlavourPCIVF || p.External || p.Controller != 0 ||
			p.VFNum < 0 || p.Netdev == "" || (pfNum >= 0 && p.PFNum >= 0 && p.PFNum != pfNum) {
			continue
		}
		reps[p.VFNum] = p.Netdev
	}
	return reps
}

// pfNumbers lists the PF numbers of the local pcivf ports of bus/dev, sorted.
func pfNumbers(ports []devlinkPort, bus, dev string) []int {
	seen := map[int]bool{}
	for _, p := range ports {
		if p.Bus == bus && p.Dev == dev && p.Flavour == devlinkPortFlavourPCIVF && !p.External && p.PFNum >= 0 {
			seen[p.PFNum] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

func cString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// intAttr reads a u8, u16 or u32 attribute.
func intAttr(v []byte) int {
	switch len(v) {
	case 1:
		return int(v[0])
	case 2:
		return int(binary.NativeEndian.Uint16(v))
	case 4, 8:
		return int(binary.NativeEndian.Uint32(v[:4]))
	}
	return -1
}
