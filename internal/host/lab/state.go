package lab

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sriovctl/sriovctl/internal/sriov"
	"github.com/sriovctl/sriovctl/internal/statefile"
)

// stateFile and lockFile live in the lab directory.
const (
	stateFile    = "lab.json"
	lockFile     = ".lock"
	stateVersion = 1
)

// state is the whole emulated host as stored in DIR/lab.json.
type state struct {
	Version int    `json:"version"`
	PFs     []*pf  `json:"pfs"`
	Fault   fault  `json:"fault"`
	Serial  uint64 `json:"serial"` // bumps on every VF creation, to vary generated netdev MACs
	Created string `json:"created"`
	Ops     uint64 `json:"mutatingOps"` // successful mutating operations so far
}

// pf is one emulated PF. Profile names the nicprofile it follows.
type pf struct {
	Name        string `json:"name"`
	Profile     string `json:"profile"`
	PCIAddress  string `json:"pciAddress"`
	TotalVFs    int    `json:"totalVfs"`
	MAC         string `json:"mac"`
	MTU         int    `json:"mtu"`
	OperState   string `json:"operState"`
	EswitchMode string `json:"eswitchMode"`
	VFs         []*vf  `json:"vfs"`
	// MirrorRules are offloaded switchdev mirror rules (tc mirred on representors), see mirror.go.
	MirrorRules []sriov.MirrorRule `json:"mirrorRules,omitempty"`
}

// vf is one emulated VF.
type vf struct {
	ID     int    `json:"id"`
	Driver string `json:"driver"`
	// NetdevMAC is the MAC the VF's netdev carries (what the guest/VM sees).
	NetdevMAC string `json:"netdevMac"`
	sriov.VFConfig
}

// fault is the injected-fault configuration.
type fault struct {
	// FailAt counts down mutating operations; the one that brings it to 0 fails with Errno.
	FailAt int           `json:"failAt,omitempty"`
	Errno  string        `json:"errno,omitempty"`
	Delay  time.Duration `json:"delay,omitempty"`
}

// withLock runs fn holding the lab's lock: exclusive for writers, shared for readers.
func withLock(dir string, exclusive bool, fn func() error) error {
	var fnErr error
	if err := statefile.WithLock(filepath.Join(dir, lockFile), exclusive, func() error { fnErr = fn(); return nil }); err != nil {
		return fmt.Errorf("lab %s: %w", dir, err)
	}
	return fnErr
}

func load(dir string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a lab (no %s): create one with `sriovctl lab init %s`", dir, stateFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("lab %s: corrupt %s: %w", dir, stateFile, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("lab %s: state version %d, this sriovctl reads %d", dir, s.Version, stateVersion)
	}
	return &s, nil
}

// save writes the state atomically: a crash (kill -9) at any point leaves the old or the new file.
func save(dir string, s *state) error {
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return statefile.WriteAtomic(filepath.Join(dir, stateFile), append(data, '\n'))
}

// derivedMAC makes a stable locally administered unicast MAC from a seed.
func derivedMAC(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	sum[0] = (sum[0] | 0x02) &^ 0x01
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4], sum[5])
}
