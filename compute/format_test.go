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

func TestValueText(t *testing.T) {
	big, _ := parseInt128("-170141183460469231731687303715884105728")
	cases := []struct {
		v    Value
		want string
	}{
		{intValue(IntOf(4950)), "4950"}, {floatValue(4950), "4950.0"}, {floatValue(math.NaN()), "nan"},
		{intValue(UintOf(1<<64 - 1)), "18446744073709551615"}, {intValue(big), "-170141183460469231731687303715884105728"},
		{intValue(IntOf(-1 << 63)), "-9223372036854775808"},
	}
	for _, c := range cases {
		if got := c.v.String(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.v, got, c.want)
		}
	}
}
