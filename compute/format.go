package compute

import (
	"math"
	"strconv"
)

// Value is one element of a result: a float64, or an exact integer (sums,
// minima and maxima of integer input, counts) when IsInt is set, with Float
// its nearest float64.
type Value struct {
	Float float64
	Int   Int128
	IsInt bool
}

func floatValue(f float64) Value { return Value{Float: f} }
func intValue(i Int128) Value    { return Value{Float: i.Float64(), Int: i, IsInt: true} }

// AppendText appends v as dsys prints it: an integer in decimal, a float as
// FormatFloat writes it.
func (v Value) AppendText(b []byte) []byte {
	if v.IsInt {
		return v.Int.AppendText(b)
	}
	return AppendFloat(b, v.Float)
}

func (v Value) String() string { return string(v.AppendText(nil)) }

// FormatFloat writes f as Python's repr (and NumPy's str of a float64)
// does: the shortest decimal that reads back as f, in positional notation
// when the decimal exponent is in [-4, 16), otherwise in scientific notation
// with a signed exponent of at least two digits: 0.5, 5000000.5, 1e-05,
// 1e+16, 1.5e+300, nan, inf, -inf, -0.0.
func FormatFloat(f float64) string { return string(AppendFloat(nil, f)) }

// AppendFloat appends FormatFloat(f) to b.
func AppendFloat(b []byte, f float64) []byte {
	switch a := math.Abs(f); {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case a == 0 || (a >= 1e-4 && a < 1e16):
		// The shortest digits that identify f are the shortest digits of
		// its decimal exponent's range, so the bounds on |f| are the
		// bounds on the exponent (1e-4 and 1e16 being float64s).
		n := len(b)
		b = strconv.AppendFloat(b, f, 'f', -1, 64)
		for _, c := range b[n:] {
			if c == '.' {
				return b
			}
		}
		return append(b, ".0"...)
	}
	return strconv.AppendFloat(b, f, 'e', -1, 64) // 1e+16, 1.5e-07: Python's form
}
