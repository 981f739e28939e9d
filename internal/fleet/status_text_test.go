package fleet_test

import (
	"strings"
	"testing"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/fleet"
)

func TestWriteText(t *testing.T) {
	age := func(s int64) *int64 { return &s }
	tests := []struct {
		name string
		in   fleet.FleetStatus
		want string
	}{
		{
			name: "nothing",
			in:   fleet.FleetStatus{},
			want: `no nodes: no policy selects a node and no agent has published a SriovNodeState

no policies: no SriovHostPolicy exists (kubectl get sriovhostpolicies)
`,
		},
		{
			name: "a rollout under way",
			in: fleet.FleetStatus{
				Nodes: []fleet.NodeStatus{
					{Node: "node-1", Policies: []string{"x710-vms"}, Plan: "3 changes (1 disruptive)", Phase: "Draining", Cordoned: true, Drift: []v1alpha1.DriftEntry{}, AgeSeconds: age(4)},
					{Node: "node-2", Policies: []string{"x710-vms", "zone-a"}, Plan: "3 changes (1 disruptive)", Phase: "Waiting", AgeSeconds: age(75),
						Message: "waiting for a rollout slot\nof x710-vms"},
					{Node: "node-3", Policies: []string{"x710-vms"}, Plan: "1 changes (0 disruptive)", Phase: "Degraded", AgeSeconds: age(7200),
						LastError: "set VF 0 vlan: operation not permitted", Message: "rolled back",
						Drift: []v1alpha1.DriftEntry{{PF: "ens5f0", VF: 0, Field: "vlan"}, {PF: "ens5f0", VF: -1, Field: "numvfs"}}},
					{Node: "node-4", Policies: []string{}, Phase: "Unknown", Message: "no SriovNodeState"},
				},
				Policies: []fleet.PolicyRollout{
					{Policy: "x710-vms", Generation: 3, Matched: 4, Converged: 0, Applying: 1, Waiting: 1, Failed: 1, MaxUnavailable: "25%", MaxUnavailableNodes: 1,
						Disruption: "cordon", FailureBudget: 1, Slots: []fleet.Slot{{Lease: "x710-vms-slot-0", Holder: "node-1"}, {Lease: "x710-vms-slot-1", Holder: "node-5", Expired: true}}},
					{Policy: "zone-a", Generation: 1, Matched: 1, MaxUnavailable: "1", MaxUnavailableNodes: 1, Disruption: "drain", Paused: true, PausedReason: "Requested",
						PausedMessage: "spec.rollout.pause is set", Invalid: "spec.policy: pfs[0]: bad", Conflict: "another policy disagrees on nodes [node-2]"},
				},
			},
			want: `NODE    POLICIES         PLAN                      PHASE              DRIFT                         AGE   MESSAGE
node-1  x710-vms         3 changes (1 disruptive)  Draining,cordoned  -                             4s
node-2  x710-vms,zone-a  3 changes (1 disruptive)  Waiting            -                             75s   waiting for a rollout slot of x710-vms
node-3  x710-vms         1 changes (0 disruptive)  Degraded           2: ens5f0 vf 0 vlan, +1 more  120m  set VF 0 vlan: operation not permitted
node-4  -                -                         Unknown            -                             -     no SriovNodeState

policy x710-vms (generation 3): disruption cordon, maxUnavailable 25% (1 node), failure budget 1
  nodes:    4 matched, 0 converged, 1 applying, 1 waiting, 1 failed
  slots:    node-1 (x710-vms-slot-0), node-5 (x710-vms-slot-1, expired)
  paused:   no

policy zone-a (generation 1): disruption drain, maxUnavailable 1, failure budget 0
  nodes:    1 matched, 0 converged, 0 applying, 0 waiting, 0 failed
  slots:    none held
  paused:   Requested: spec.rollout.pause is set
  invalid:  spec.policy: pfs[0]: bad
  conflict: another policy disagrees on nodes [node-2]
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.in.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
