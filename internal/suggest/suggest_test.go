package suggest

import (
	"reflect"
	"testing"
)

func TestDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"submit", "submit", 0},
		{"sumbit", "submit", 1}, // a swap of neighbours is one edit
		{"maen", "mean", 1},
		{"wokers", "workers", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment: no edit of a swapped pair
	}
	for _, c := range cases {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetry)", c.b, c.a, got, c.want)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"worker", "submit", "inspect", "purge"}
	cases := []struct {
		name, want string
		max        int
	}{
		{"sumbit", "submit", 2},
		{"SUBMT", "submit", 2},  // case is ignored
		{"wroker", "worker", 2}, // the nearest wins
		{"xyz", "", 2},          // nothing near
		{"sbumt", "", 1},        // too far
		{"submit", "", 2},       // an exact name needs no suggestion
		{"inspectt", "inspect", 3},
	}
	for _, c := range cases {
		if got := Nearest(c.name, names, c.max); got != c.want {
			t.Errorf("Nearest(%q, max %d) = %q, want %q", c.name, c.max, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	ops := []string{"mean", "sum", "min", "max", "var", "std", "count", "stats"}
	cases := []struct {
		name string
		want []string
	}{
		{"maen", []string{"mean"}},      // one swap beats min and max, two edits away
		{"mix", []string{"min", "max"}}, // ties are all shown
		{"st", []string{"std"}},         // one edit, where sum is two
		{"stat", []string{"stats"}},     // one edit, where std is two
		{"co", []string{"count"}},       // too far to edit: a prefix
		{"zzzz", nil},
		{"mean", nil},
	}
	for _, c := range cases {
		if got := Closest(c.name, ops, 2); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Closest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
