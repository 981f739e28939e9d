package main

import "strings"

// semverCompare compares unprefixed semantic versions (1.2.3, 1.2.3-rc.1+meta) the way
// golang.org/x/mod/semver.Compare compares them with a "v" prefix, which indexdb uses: an invalid version
// (including "") is lower than every valid one and equal to every invalid one; "1" and "1.2" mean 1.0.0
// and 1.2.0; build metadata is ignored.
func semverCompare(a, b string) int {
	pa, oka := parseSemver(a)
	pb, okb := parseSemver(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return -1
	case !okb:
		return 1
	}
	for i := range 3 {
		if c := compareNum(pa.nums[i], pb.nums[i]); c != 0 {
			return c
		}
	}
	return comparePrerelease(pa.pre, pb.pre)
}

type semver struct {
	nums [3]string // major, minor, patch: decimal without leading zeros
	pre  string    // without the leading "-"
}

func parseSemver(v string) (semver, bool) {
	s := semver{nums: [3]string{"0", "0", "0"}}
	rest := v
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		if !validIdents(rest[i+1:], false) {
			return s, false
		}
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		s.pre = rest[i+1:]
		if !validIdents(s.pre, true) {
			return s, false
		}
		rest = rest[:i]
	}
	parts := strings.Split(rest, ".")
	// x/mod/semver accepts the shorthands v1 and v1.2 only without prerelease or build suffixes.
	if len(parts) > 3 || (len(parts) < 3 && rest != v) {
		return s, false
	}
	for i, p := range parts {
		if !isNum(p) {
			return s, false
		}
		s.nums[i] = p
	}
	return s, true
}

// isNum: "0" or digits without a leading zero.
func isNum(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated identifiers of [0-9A-Za-z-]; numeric prerelease identifiers may not
// have leading zeros.
func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := range len(id) {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if pre && digits && !isNum(id) {
			return false
		}
	}
	return true
}

func compareNum(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// comparePrerelease orders by semver 2.0.0 rule 11: no prerelease is higher than any; numeric identifiers
// are lower than alphanumeric ones; a shorter list that is a prefix of a longer one is lower.
func comparePrerelease(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	ia, ib := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(ia) && i < len(ib); i++ {
		x, y := ia[i], ib[i]
		nx, ny := isNum(x), isNum(y)
		var c int
		switch {
		case nx && ny:
			c = compareNum(x, y)
		case nx:
			c = -1
		case ny:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case len(ia) < len(ib):
		return -1
	case len(ia) > len(ib):
		return 1
	}
	return 0
}
