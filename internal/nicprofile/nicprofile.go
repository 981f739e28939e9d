// Package nicprofile holds, as data, what each SR-IOV NIC driver does with VF settings: which attributes
// it supports, how it refuses the others (errno and wording), whether an admin MAC needs a VF driver
// reload, what it does with two VFs sharing a MAC, and its IDs and VF layout. The lab emulates NICs from
// these profiles; the planner and the switch model read them to predict a real NIC's answer.
package nicprofile

import (
	"github.com/sriovctl/sriovctl/internal/sriov"

	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"sigs.k8s.io/yaml"
)

// Attr names a VF attribute group, as profiles and plans name them.
type Attr string

// The VF attributes.
const (
	AttrMAC             Attr = "mac"
	AttrVLAN            Attr = "vlan"
	AttrVLANProto8021AD Attr = "vlanProto8021ad"
	AttrSpoofCheck      Attr = "spoofchk"
	AttrTrust           Attr = "trust"
	AttrLinkState       Attr = "linkState"
	AttrMinTxRate       Attr = "minTxRate"
	AttrMaxTxRate       Attr = "maxTxRate"
	AttrQueryRSS        Attr = "queryRss"
)

// Duplicate-MAC behaviours: what the NIC's switch does when two VFs share a unicast MAC.
const (
	DuplicateMACAllReceive = "all-receive" // every VF with the MAC receives the frame
	DuplicateMACRefused    = "refused"     // setting the second MAC fails
	DuplicateMACUnknown    = "unknown"     // accepted, delivery hardware-defined
)

// Refusal is how a driver refuses a setting.
type Refusal struct {
	Errno   string `json:"errno"`
	Message string `json:"message"`
}

// ErrnoValue returns the refusal's errno.
func (r Refusal) ErrnoValue() syscall.Errno {
	if e, ok := errnos[r.Errno]; ok {
		return e
	}
	return syscall.EINVAL
}

var errnos = map[string]syscall.Errno{
	"EINVAL": syscall.EINVAL, "EOPNOTSUPP": syscall.EOPNOTSUPP, "EPROTONOSUPPORT": syscall.EPROTONOSUPPORT,
	"EEXIST": syscall.EEXIST, "EBUSY": syscall.EBUSY, "ERANGE": syscall.ERANGE, "EIO": syscall.EIO,
	"EPERM": syscall.EPERM, "ENODEV": syscall.ENODEV, "ENOENT": syscall.ENOENT, "ENOMEM": syscall.ENOMEM,
	"EAGAIN": syscall.EAGAIN, "ETIMEDOUT": syscall.ETIMEDOUT,
}

// ParseErrno reads an errno name such as EIO.
func ParseErrno(name string) (syscall.Errno, bool) {
	e, ok := errnos[strings.ToUpper(name)]
	return e, ok
}

