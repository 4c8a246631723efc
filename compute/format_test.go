package compute

import (
	"math"
	"testing"
)

func TestFormatFloatLikePythonRepr(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{0.5, "0.5"}, {5000000.5, "5000000.5"}, {1e-05, "1e-05"}, {1e16, "1e+16"},
		{1e15, "1000000000000000.0"}, {0.0001, "0.0001"}, {1.5e-7, "1.5e-07"},
		{123456789012345680, "1.2345678901234568e+17"}, {1.5e300, "1.5e+300"},
		{math.NaN(), "nan"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"},
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {-2.5, "-2.5"}, {100, "100.0"},
		{0.30000000000000004, "0.30000000000000004"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{9999999999999998, "9999999999999998.0"}, {0.49999999999999994, "0.49999999999999994"},
	}
	for _, c := range cases {
		if got := FormatFloat(c.f); got != c.want {
			t.Errorf("FormatFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestFormatValueIntegers(t *testing.T) {
	if got := FormatValue(4950, true); got != "4950" {
		t.Errorf("got %q", got)
	}
	if got := FormatValue(4950, false); got != "4950.0" {
		t.Errorf("got %q", got)
	}
	if got := FormatValue(math.NaN(), true); got != "nan" {
		t.Errorf("got %q", got)
	}
}
