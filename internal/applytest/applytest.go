// Package applytest holds helpers for tests of planning and applying: comparing host states the way a
// user compares `sriovctl show --json` output.
package applytest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Normalize renders a host state as JSON for comparison, leaving out the netdev MAC of VFs without an
// admin MAC: a VF driver gives those a random MAC each time the VF is created, on real NICs as in the lab,
// so no tool can bring it back after a VF count change.
func Normalize(st *sriov.Host) string {
	c := sriov.Host{PFs: make([]sriov.PF, len(st.PFs))}
	for i, p := range st.PFs {
		p.VFs = append([]sriov.VF(nil), p.VFs...)
		for j := range p.VFs {
			if p.VFs[j].MAC == sriov.ZeroMAC {
				p.VFs[j].NetdevMAC = ""
			}
		}
		c.PFs[i] = p
	}
	data, _ := json.MarshalIndent(c, "", " ")
	return string(data)
}

// NormalizeJSON is Normalize for the output of `sriovctl show --json`.
func NormalizeJSON(showJSON []byte) (string, error) {
	var st sriov.Host
	if err := json.Unmarshal(showJSON, &st); err != nil {
		return "", err
	}
	return Normalize(&st), nil
}

// Diff lists the lines where two Normalize outputs differ ("" when equal), with the PF and VF they
// belong to, for readable failures.
func Diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out []string
	ctx := ""
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if t := strings.TrimSpace(b); strings.HasPrefix(t, `"name"`) || strings.HasPrefix(t, `"id"`) {
			ctx = strings.TrimSuffix(t, ",")
			if strings.HasPrefix(t, `"name"`) {
				ctx = strings.TrimSuffix(t, ",")
			}
		}
		if a != b {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", ctx, strings.TrimSpace(a), strings.TrimSpace(b)))
			if len(out) == 20 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
