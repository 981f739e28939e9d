// Package scenarios runs scenario files (sriovctl commands and direct host calls, each with its expected
// outcome) against any backend: the lab on the build host (scenarios_test.go) and the real igb driver in
// the QEMU guest (test/vm/guest), so that both are held to the same file. Format: see igb-basic.txt.
package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

//go:embed *.txt *.final.json
var files embed.FS

// Names lists the scenario files.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var n []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".txt") {
			n = append(n, e.Name())
		}
	}
	sort.Strings(n)
	return n
}

// Profile is the NIC profile a scenario file is written for: its name up to the first "-" (igb-basic.txt:
// igb, netdevsim-basic.txt: netdevsim).
func Profile(name string) string {
	p, _, _ := strings.Cut(name, "-")
	return p
}

// FinalFile names the file holding the normalized host state (Normalize) a scenario must end in.
func FinalFile(name string) string { return strings.TrimSuffix(name, ".txt") + ".final.json" }

// Final returns the normalized host state the scenario name must end in.
func Final(name string) (string, error) {
	data, err := files.ReadFile(FinalFile(name))
	return strings.TrimSpace(string(data)), err
}

// Step is one line of a scenario.
type Step struct {
	Line int
	Text string   // the command as written
	Args []string // sriovctl arguments, or the host method and its arguments
	Host bool     // a direct host.Host call
	Want string   // ok, usage, fail KIND
}

// Load parses a scenario file.
func Load(name string) ([]Step, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var steps []Step
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, want, ok := strings.Cut(line, "=>")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want `COMMAND => OUTCOME`", name, n)
		}
		s := Step{Line: n, Text: strings.TrimSpace(cmd), Args: strings.Fields(cmd), Want: strings.Join(strings.Fields(want), " ")}
		if len(s.Args) > 0 && s.Args[0] == "host" {
			s.Host, s.Args = true, s.Args[1:]
		}
		switch {
		case s.Want == "ok", s.Want == "usage", strings.HasPrefix(s.Want, "fail ") && len(strings.Fields(s.Want)) == 2:
		default:
			return nil, fmt.Errorf("%s:%d: outcome %q: want ok, usage or fail KIND", name, n, s.Want)
		}
		steps = append(steps, s)
	}
	return steps, sc.Err()
}

// Env is a backend to run steps on.
type Env struct {
	PF string
	// Run runs sriovctl with args (the lab's --lab is the Env's business) and returns its outputs and
	// exit code.
	Run func(ctx context.Context, args ...string) (stdout, stderr string, code int)
	// Host is the same backend for `host` steps.
	Host host.Host
}

// Do runs one step and returns the observed outcome (in the form of Step.Want) and the output that
// explains it.
func (e Env) Do(ctx context.Context, s Step) (got, detail string) {
	if s.Host {
		err := e.callHost(ctx, s.Args)
		if err == nil {
			return "ok", ""
		}
		return "fail " + KindName(host.KindOfError(err)), err.Error()
	}
	args := make([]string, len(s.Args))
	for i, a := range s.Args {
		args[i] = strings.ReplaceAll(a, "$PF", e.PF)
	}
	_, stderr, code := e.Run(ctx, args...)
	switch code {
	case 0:
		return "ok", stderr
	case 2:
		return "usage", stderr
	}
	return "fail " + kindFromText(stderr), stderr
}

// KindName spells a host error kind as scenario files do: "not supported" -> not-supported.
func KindName(k host.Kind) string { return strings.ReplaceAll(k.String(), " ", "-") }

// kindFromText recovers the error kind from sriovctl's one-line error: every backend's message carries
// the errno's text.
func kindFromText(s string) string {
	s = strings.ToLower(s)
	for _, m := range []struct{ text, kind string }{
		{"device or resource busy", "busy"},
		{"numerical result out of range", "out-of-range"},
		{"operation not supported", "not-supported"},
		{"protocol not supported", "not-supported"},
		{"invalid argument", "invalid"},
		{"no such device", "not-found"},
		{"no such file or directory", "not-found"},
		{"file exists", "exists"},
	} {
		if strings.Contains(s, m.text) {
			return m.kind
		}
	}
	return "failed"
}

