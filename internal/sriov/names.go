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
