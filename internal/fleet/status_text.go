package fleet

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
)

// WriteText prints the fleet status for a person: a table with one line per node, then the rollout of
// each policy.
func (f FleetStatus) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(f.Nodes) == 0 {
		b.WriteString("no nodes: no policy selects a node and no agent has published a SriovNodeState\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tPOLICIES\tPLAN\tPHASE\tDRIFT\tAGE\tMESSAGE")
		for _, n := range f.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, dash(strings.Join(n.Policies, ",")), dash(n.Plan),
				phaseText(n), driftText(n.Drift), ageText(n.AgeSeconds), oneLine(cmp.Or(n.LastError, n.Message)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// tabwriter pads an empty last cell; no line ends in blanks.
		table := b.String()
		b.Reset()
		for line := range strings.Lines(table) {
			b.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
	b.WriteString("\n")
	if len(f.Policies) == 0 {
		b.WriteString("no policies: no SriovHostPolicy exists (kubectl get sriovhostpolicies)\n")
	}
	for i, p := range f.Policies {
		if i > 0 {
			b.WriteString("\n")
		}
		mu := p.MaxUnavailable
		if strings.HasSuffix(mu, "%") {
			mu += fmt.Sprintf(" (%s)", plural(p.MaxUnavailableNodes, "node"))
		}
		fmt.Fprintf(&b, "policy %s (generation %d): disruption %s, maxUnavailable %s, failure budget %d\n",
			p.Policy, p.Generation, dash(p.Disruption), mu, p.FailureBudget)
		fmt.Fprintf(&b, "  nodes:    %d matched, %d converged, %d applying, %d waiting, %d failed\n",
			p.Matched, p.Converged, p.Applying, p.Waiting, p.Failed)
		fmt.Fprintf(&b, "  slots:    %s\n", slotsText(p.Slots))
		if p.Paused {
			fmt.Fprintf(&b, "  paused:   %s: %s\n", p.PausedReason, oneLine(p.PausedMessage))
		} else {
			b.WriteString("  paused:   no\n")
		}
		if p.Invalid != "" {
			fmt.Fprintf(&b, "  invalid:  %s\n", oneLine(p.Invalid))
		}
		if p.Conflict != "" {
			fmt.Fprintf(&b, "  conflict: %s\n", oneLine(p.Conflict))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func phaseText(n NodeStatus) string {
	if n.Cordoned {
		return n.Phase + ",cordoned"
	}
	return n.Phase
}

// driftText is "-", or the count and the first difference: "2: ens5f0 vf 0 vlan, +1 more".
func driftText(d []v1alpha1.DriftEntry) string {
	if len(d) == 0 {
		return "-"
	}
	first := d[0].PF
	if d[0].VF >= 0 {
		first += fmt.Sprintf(" vf %d", d[0].VF)
	}
	first += " " + d[0].Field
	if len(d) == 1 {
		return "1: " + first
	}
	return fmt.Sprintf("%d: %s, +%d more", len(d), first, len(d)-1)
}

func ageText(sec *int64) string {
	if sec == nil {
		return "-"
	}
	return duration.HumanDuration(time.Duration(*sec) * time.Second)
}

func slotsText(slots []Slot) string {
	if len(slots) == 0 {
		return "none held"
	}
	parts := make([]string, 0, len(slots))
	for _, s := range slots {
		p := s.Holder + " (" + s.Lease
		if s.Expired {
			p += ", expired"
		}
		parts = append(parts, p+")")
	}
	return strings.Join(parts, ", ")
}
