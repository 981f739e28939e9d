// Package applytest holds helpers for tests of planning and applying: comparing host states the way a
// user compares `sriovctl show --json` output.
package applytest

import (
	"encoding/json"

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
