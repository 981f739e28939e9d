package jsonout

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/sriovctl/sriovctl/internal/change"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// TestEveryKindHasAValue: an op's from and to name what it writes, for every kind of write the change
// package declares (a kind added there without a case here would print {} in every plan).
func TestEveryKindHasAValue(t *testing.T) {
	src, err := os.ReadFile("../change/change.go")
	if err != nil {
		t.Fatal(err)
	}
	kinds := regexp.MustCompile(`(?m)^\s*Kind\w+\s+Kind = "(\w+)"`).FindAllSubmatch(src, -1)
	if len(kinds) < 12 {
		t.Fatalf("found %d kinds in change.go; the pattern is out of date", len(kinds))
	}
	// A value with every field set: each kind must pick its own out of it.
	every := change.Value{NumVFs: 4, MAC: "02:00:00:00:00:01", VLAN: 5, QoS: 1, VLANProto: "802.1Q", On: true,
		LinkState: "enable", MinMbps: 1, MaxMbps: 2, Driver: "vfio-pci", Rule: &sriov.MirrorRule{}, Mode: "switchdev", MTU: 9000}
	for _, k := range kinds {
		kind := change.Kind(k[1])
		v := newValue(kind, every)
		data, _ := json.Marshal(v)
		if string(data) == "{}" {
			t.Errorf("kind %s: from/to print {}: add it to newValue", kind)
		}
	}
}
