package agent

import (
	"context"
	"time"

	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Desired is the desired state a Source gives: a policy document (pfs, pools, mirrors). Assignments and
// mirror groups made with the CLI are host-local state that the Engine reads itself.
type Desired struct {
	// Policy is nil when the source has none (nothing applied yet): then nothing is drift.
	Policy *policy.Policy `json:"-"`
	// Data is the policy document as stored.
	Data []byte `json:"-"`
	// Origin says where it came from, for people: a file path, later a Kubernetes object.
	Origin string    `json:"origin"`
	Stored time.Time `json:"stored,omitzero"`
}

// Source is where the agent reads its desired state. The stored policy of `sriovctl apply` is one
// (StoredSource); the fleet mode plugs in one that merges Kubernetes objects. Load is called before every
// observation and again after the one-writer lock is taken for a repair, because a CLI command holding the
// lock may just have stored a new desired state.
type Source interface {
	Name() string
	Load(ctx context.Context) (*Desired, error)
}

// StoredSource reads the desired state `sriovctl apply` stored in a state directory.
type StoredSource struct{ StateDir string }

// Name implements Source.
func (s StoredSource) Name() string { return "stored policy" }

// Load implements Source.
func (s StoredSource) Load(ctx context.Context) (*Desired, error) {
	d, err := apply.LoadDesired(s.StateDir)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return &Desired{Origin: "none stored in " + s.StateDir}, nil
	}
	pol, err := policy.Parse(d.Path, d.Policy)
	if err != nil {
		return nil, err
	}
	return &Desired{Policy: pol, Data: d.Policy, Origin: d.Path, Stored: d.Stored}, nil
}

// Engine is the narrow interface through which the agent observes and repairs the host. Every write goes
// through the same planner, lock, journal and rollback as `sriovctl apply`; the agent has no other path
// that writes the host. LocalEngine implements it over today's packages; the service layer replaces it.
type Engine interface {
	// Drift observes the host and plans from it to d (plus the ledger's assignments and the mirror
	// groups), writing nothing and taking no lock.
	Drift(ctx context.Context, d *Desired) (*Drift, error)
	// Repair takes the one-writer lock (waiting while a CLI command holds it), finishes or undoes an
	// interrupted apply, loads the desired state from src again, plans and, if opts allow the plan, applies
	// it with rollback. A host refusal is returned as an error with the host rolled back.
	Repair(ctx context.Context, src Source, opts RepairOptions) (*Repair, error)
}

// RepairOptions are the rules a repair obeys.
type RepairOptions struct {
	// AllowDisruptive lets a repair destroy VFs (a PF at another non-zero VF count goes through 0).
	AllowDisruptive bool
	// Waiting is called once when the lock is held by someone else and the repair starts waiting.
	Waiting func(holder string)
}

// Drift is one observation: the host, the desired state and the plan between them.
type Drift struct {
	Observed *sriov.Host `json:"-"`
	Desired  *Desired    `json:"desired"`
	// Plan is what a repair would write; nil without desired state.
	Plan        *plan.Plan     `json:"-"`
	Assignments []Assignment   `json:"assignments"`
	Mirrors     []mirror.Group `json:"mirrors"`
	At          time.Time      `json:"at"`
}

// Assignment is a ledger record with what the host shows for its VF now.
type Assignment struct {
	ledger.Record
	// Host is "ok", "missing" or "drift: ..." (what differs from the owner's settings).
	Host string `json:"host"`
}

// InSync reports whether the host matches the desired state.
func (d *Drift) InSync() bool {
	return d.Plan == nil || (len(d.Plan.Ops) == 0 && len(d.Plan.Problems) == 0)
}

// DriftedVFs maps each PF name to the VFs the plan writes (-1: the PF itself, its VF count).
func (d *Drift) DriftedVFs() map[string]map[int]bool {
	out := map[string]map[int]bool{}
	if d.Plan == nil {
		return out
	}
	add := func(pf string, vf int) {
		if out[pf] == nil {
			out[pf] = map[int]bool{}
		}
		out[pf][vf] = true
	}
	for _, o := range d.Plan.Ops {
		add(o.PF, o.VF)
	}
	for _, pr := range d.Plan.Problems {
		if pr.PF != "" {
			add(pr.PF, pr.VF)
		}
	}
	return out
}

// Repair is what one repair did.
type Repair struct {
	// Drift is the observation made under the lock, which the repair acted on.
	Drift *Drift `json:"-"`
	// Recovered is set when an interrupted apply was finished or undone first.
	Recovered *apply.Recovery `json:"recovered,omitempty"`
	// Planned is the plan's summary; Writes the host writes made.
	Planned string   `json:"planned"`
	Ops     []string `json:"ops,omitempty"`
	Writes  int      `json:"writes"`
	// Skipped says why nothing was applied: "in sync", "disruptive", "problems".
	Skipped    string   `json:"skipped,omitempty"`
	RolledBack bool     `json:"rolledBack,omitempty"`
	Unrestored []string `json:"unrestored,omitempty"`
}
