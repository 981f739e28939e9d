package jsonout

import (
	"encoding/json"
	"time"

	"github.com/sriovctl/sriovctl/internal/adopt"
	"github.com/sriovctl/sriovctl/internal/apply"
	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/eswitch"
	"github.com/sriovctl/sriovctl/internal/host"
	"github.com/sriovctl/sriovctl/internal/ledger"
	"github.com/sriovctl/sriovctl/internal/mirror"
	"github.com/sriovctl/sriovctl/internal/openstack"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/pool"
	"github.com/sriovctl/sriovctl/internal/service"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// Show is `show` and `lab init`: the observed PFs with their VFs.
type Show struct {
	// Dir is the lab's directory (lab init only).
	Dir string     `json:"dir,omitempty"`
	PFs []sriov.PF `json:"pfs"`
}

// NewShow copies the observed PFs, with empty VF lists as [].
func NewShow(pfs []sriov.PF) Show {
	return Show{PFs: convert(pfs, func(p sriov.PF) sriov.PF { p.VFs = List(p.VFs); return p })}
}

// Value is what an operation writes (to) or replaces (from); which fields count depends on the kind.
type Value struct {
	NumVFs    *int            `json:"numVfs,omitempty"`
	MAC       string          `json:"mac,omitempty"`
	VLAN      *int            `json:"vlan,omitempty"`
	QoS       *int            `json:"qos,omitempty"`
	VLANProto sriov.VLANProto `json:"vlanProto,omitempty"`
	// On is spoofchk, trust or queryRss turned on (true) or off (false).
	On            *bool             `json:"on,omitempty"`
	LinkState     sriov.LinkState   `json:"linkState,omitempty"`
	MinTxRateMbps *int              `json:"minTxRateMbps,omitempty"`
	MaxTxRateMbps *int              `json:"maxTxRateMbps,omitempty"`
	Driver        *string           `json:"driver,omitempty"` // "" is no driver
	MirrorRule    *sriov.MirrorRule `json:"mirrorRule,omitempty"`
	EswitchMode   string            `json:"eswitchMode,omitempty"`
	MTU           *int              `json:"mtu,omitempty"`
}

// Op is one host write: its kind (numvfs, mac, vlan, spoofchk, trust, linkState, rate, queryRss, driver,
// mirrorRule, eswitchMode, mtu, netdevMac: the VF netdev's own address), where, the value it replaces and
// the one it writes.
type Op struct {
	Kind         string `json:"kind"`
	PF           string `json:"pf"`
	PFPCIAddress string `json:"pfPciAddress,omitempty"`
	// VF is the VF written, -1 for a write to the PF itself (numvfs, eswitchMode, mirrorRule, mtu).
	VF          int    `json:"vf"`
	From        Value  `json:"from"`
	To          Value  `json:"to"`
	Description string `json:"description"`
	Reason      string `json:"reason,omitempty"`
	// Disruptive marks a write that destroys VFs (a VF count change of an enabled PF goes through 0).
	Disruptive bool `json:"disruptive"`
	// PriorVFs are the VFs a disruptive write destroys, with their settings.
	PriorVFs []sriov.VF `json:"priorVfs,omitempty"`
}

func newValue(k change.Kind, v change.Value) Value {
	out := Value{}
	switch k {
	case change.KindNumVFs:
		out.NumVFs = &v.NumVFs
	case change.KindMAC, change.KindNetdevMAC:
		out.MAC = v.MAC
	case change.KindVLAN:
		out.VLAN, out.QoS, out.VLANProto = &v.VLAN, &v.QoS, v.VLANProto
	case change.KindSpoofCheck, change.KindTrust, change.KindQueryRSS:
		out.On = &v.On
	case change.KindLinkState:
		out.LinkState = v.LinkState
	case change.KindRate:
		out.MinTxRateMbps, out.MaxTxRateMbps = &v.MinMbps, &v.MaxMbps
	case change.KindDriver:
		out.Driver = &v.Driver
	case change.KindMirrorRule:
		out.MirrorRule = v.Rule
	case change.KindEswitchMode:
		out.EswitchMode = v.Mode
	case change.KindMTU:
		out.MTU = &v.MTU
	}
	return out
}

// NewOps converts planned writes.
func NewOps(ops []change.Op) []Op {
	return convert(ops, func(o change.Op) Op {
		return Op{Kind: string(o.Kind), PF: o.PF, PFPCIAddress: o.PFAddress, VF: o.VF,
			From: newValue(o.Kind, o.From), To: newValue(o.Kind, o.To), Description: o.Describe(),
			Reason: o.Reason, Disruptive: o.Disruptive, PriorVFs: o.PriorVFs}
	})
}

// Plan is `plan`, and the drift in `status`: the writes that would bring the host to a policy.
type Plan struct {
	// Summary is the last line of the text output: "N changes (M disruptive)" or "no changes".
	Summary         string `json:"summary"`
	ChangeCount     int    `json:"changeCount"`
	DisruptiveCount int    `json:"disruptiveCount"`
	Ops             []Op   `json:"ops"`
	// Problems stop the plan: nothing is written while there is one.
	Problems []plan.Problem `json:"problems"`
	Notes    []string       `json:"notes"`
	// Resizes say, per resized PF, which VFs get their settings back and which are removed.
	Resizes []plan.Resize `json:"resizes"`
	// PendingRecovery is what killed commands left, which the next command that writes undoes first.
	PendingRecovery *Pending `json:"pendingRecovery,omitempty"`
}

// NewPlan converts a plan; pending may be nil.
func NewPlan(p *plan.Plan, pending *service.Pending) Plan {
	out := Plan{Summary: p.Summary(), ChangeCount: len(p.Ops), DisruptiveCount: p.Disruptive(), Ops: NewOps(p.Ops),
		Problems: List(p.Problems), Notes: List(p.Notes), Resizes: List(p.Resizes)}
	for i := range out.Resizes {
		out.Resizes[i].Restored, out.Resizes[i].Removed = List(out.Resizes[i].Restored), List(out.Resizes[i].Removed)
	}
	out.PendingRecovery = NewPending(pending)
	return out
}

// Apply is `apply` and `restore`: the plan, what was written, and on failure what happened.
type Apply struct {
	Plan
	DryRun bool `json:"dryRun"`
	// Writes counts the plan's operations done; HostWrites the kernel requests that carried them, fewer
	// where one netlink message sets several settings of a VF.
	Writes     int `json:"writes"`
	HostWrites int `json:"hostWrites"`
	// Recovered is what was recovered first, left by killed commands.
	Recovered *Recovered `json:"recovered,omitempty"`
	// Missing (restore) lists the desired state's PFs that are not on the host.
	Missing []string `json:"missing,omitempty"`
	// Reasserted (restore) lists the assigned VFs whose owner's settings were given back.
	Reasserted []Reasserted `json:"reasserted,omitempty"`
	// Error, RolledBack and Unrestored describe a failure: whether every write was undone, and which
	// undo writes failed.
	Error      string   `json:"error,omitempty"`
	RolledBack *bool    `json:"rolledBack,omitempty"`
	Unrestored []string `json:"unrestored,omitempty"`
}

// Reasserted is an assigned VF whose owner's settings restore gave back.
type Reasserted struct {
	Owner     string   `json:"owner"`
	Pool      string   `json:"pool"`
	PF        string   `json:"pf"`
	VF        int      `json:"vf"`
	Reapplied []string `json:"reapplied"`
}

// NewReasserted converts restore's reasserted assignments.
func NewReasserted(as []pool.Assignment) []Reasserted {
	if len(as) == 0 {
		return nil
	}
	return convert(as, func(a pool.Assignment) Reasserted {
		return Reasserted{Owner: a.Owner, Pool: a.Pool, PF: a.PF, VF: a.VF, Reapplied: List(a.Reapplied)}
	})
}

// Assignment is one VF handed to an owner by `assign`, as the ledger records it.
type Assignment struct {
	Owner        string `json:"owner"`
	Pool         string `json:"pool"`
	PF           string `json:"pf"`
	PFPCIAddress string `json:"pfPciAddress"`
	VF           int    `json:"vf"`
	PCIAddress   string `json:"pciAddress"`
	Lease        string `json:"lease"`
	// State is "assigned"; "assigning" or "releasing" for a record a killed command left; "released" in
	// what release printed.
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Settings are what the owner asked for; Config the VF's whole configuration with them.
	Settings sriov.VFSettings `json:"settings"`
	Config   sriov.VFConfig   `json:"config"`
	Driver   string           `json:"driver"`
	// Prior and PriorDriver are what release restores.
	Prior       sriov.VFConfig `json:"prior"`
	PriorDriver string         `json:"priorDriver"`
}

// NewAssignment converts a ledger record.
func NewAssignment(r ledger.Record) Assignment {
	return Assignment{Owner: r.Owner, Pool: r.Pool, PF: r.PF, PFPCIAddress: r.PFAddress, VF: r.VF, PCIAddress: r.PCIAddress,
		Lease: r.Lease, State: string(r.State), Since: r.Since, Settings: r.Settings, Config: r.Config, Driver: r.Driver,
		Prior: r.Prior, PriorDriver: r.PriorDriver}
}

// Assign is `assign --format json` (or `assign --json`).
type Assign struct {
	Assignment
	// Existing says the owner already held this VF with the same settings.
	Existing bool `json:"existing"`
	// Reapplied names what had drifted on the host and was set again.
	Reapplied []string `json:"reapplied"`
	Notes     []string `json:"notes"`
	// Recovered is what was recovered first, left by killed commands.
	Recovered *Recovered `json:"recovered,omitempty"`
}

// Release is `release`: the VFs given back, each restored to its prior state.
type Release struct {
	Released []Assignment `json:"released"`
	// Notes say why nothing was released, when nothing was.
	Notes     []string   `json:"notes"`
	Recovered *Recovered `json:"recovered,omitempty"`
}

// NewRelease converts release's records; their state is "released": the ledger no longer holds them.
func NewRelease(rs []ledger.Record, notes []string, rec *service.Recovered) Release {
	out := Release{Released: convert(rs, NewAssignment), Notes: List(notes), Recovered: NewRecovered(rec)}
	for i := range out.Released {
		out.Released[i].State = "released"
	}
	return out
}

// Held is one assignment with what the host shows for its VF now.
type Held struct {
	Assignment
	// Host is "ok", "missing" (no such VF now) or "drift: ..." (what differs from the owner's settings).
	Host string `json:"host"`
}

// NewHeld converts assignments with their host state.
func NewHeld(hs []pool.Held) []Held {
	return convert(hs, func(h pool.Held) Held { return Held{Assignment: NewAssignment(h.Record), Host: h.Host} })
}

// Assignments is `assignments`.
type Assignments struct {
	Assignments     []Held   `json:"assignments"`
	PendingRecovery *Pending `json:"pendingRecovery,omitempty"`
}

// PoolList is `pool list`.
type PoolList struct {
	Pools           []pool.Status `json:"pools"`
	PendingRecovery *Pending      `json:"pendingRecovery,omitempty"`
}

// NewPoolList converts pool statuses.
func NewPoolList(sts []pool.Status, pending *service.Pending) PoolList {
	out := PoolList{Pools: List(sts), PendingRecovery: NewPending(pending)}
	for i := range out.Pools {
		out.Pools[i].Owners = List(out.Pools[i].Owners)
	}
	return out
}

// Journal is an interrupted apply (or other writer) whose journal is left.
type Journal struct {
	What    string `json:"what"`
	PID     int    `json:"pid"`
	Started string `json:"started"`
	Ops     int    `json:"ops"`
	// Next is the write that was running when it stopped (-1: none had started).
	Next int `json:"next"`
}

// Pending is what killed commands left; the next command that writes (or `sriovctl recover`) repairs it.
type Pending struct {
	Journal     *Journal      `json:"journal,omitempty"`
	Assignments []Assignment  `json:"assignments"`
	Mirrors     []MirrorGroup `json:"mirrors"`
}

// NewPending converts what is pending; nil when nothing is.
func NewPending(p *service.Pending) *Pending {
	if !p.Any() {
		return nil
	}
	out := &Pending{Assignments: convert(p.Assignments, NewAssignment), Mirrors: convert(p.Mirrors, NewMirrorGroup)}
	if j := p.Journal; j != nil {
		out.Journal = &Journal{What: j.What, PID: j.PID, Started: j.Started, Ops: len(j.Ops), Next: j.Next}
	}
	return out
}

// Recovery is an interrupted apply finished or undone.
type Recovery struct {
	What    string `json:"what"`
	PID     int    `json:"pid"`
	Started string `json:"started"`
	Ops     int    `json:"ops"`
	Next    int    `json:"next"`
	// Action is "finished" (every write was done) or "undone" (the host is back as it was).
	Action string `json:"action"`
	Writes int    `json:"writes"`
	// Undo is the plan that brought the host back.
	Undo *Plan `json:"undo,omitempty"`
}

// Recovered is what was finished or undone, left by killed commands.
type Recovered struct {
	Apply       *Recovery     `json:"apply,omitempty"`
	Assignments []Assignment  `json:"assignments"`
	Mirrors     []MirrorGroup `json:"mirrors"`
}

// NewRecovered converts what a writer recovered first; nil when nothing was.
func NewRecovered(r *service.Recovered) *Recovered {
	if r.Empty() {
		return nil
	}
	out := &Recovered{Apply: newRecovery(r.Apply), Assignments: convert(r.Assignments, NewAssignment), Mirrors: convert(r.Mirrors, NewMirrorGroup)}
	return out
}

func newRecovery(r *apply.Recovery) *Recovery {
	if r == nil {
		return nil
	}
	out := &Recovery{What: r.What, PID: r.PID, Started: r.Started, Ops: r.Ops, Next: r.Next, Action: r.Action, Writes: r.Writes}
	if r.Undo != nil {
		u := NewPlan(r.Undo, nil)
		out.Undo = &u
	}
	return out
}

// Recover is `recover`: what killed commands left, finished or undone.
type Recover struct {
	// Recovered says whether anything was left to recover.
	Recovered   bool          `json:"recovered"`
	Apply       *Recovery     `json:"apply,omitempty"`
	Assignments []Assignment  `json:"assignments"`
	Mirrors     []MirrorGroup `json:"mirrors"`
}

// NewRecover converts what recover did.
func NewRecover(r *service.Recovered) Recover {
	if r.Empty() {
		return Recover{Assignments: []Assignment{}, Mirrors: []MirrorGroup{}}
	}
	return Recover{Recovered: true, Apply: newRecovery(r.Apply), Assignments: convert(r.Assignments, NewAssignment), Mirrors: convert(r.Mirrors, NewMirrorGroup)}
}

// MirrorGroup is a mirror group as recorded (or from the stored policy).
type MirrorGroup struct {
	Name     string `json:"name"`
	PF       string `json:"pf"`
	VFs      []int  `json:"vfs"`
	MAC      string `json:"mac"`
	Strategy string `json:"strategy"`
	// State is "applied", or "applying"/"deleting" for a group a killed command left.
	State string `json:"state"`
	// Source is "mirror create", or "policy" for a group of the stored desired state.
	Source  string `json:"source"`
	Created string `json:"created,omitempty"`
	// Health (mirror list) says whether the switch model says the group still works on the host.
	Health string `json:"health,omitempty"`
	// Prior holds each member's MAC, spoof check, trust and driver from before, which delete restores.
	Prior []mirror.Member `json:"prior"`
}

// NewMirrorGroup converts a mirror group.
func NewMirrorGroup(g mirror.Group) MirrorGroup {
	return MirrorGroup{Name: g.Name, PF: g.PF, VFs: List(g.VFs), MAC: g.MAC, Strategy: g.Strategy, State: g.State,
		Source: g.Source, Created: g.Created, Health: g.Health, Prior: List(g.Prior)}
}

// MirrorList is `mirror list`.
type MirrorList struct {
	Mirrors         []MirrorGroup `json:"mirrors"`
	PendingRecovery *Pending      `json:"pendingRecovery,omitempty"`
}

// NewMirrorList converts mirror list's groups.
func NewMirrorList(gs []mirror.Group, pending *service.Pending) MirrorList {
	return MirrorList{Mirrors: convert(gs, NewMirrorGroup), PendingRecovery: NewPending(pending)}
}

// Trace is `trace`: the switch model's prediction for one frame.
type Trace struct {
	// Verdict is "delivered" or "dropped".
	Verdict   string             `json:"verdict"`
	Reason    string             `json:"reason"`
	Receivers []eswitch.Receiver `json:"receivers"`
	Steps     []string           `json:"steps"`
}

// NewTrace converts a prediction.
func NewTrace(r eswitch.Result) Trace {
	return Trace{Verdict: r.Verdict, Reason: r.Reason, Receivers: List(r.Receivers), Steps: List(r.Steps)}
}

// MirrorChange is `mirror create` and `mirror delete`.
type MirrorChange struct {
	Group       MirrorGroup `json:"group"`
	ChangeCount int         `json:"changeCount"`
	Ops         []Op        `json:"ops"`
	// Commands are the equivalent iproute2/tc commands, for people to read.
	Commands []string `json:"commands"`
	Notes    []string `json:"notes"`
	// Prediction (create) is the switch model's check: a frame from the wire to the group's MAC.
	Prediction *Trace     `json:"prediction,omitempty"`
	Recovered  *Recovered `json:"recovered,omitempty"`
}

// NewMirrorChange converts a mirror plan and what was recovered first; withPrediction for create.
func NewMirrorChange(p *mirror.Plan, rec *service.Recovered, withPrediction bool) MirrorChange {
	out := MirrorChange{Group: NewMirrorGroup(p.Group), ChangeCount: len(p.Ops), Ops: NewOps(p.Ops), Commands: List(p.Commands), Notes: List(p.Notes),
		Recovered: NewRecovered(rec)}
	if withPrediction {
		t := NewTrace(p.Prediction)
		out.Prediction = &t
	}
	return out
}

// Direct is `vf set`, `vf bind` and `pf set`: the writes made to one PF or VF.
type Direct struct {
	PF           string `json:"pf"`
	PFPCIAddress string `json:"pfPciAddress"`
	// VF is the VF changed, -1 for pf set.
	VF          int  `json:"vf"`
	ChangeCount int  `json:"changeCount"`
	Writes      int  `json:"writes"`
	Ops         []Op `json:"ops"`
	// Notes say what may not be expected (igb applies a MAC after a VF driver reload), as text mode does
	// on stderr.
	Notes     []string   `json:"notes"`
	Recovered *Recovered `json:"recovered,omitempty"`
}

// NewDirect converts a direct change's result.
func NewDirect(r *service.Result, vf int) Direct {
	out := Direct{PF: r.PF, VF: vf, ChangeCount: len(r.Ops), Writes: r.Writes, Ops: NewOps(r.Ops), Notes: List(r.Notes),
		Recovered: NewRecovered(r.Recovered)}
	if r.Before != nil {
		out.PFPCIAddress = r.Before.PCIAddress
	}
	return out
}

// PFSet is `pf set`: the direct change and the PF's VF count or eswitch mode before and after.
type PFSet struct {
	Direct
	NumVFs              *int   `json:"numVfs,omitempty"`
	PreviousNumVFs      *int   `json:"previousNumVfs,omitempty"`
	EswitchMode         string `json:"eswitchMode,omitempty"`
	PreviousEswitchMode string `json:"previousEswitchMode,omitempty"`
	MTU                 *int   `json:"mtu,omitempty"`
	PreviousMTU         *int   `json:"previousMtu,omitempty"`
}

// VFBind is `vf bind`: the direct change and the VF's driver before and after ("" is none).
type VFBind struct {
	Direct
	Driver         string `json:"driver"`
	PreviousDriver string `json:"previousDriver"`
}

// Forget is `forget`: what was removed from the stored desired state, and what it keeps.
type Forget struct {
	Kind    string         `json:"kind"`
	Name    string         `json:"name"`
	Desired *policy.Policy `json:"desired"`
}

// Status is `status`: the stored desired state, the host's drift from it, and the agent's view.
type Status struct {
	StateDir string `json:"stateDir"`
	// Desired is null when no desired state is stored.
	Desired *Desired `json:"desired" jsonschema:"nullable"`
	InSync  bool     `json:"inSync"`
	// Drift is the plan that would bring the host back (what `restore` makes).
	Drift *Plan `json:"drift,omitempty"`
	// AssignmentDrift lists assigned VFs that no longer have their owner's settings, or are missing.
	AssignmentDrift []Held    `json:"assignmentDrift"`
	PendingRecovery *Pending  `json:"pendingRecovery,omitempty"`
	Agent           AgentView `json:"agent"`
}

// Desired is the stored desired state.
type Desired struct {
	Path   string         `json:"path"`
	Stored time.Time      `json:"stored"`
	Policy *policy.Policy `json:"policy"`
}

// AgentView is what `status` shows of the agent: whether one answers on its socket, and its status.
type AgentView struct {
	Socket  string `json:"socket"`
	Running bool   `json:"running"`
	Error   string `json:"error,omitempty"`
	// Status is the agent's GET /v1/status document (docs/agent.md), as it answered.
	Status json.RawMessage `json:"status,omitempty"`
}

// LabPF is a lab PF a lab command changed, with its VF count and eswitch mode before and after.
type LabPF struct {
	Name                string `json:"name"`
	PCIAddress          string `json:"pciAddress"`
	NumVFs              int    `json:"numVfs"`
	PreviousNumVFs      int    `json:"previousNumVfs"`
	EswitchMode         string `json:"eswitchMode"`
	PreviousEswitchMode string `json:"previousEswitchMode"`
}

// LabChange is `lab reboot`, `lab reset` and `lab eswitch`: the lab PFs changed.
type LabChange struct {
	Dir string  `json:"dir"`
	PFs []LabPF `json:"pfs"`
}

// NewLabChange pairs the lab's PFs before and after a lab command; only those in names (all when nil).
func NewLabChange(dir string, before, after *sriov.Host, names []string) LabChange {
	out := LabChange{Dir: dir, PFs: []LabPF{}}
	for _, b := range before.PFs {
		if names != nil && !contains(names, b.PCIAddress) {
			continue
		}
		pf := LabPF{Name: b.Name, PCIAddress: b.PCIAddress, PreviousNumVFs: b.NumVFs, PreviousEswitchMode: b.EswitchMode}
		if a := after.FindPF(b.PCIAddress); a != nil {
			pf.NumVFs, pf.EswitchMode = a.NumVFs, a.EswitchMode
		}
		out.PFs = append(out.PFs, pf)
	}
	return out
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// LabFault is `lab fault`: the faults injected into the lab's mutating operations.
type LabFault struct {
	// FailAt is the mutating operation, counted from when it was set, that fails (0: none).
	FailAt int `json:"failAt"`
	// Errno is the errno name that failure gets ("" when none is armed).
	Errno      string `json:"errno"`
	AfterWrite bool   `json:"afterWrite"`
	// Delay slows every mutating operation, as a Go duration ("200ms"); DelayMs is the same in ms.
	Delay   string `json:"delay"`
	DelayMs int64  `json:"delayMs"`
}

// NewLabFault converts the lab's fault configuration.
func NewLabFault(failAt int, errno string, afterWrite bool, delay time.Duration) LabFault {
	return LabFault{FailAt: failAt, Errno: errno, AfterWrite: afterWrite, Delay: delay.String(), DelayMs: delay.Milliseconds()}
}

// LabTraffic is `lab traffic`: the frames' fate and each port's counters (keyed wire, pf, vf:N).
type LabTraffic struct {
	PF       string                  `json:"pf"`
	Count    int                     `json:"count"`
	Size     int                     `json:"size"`
	Trace    Trace                   `json:"trace"`
	Added    map[string]host.VFStats `json:"added"`
	Counters map[string]host.VFStats `json:"counters"`
}

// LedgerRestore is `ledger restore-backup`.
type LedgerRestore struct {
	Assignments int `json:"assignments"`
}

// Version is `version`: which sriovctl this is.
type Version struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified"` // built from a checkout with uncommitted changes
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// OpenStackStep is one `openstack` CLI command to run.
type OpenStackStep struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Why     string   `json:"why"`
}

// OpenStackRender is `openstack render`.
type OpenStackRender struct {
	PF          string `json:"pf"`
	Physnet     string `json:"physnet"`
	NetworkType string `json:"networkType"`
	VFs         []int  `json:"vfs"`
	// ExcludedVFs are the PCI addresses of the PF's VFs not offered to OpenStack.
	ExcludedVFs []string `json:"excludedVfs"`
	// Files maps each file name (ml2_conf.ini, sriov_agent.ini, nova.conf) to its content.
	Files map[string]string `json:"files"`
	// Written lists the paths written with --out.
	Written []string        `json:"written"`
	Steps   []OpenStackStep `json:"steps"`
}

// OpenStackCheck is `openstack check`.
type OpenStackCheck struct {
	Clean    bool                `json:"clean"`
	Problems []openstack.Problem `json:"problems"`
}

// PolicyDoc is `export`, `import netplan` and `import networkd`: the policy made, a note for each setting
// it leaves out, and the file it was written to (with -o).
type PolicyDoc struct {
	Policy *policy.Policy `json:"policy"`
	Notes  []adopt.Note   `json:"notes"`
	File   string         `json:"file,omitempty"`
}

// LibvirtNetwork is `pool libvirt-network`: the network's name, the pool, the VFs it holds, and the XML
// (or the file it was written to, with -o).
type LibvirtNetwork struct {
	Network string `json:"network"`
	Pool    string `json:"pool"`
	VFs     []int  `json:"vfs"`
	XML     string `json:"xml,omitempty"`
	File    string `json:"file,omitempty"`
}
