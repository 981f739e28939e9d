package sriov

import "strings"

// IsName reports whether s is 1 to max bytes long, starts with an ASCII letter or digit, and otherwise
// holds only ASCII letters, digits and the bytes listed in extra. Names of pools, mirror groups and
// owners are checked with it on every command; it is written out rather than a regexp because a bounded
// repetition such as {0,127} compiles to that many copies of its class, about a millisecond of each
// process's start.
func IsName(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// IsPCIAddress reports whether s is a PCI address DDDD:BB:DD.F in hex digits of either case (device
// 00-1f, function 0-7), and IsShortPCIAddress whether s is one without its domain (BB:DD.F). They are
// written out rather than regexps for the reason IsName is: every command that names a PF checks one.
func IsPCIAddress(s string) bool {
	return len(s) == 12 && IsHex(s[:4]) && s[4] == ':' && IsShortPCIAddress(s[5:])
}

// IsShortPCIAddress: see IsPCIAddress.
func IsShortPCIAddress(s string) bool {
	return len(s) == 7 && IsHex(s[:2]) && s[2] == ':' && (s[3] == '0' || s[3] == '1') && IsHex(s[4:5]) &&
		s[5] == '.' && s[6] >= '0' && s[6] <= '7'
}

// IsHex reports whether s is one or more hex digits of either case.
func IsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return len(s) > 0
}

// IsDecimal reports whether s is a decimal integer as written in YAML and on command lines without a
// sign or leading zeros (0, 7, 4094), with a leading '-' when signed, and at most maxDigits digits
// (0: any number).
func IsDecimal(s string, maxDigits int, signed bool) bool {
	if signed && len(s) > 1 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || (maxDigits > 0 && len(s) > maxDigits) || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