// ErrnoNames lists the errno names ParseErrno knows.
func ErrnoNames() []string {
	names := make([]string, 0, len(errnos))
	for n := range errnos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Profile describes one NIC family and its PF driver.
type Profile struct {
	// Name is the profile's name (defaults to Driver): ixgbe, i40e, ice, mlx5, igb.
	Name       string `json:"profile"`
	Driver     string `json:"driver"`
	Model      string `json:"model"`
	VendorID   string `json:"vendorId"`
	DeviceID   string `json:"deviceId"`
	VFDeviceID string `json:"vfDeviceId"`
	VFDriver   string `json:"vfDriver"`
	// PCIBus is the hex bus a lab puts the first PF of this profile on (igb: 01, as on QEMU's q35).
	PCIBus        string `json:"pciBus"`
	TotalVFs      int    `json:"totalVfs"`
	VFOffset      int    `json:"vfOffset"`
	VFStride      int    `json:"vfStride"`
	LinkSpeedMbps int    `json:"linkSpeedMbps"`
	// DuplicateMAC is one of the DuplicateMAC* constants.
	DuplicateMAC        string   `json:"duplicateMac"`
	DuplicateMACRefusal *Refusal `json:"duplicateMacRefusal,omitempty"`
	// MACNeedsVFReload: an admin MAC set while the VF driver is bound reaches the VF netdev only after
	// the VF driver is unbound and bound again.
	MACNeedsVFReload bool   `json:"macNeedsVfReload"`
	MACNotice        string `json:"macNotice"`
	AcceptsVLAN4095  bool   `json:"acceptsVlan4095"`
	// RebindReportsVFMAC: when the VF driver binds again to a VF without an admin MAC, the PF reports the
	// MAC the VF driver picked as the VF's admin MAC (igb). A freshly created VF still reports none.
	RebindReportsVFMAC bool `json:"rebindReportsVfMac,omitempty"`
	// TrustedVFSetsOwnMAC: the VF driver asks the PF before it changes its netdev's address, and the PF
	// takes the address from a trusted VF (making it the VF's admin MAC) but refuses it from an untrusted
	// VF that has an admin MAC (igb). So on a VF that ends trusted, writing the admin MAC and then the
	// netdev's address to the same value gives the netdev the MAC without a VF driver reload.
	TrustedVFSetsOwnMAC bool `json:"trustedVfSetsOwnMac,omitempty"`
	// UnmatchedToPF: unicast from the wire that no VF takes goes to the PF (the NIC's default pool) when
	// its VLAN passes the NIC's VLAN filter (untagged, or a VLAN some VF has); otherwise it is dropped.
	UnmatchedToPF bool `json:"unmatchedToPf,omitempty"`
	// LocalVLANMissDrops: a frame from a VF or the PF to a VF's MAC that this VF's VLAN filter refuses is
	// dropped inside the NIC instead of leaving on the wire as unknown unicast.
	LocalVLANMissDrops bool `json:"localVlanMissDrops,omitempty"`
	// SameMACNeedsTrust: VFs sharing a MAC (same-mac mirroring) must be trusted for the NIC to program
	// the duplicate filter. SameMACReset: the NIC moves a shared MAC's filter to the VF set last, so every
	// member's MAC must be set once more after all are set (the field recipe's extra step).
	SameMACNeedsTrust bool `json:"sameMacNeedsTrust,omitempty"`
	SameMACReset      bool `json:"sameMacReset,omitempty"`
	// Switchdev: the NIC supports switchdev eswitch mode with VF representors (tc mirred).
	Switchdev bool             `json:"switchdev"`
	Refuses   map[Attr]Refusal `json:"refuses"`
	// SwitchdevRefuses are further refusals while the eswitch is in switchdev mode (netdevsim: VF rates,
	// which devlink rate objects replace there).
	SwitchdevRefuses map[Attr]Refusal `json:"switchdevRefuses,omitempty"`
	// Verified says where the profile's facts come from: VerifiedRealDriver (checked against the real
	// driver in the guest suite, test/vm) or VerifiedDriverSources (read from the driver's sources).
	Verified string `json:"verified"`
	// TooManyVFs is the answer to sriov_numvfs above the maximum when it is not the PCI core's ERANGE
	// (netdevsim: ENOMEM).
	TooManyVFs *Refusal `json:"tooManyVfs,omitempty"`
	// NoVFDevices: the VFs exist only in the PF driver, with no PCI function, netdev or driver to bind
	// (netdevsim).
	NoVFDevices bool `json:"noVfDevices,omitempty"`
	// KeepsVFConfig: VF settings survive sriov_numvfs going to 0 and back (netdevsim); on a PCI NIC the
	// VFs are destroyed and come back at their defaults.
	KeepsVFConfig bool `json:"keepsVfConfig,omitempty"`
	// FreshSpoofCheck is the spoof check of a freshly created VF when it is not on (netdevsim: off, its
	// VF state starts zeroed); nil means on, as on every PCI NIC here.
	FreshSpoofCheck *bool `json:"freshSpoofchk,omitempty"`
	// MaxMTU is the largest MTU the PF driver accepts (its netdev's max_mtu); 0 when unknown.
	MaxMTU int `json:"maxMtu,omitempty"`
}

// MTULimit is the largest MTU to allow on the PF: the profile's, else sriov.DefaultMaxMTU.
func (p *Profile) MTULimit() int {
	if p.MaxMTU > 0 {
		return p.MaxMTU
	}
	return sriov.DefaultMaxMTU
}

// FreshVFConfig is what a freshly created VF of this NIC reports.
func (p *Profile) FreshVFConfig() sriov.VFConfig {
	c := sriov.DefaultVFConfig()
	if p.FreshSpoofCheck != nil {
		c.SpoofCheck = *p.FreshSpoofCheck
	}
	return c
}

// Where a profile's facts come from (Profile.Verified).
const (
	VerifiedRealDriver    = "real-driver"
	VerifiedDriverSources = "driver-sources"
)

// RefusalIn is Refusal for a PF whose eswitch is in mode ("legacy", "switchdev", "" when unknown).
func (p *Profile) RefusalIn(a Attr, mode string) (Refusal, bool) {
	if r, ok := p.Refuses[a]; ok {
		return r, true
	}
	if mode == "switchdev" {
		r, ok := p.SwitchdevRefuses[a]
		return r, ok
	}
	return Refusal{}, false
}

// Supports reports whether the driver accepts the attribute.
func (p *Profile) Supports(a Attr) bool {
	_, refused := p.Refuses[a]
	return !refused
}

// Refusal returns how the driver refuses a, if it does.
func (p *Profile) Refusal(a Attr) (Refusal, bool) {
	r, ok := p.Refuses[a]
	return r, ok
}

//go:embed profiles.yaml
var profilesYAML []byte

// profiles parses profiles.yaml on first use rather than at package init: most commands start, and some
// (version, help, completion) end, without needing a profile.
// It reads profiles.json, which `go generate` makes from profiles.yaml (TestProfilesJSONUpToDate fails
// while it is stale): decoding JSON takes a fifth of the time parsing the YAML does (0.35 against 1.7 ms
// in a fresh process), and every lab command and plan pays it.
var profiles = sync.OnceValue(func() []*Profile {
	list, err := decode(profilesJSON)
	if err != nil {
		panic(fmt.Sprintf("nicprofile: embedded profiles.json: %v", err))
	}
	return list
})

//go:generate go run ./genprofiles
//go:embed profiles.json
var profilesJSON []byte

// decode reads profiles in JSON, refusing unknown keys, and checks them.
func decode(data []byte) ([]*Profile, error) {
	var list []*Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, err
	}
	return list, check(list)
}

