// Package suggest picks the "did you mean" candidate for a mistyped name (a subcommand, a flag, a policy
// key), so every part of sriovctl answers typos the same way. It does no I/O.
package suggest

import "strings"

// maxDistance is how many single-letter edits a typo may be from the name it suggests: two catches
// swapped, missing and doubled letters (numvf, nmuvfs, vlann) without suggesting unrelated short names.
const maxDistance = 2

// Closest returns the candidate nearest to typed (case-insensitive edit distance at most 2, or a
// candidate that typed is a prefix of, or that differs from typed only in case), or "" when none is close.
// On a tie the earlier candidate wins, so callers control preference by order.
func Closest(typed string, candidates []string) string {
	t := strings.ToLower(typed)
	best, bestD := "", maxDistance+1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := distance(t, lc)
		if len(t) > 0 && strings.HasPrefix(lc, t) && d > 1 {
			d = 1 // "numv" for "numvfs": a prefix is as good as one edit
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Hint formats Closest's answer as a message tail: `; did you mean "x"?`, or "" when there is none.
func Hint(typed string, candidates []string) string {
	if c := Closest(typed, candidates); c != "" && c != typed {
		return "; did you mean \"" + c + "\"?"
	}
	return ""
}

// distance is the Levenshtein distance between a and b, counted in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
