// Package adopt holds what the ways of adopting a host have in common: export (a policy from the host as it
// is) and the importers of netplan and systemd-networkd configuration (a policy from another tool's
// files). Each builds per-VF settings, turns them into the policy's VF entries with Groups, and renders the
// result as a policy file with Document, which carries a header and one comment per Note: a setting the
// source has that a policy cannot say, or a fact the reader must check.
package adopt

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Note is a setting with no equivalent in a policy, or something the reader must check.
type Note struct {
	// Source says where: a file and line ("01-sriov.yaml:7"), or a PF and VF ("ens5f0 vf 2").
	Source string `json:"source"`
	Msg    string `json:"message"`
}

func (n Note) String() string {
	if n.Source == "" {
		return n.Msg
	}
	return n.Source + ": " + n.Msg
}

// Notes collects notes.
type Notes []Note

// Add appends a note.
func (ns *Notes) Add(source, format string, args ...any) {
	*ns = append(*ns, Note{Source: source, Msg: fmt.Sprintf(format, args...)})
}

// VF is the wanted settings and driver of one VF; nil fields are left as they are.
type VF struct {
	Settings sriov.VFSettings
	Driver   *string
}

// IsEmpty reports whether v asks for nothing.
func (v VF) IsEmpty() bool { return v.Settings.IsEmpty() && v.Driver == nil }

// Groups turns per-VF settings into the policy's VF entries, in id order: consecutive ids with the same
// settings share one entry ("0-3"), except that a MAC is always for one VF. VFs asking for nothing are
// left out.
func Groups(vfs map[int]VF) []policy.VFGroup {
	ids := make([]int, 0, len(vfs))
	for id, v := range vfs {
		if !v.IsEmpty() {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	var out []policy.VFGroup
	for i := 0; i < len(ids); {
		v := vfs[ids[i]]
		j := i
		for v.Settings.MAC == nil && j+1 < len(ids) && ids[j+1] == ids[j]+1 && reflect.DeepEqual(vfs[ids[j+1]], v) {
			j++
		}
		run := ids[i : j+1]
		s := v.Settings
		out = append(out, policy.VFGroup{
			IDs: policy.FormatIDs(run), VFIDs: append([]int(nil), run...),
			MAC: s.MAC, VLAN: s.VLAN, QoS: s.QoS, VLANProto: s.VLANProto, SpoofCheck: s.SpoofCheck, Trust: s.Trust,
			LinkState: s.LinkState, MinTxRateMbps: s.MinTxRateMbps, MaxTxRateMbps: s.MaxTxRateMbps, QueryRSS: s.QueryRSS,
			Driver: v.Driver,
		})
		i = j + 1
	}
	return out
}

// Document renders pol as a policy file: the header lines and then every note as comments, then the
// policy as YAML. It parses what it wrote with the policy parser and returns that error, if any, so that
// what it gives is always a policy plan and apply accept.
func Document(header []string, notes []Note, pol *policy.Policy) ([]byte, error) {
	var b bytes.Buffer
	for _, h := range header {
		comment(&b, h)
	}
	if len(notes) > 0 {
		comment(&b, "")
		comment(&b, "Notes: what this policy does not say (check each before applying it):")
		for _, n := range notes {
			comment(&b, "note: "+n.String())
		}
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(pol); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if _, err := policy.Parse("generated policy", b.Bytes()); err != nil {
		return nil, fmt.Errorf("the generated policy is not valid (a bug in sriovctl): %w", err)
	}
	return b.Bytes(), nil
}

// comment writes s as YAML comment lines; a line break in s cannot end the comment.
func comment(b *bytes.Buffer, s string) {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight("# "+line, " ")
		b.WriteString(line + "\n")
	}
}

// Ptr returns a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }
