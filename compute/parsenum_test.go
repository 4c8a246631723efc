package compute

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestParseNumberMatchesStrconv(t *testing.T) {
	inputs := []string{"0", "1", "-1", "+2", "5000000.5", "1e-05", "1E+16", "0.1", "123456789012345",
		"1234567890123456789", "0.000001", ".5", "5.", "-.5e3", "1e22", "1e23", "9007199254740993",
		"nan", "NaN", "inf", "-Inf", "infinity", "0x1p-2", "1e400", "1e-400", "00012", "-0", "3.14159265358979323846"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		f := r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		inputs = append(inputs, strconv.FormatFloat(f, 'g', r.IntN(17)+1, 64), strconv.FormatFloat(f, 'f', r.IntN(10), 64))
	}
	for _, s := range inputs {
		want, err := strconv.ParseFloat(s, 64)
		got, ok := parseNumber([]byte(s))
		if err != nil && err.(*strconv.NumError).Err != strconv.ErrRange {
			if ok {
				t.Errorf("%q: accepted as %v, strconv refuses", s, got)
			}
			continue
		}
		if !ok || (math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want))) {
			t.Errorf("%q: got %v (%v), strconv %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-", "+", ".", "1e", "1e+", "abc", "1.2.3", "1,5", "--1", "1e5x", "e5"} {
		if v, ok := parseNumber([]byte(s)); ok {
			t.Errorf("%q: accepted as %v", s, v)
		}
	}
}
