package compute

import (
	"math"
	"strconv"
	"strings"
)

// FormatFloat writes f as Python's repr (and NumPy's str of a float64)
// does: the shortest decimal that reads back as f, in positional notation
// when the decimal exponent is in [-4, 16), otherwise in scientific notation
// with a signed exponent of at least two digits: 0.5, 5000000.5, 1e-05,
// 1e+16, 1.5e+300, nan, inf, -inf, -0.0.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	neg := strings.HasPrefix(e, "-")
	if neg {
		e = e[1:]
	}
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	digits := strings.Replace(mant, ".", "", 1)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	// decpt: the value is 0.DIGITS × 10^decpt.
	decpt := exp + 1
	switch {
	case decpt <= -4 || decpt > 16:
		b.WriteString(digits[:1])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
	case decpt <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -decpt))
		b.WriteString(digits)
	case decpt >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", decpt-len(digits)))
		b.WriteString(".0")
	default:
		b.WriteString(digits[:decpt])
		b.WriteByte('.')
		b.WriteString(digits[decpt:])
	}
	return b.String()
}

// FormatValue writes a result value: integers (counts; sums, minima and
// maxima of integer input) without a fraction, like NumPy prints them, and
// other values with FormatFloat.
func FormatValue(f float64, integer bool) string {
	if integer && !math.IsNaN(f) && !math.IsInf(f, 0) && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.FormatInt(int64(f), 10)
	}
	return FormatFloat(f)
}
