// Package suggest finds the known names a mistyped one was probably meant
// to be, for "did you mean …?" hints about configuration keys, environment
// variables, commands and flags.
package suggest

import "strings"

// Nearest returns the candidate closest to name by Distance (case
// ignored), if it is within maxDist; ties go to the earlier candidate. It
// returns "" when nothing is that close, or when name is itself a
// candidate.
func Nearest(name string, candidates []string, maxDist int) string {
	if s := Closest(name, candidates, maxDist); len(s) > 0 {
		return s[0]
	}
	return ""
}

// Closest returns every candidate at the smallest distance from name, if
// that is within maxDist, in the candidates' order; failing that, the
// candidates that name begins (so "s" finds serve, send and sub). It
// returns nothing when name is itself a candidate.
func Closest(name string, candidates []string, maxDist int) []string {
	lname := strings.ToLower(name)
	var best []string
	bestD := maxDist + 1
	for _, c := range candidates {
		switch d := Distance(lname, strings.ToLower(c)); {
		case d == 0:
			return nil
		case d > maxDist:
		case d < bestD:
			best, bestD = []string{c}, d
		case d == bestD:
			best = append(best, c)
		}
	}
	if len(best) > 0 || lname == "" {
		return best
	}
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), lname) {
			best = append(best, c)
		}
	}
	return best
}

// Distance is the number of single-byte edits — insertion, deletion,
// substitution, or swapping two adjacent bytes — that turn a into b (the
// optimal string alignment distance: a swap is the commonest typo).
func Distance(a, b string) int {
	// Three rows of the dynamic-programming table: i-2, i-1 and i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
