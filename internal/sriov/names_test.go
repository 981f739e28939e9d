package sriov

import (
	"regexp"
	"strings"
	"testing"
)

func TestIsName(t *testing.T) {
	// Each case is also checked against the regexp IsName replaces.
	owner := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$`)
	pool := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	for _, s := range []string{
		"", "a", "A", "0", "vm-1", "web1.example", "vm_1", "-vm", ".vm", "_vm", "vm 1", "vm\n", "vm:1", "vm@host",
		"4f1c8a2e-9b7d-4c3e-8f6a-1d2e3f4a5b6c", "a/b", "é", "vmé", "a\x00", strings.Repeat("a", 63),
		strings.Repeat("a", 64), strings.Repeat("b", 128), strings.Repeat("b", 129), "vm$", "vm*", "vm+1",
	} {
		if got, want := IsName(s, 128, "_.:@/-"), owner.MatchString(s); got != want {
			t.Errorf("IsName(%q, 128, owner) = %v, want %v", s, got, want)
		}
		if got, want := IsName(s, 63, "_.-"), pool.MatchString(s); got != want {
			t.Errorf("IsName(%q, 63, pool) = %v, want %v", s, got, want)
		}
	}
}