// check fills in defaults and refuses what no code path reads right.
func check(list []*Profile) error {
	for _, p := range list {
		if p.Name == "" {
			p.Name = p.Driver
		}
		if p.Verified != VerifiedRealDriver && p.Verified != VerifiedDriverSources {
			return fmt.Errorf("%s: verified must be %s or %s", p.Name, VerifiedRealDriver, VerifiedDriverSources)
		}
	}
	return nil
}

// GenerateJSON converts profiles.yaml (strictly: an unknown key is an error) into the profiles.json the
// package reads, names defaulted and checked.
func GenerateJSON(yamlData []byte) ([]byte, error) {
	var list []*Profile
	if err := yaml.UnmarshalStrict(yamlData, &list); err != nil {
		return nil, fmt.Errorf("profiles.yaml: %w", err)
	}
	if err := check(list); err != nil {
		return nil, fmt.Errorf("profiles.yaml: %w", err)
	}
	out, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// All returns every profile in file order.
func All() []*Profile { return profiles() }

// Names lists the profile names.
func Names() []string { return slices.Clone(names()) }

// names reads the profile names from profiles.yaml without parsing it: the lab's help text lists them, and
// building the command tree must not cost a full parse at every start. Each profile is a top-level list
// item; its name is its `profile:` key, else its `driver:` (as Profile.Name). TestNamesMatchProfiles keeps
// this in step with the parse.
var names = sync.OnceValue(func() []string {
	var out []string
	item := -1
	var driver, profile []string
	for line := range strings.Lines(string(profilesYAML)) {
		key, val, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(key, "- "):
			item++
			driver, profile = append(driver, ""), append(profile, "")
			key = "  " + key[2:]
		case !strings.HasPrefix(key, "  ") || strings.HasPrefix(key, "   "):
			continue
		}
		if item < 0 {
			continue
		}
		val, _, _ = strings.Cut(val, "#")
		val = strings.Trim(strings.TrimSpace(val), `"'`)
		switch strings.TrimSpace(key) {
		case "driver":
			driver[item] = val
		case "profile":
			profile[item] = val
		}
	}
	for i := range driver {
		n := profile[i]
		if n == "" {
			n = driver[i]
		}
		out = append(out, n)
	}
	return out
})

// ByName finds a profile by its name (igb, mlx5...) or its PF driver name (mlx5_core).
func ByName(name string) (*Profile, bool) {
	for _, p := range profiles() {
		if p.Name == name || p.Driver == name {
			return p, true
		}
	}
	return nil, false
}

// ForDriver finds the profile of a PF driver; unknown drivers get a permissive generic profile so that
// the host itself decides.
func ForDriver(driver string) *Profile {
	if p, ok := ByName(driver); ok {
		return p
	}
	return &Profile{Name: driver, Driver: driver, DuplicateMAC: DuplicateMACUnknown}
}
