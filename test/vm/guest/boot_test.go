//go:build vmguest

package guest

import (
	"os"
	"testing"
)

func TestBootIGB(t *testing.T) {
	b, err := os.ReadFile("/sys/class/net/eth0/device/sriov_totalvfs")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("totalvfs %s", b)
}