func (e Env) callHost(ctx context.Context, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("host step needs a method and arguments")
	}
	num := func(i int) int {
		if i >= len(a) {
			return -1
		}
		n, err := strconv.Atoi(a[i])
		if err != nil {
			return -1
		}
		return n
	}
	on := len(a) > 2 && a[2] == "on"
	h, pf := e.Host, e.PF
	switch a[0] {
	case "numvfs":
		return h.SetNumVFs(ctx, pf, num(1))
	case "mac":
		return h.SetVFMAC(ctx, pf, num(1), a[2])
	case "vlan": // vlan VF VLAN QOS PROTO
		return h.SetVFVLAN(ctx, pf, num(1), num(2), num(3), sriov.VLANProto(a[4]))
	case "spoofchk":
		return h.SetVFSpoofCheck(ctx, pf, num(1), on)
	case "trust":
		return h.SetVFTrust(ctx, pf, num(1), on)
	case "state":
		return h.SetVFLinkState(ctx, pf, num(1), sriov.LinkState(a[2]))
	case "rate": // rate VF MIN MAX
		return h.SetVFRate(ctx, pf, num(1), num(2), num(3))
	case "rss":
		return h.SetVFQueryRSS(ctx, pf, num(1), on)
	case "netdevmac": // netdevmac VF MAC: the VF netdev's own address
		na, ok := h.(host.VFNetdevAddresser)
		if !ok {
			return fmt.Errorf("this backend cannot set a VF netdev's address")
		}
		return na.SetVFNetdevMAC(ctx, pf, num(1), a[2])
	case "bind":
		d := ""
		if len(a) > 2 && a[2] != "none" {
			d = a[2]
		}
		return h.BindVF(ctx, pf, num(1), d)
	}
	return fmt.Errorf("unknown host step %q", a[0])
}

// MACs lists the MACs a scenario's steps name: the only VF MACs two backends must agree on.
func MACs(steps []Step) []string {
	var macs []string
	for _, s := range steps {
		for _, a := range s.Args {
			if hw, err := net.ParseMAC(a); err == nil && len(hw) == 6 {
				macs = append(macs, hw.String())
			}
		}
	}
	return macs
}

// Normalize reduces `show --json` output to what two backends must agree on: PCI addresses, the PF's
// MAC, netdev names and MACs and the operational state are the kernel's (or the lab's) choice and are
// dropped; whether a VF has a netdev, and whether that netdev carries the admin MAC, are kept. A VF MAC that is none of keepMACs (the scenario's own) is
// unset or chosen by the kernel (real igb reports igbvf's random MAC as the VF MAC after igbvf is
// rebound to a VF without an admin MAC) and becomes "(not set by the scenario)".
func Normalize(showJSON string, keepMACs []string) (string, error) {
	keep := map[string]bool{sriov.ZeroMAC: false}
	for _, m := range keepMACs {
		keep[m] = m != sriov.ZeroMAC
	}
	var st sriov.Host
	if err := json.Unmarshal([]byte(showJSON), &st); err != nil {
		return "", fmt.Errorf("show --json: %v", err)
	}
	for i := range st.PFs {
		p := &st.PFs[i]
		p.Name, p.PCIAddress, p.MAC, p.OperState = "", "", "", ""
		for j := range p.VFs {
			v := &p.VFs[j]
			v.PCIAddress = ""
			if v.NetdevMAC != "" && v.NetdevMAC == v.MAC && keep[v.MAC] {
				v.NetdevMAC = "(the admin MAC)" // the netdev took it: set before bind, or reloaded
			} else {
				v.NetdevMAC = ""
			}
			if !keep[v.MAC] {
				v.MAC = "(not set by the scenario)"
			}
			if v.Netdev != "" {
				v.Netdev = "(netdev)"
			}
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	return string(b), err
}
