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

// TestShapes checks IsPCIAddress, IsShortPCIAddress, IsHex and IsDecimal against the regexps they replace.
func TestShapes(t *testing.T) {
	full := regexp.MustCompile(`^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]$`)
	short := regexp.MustCompile(`^[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]$`)
	hex4 := regexp.MustCompile(`^[0-9a-fA-F]{4}$`)
	decimal := regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	index := regexp.MustCompile(`^(0|[1-9][0-9]{0,4})$`)
	for _, s := range []string{
		"", "0000:01:00.0", "0000:01:10.6", "0000:AF:1f.7", "0000:01:20.0", "0000:01:00.8", "0000:01:00.", "0000:01:00.00",
		"000:01:00.0", "00000:01:00.0", "0000-01:00.0", "0000:01-00.0", "0000:01:00-0", "g000:01:00.0", "0000:0g:00.0",
		"01:00.0", "af:1F.7", "01:20.0", "01:00.8", "1:00.0", "01:0.0", " 01:00.0", "01:00.0 ", "0000:01:00.0\n",
		"8086", "10C9", "10c", "10c90", "xyz1", "0", "00", "01", "-0", "-1", "-01", "+1", "1-", "12345", "123456",
		"99999", "100000", "4094", "-4094", "1.5", "1e3", "--1", "-", "0x10", "١", "\x10\x11\x12\x13", "0000:01:\x10\x10.0",
	} {
		if got, want := IsPCIAddress(s), full.MatchString(s); got != want {
			t.Errorf("IsPCIAddress(%q) = %v, want %v", s, got, want)
		}
		if got, want := IsShortPCIAddress(s), short.MatchString(s); got != want {
			t.Errorf("IsShortPCIAddress(%q) = %v, want %v", s, got, want)
		}
		if got, want := len(s) == 4 && IsHex(s), hex4.MatchString(s); got != want {
			t.Errorf("IsHex(%q) (4 digits) = %v, want %v", s, got, want)
		}
		if got, want := IsDecimal(s, 0, true), decimal.MatchString(s); got != want {
			t.Errorf("IsDecimal(%q, 0, signed) = %v, want %v", s, got, want)
		}
		if got, want := IsDecimal(s, 5, false), index.MatchString(s); got != want {
			t.Errorf("IsDecimal(%q, 5, unsigned) = %v, want %v", s, got, want)
		}
	}
}
