package compute

import (
	"math"
	"math/bits"
	"strconv"
	"unsafe"
)

var nan = math.NaN()

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber reads a decimal number the way strconv.ParseFloat does
// (correctly rounded), with a fast path for the common case: at most 15
// significant digits and a small decimal exponent, where the value is an
// exact integer times or divided by an exact power of ten and one IEEE
// operation rounds it correctly (Clinger, "How to Read Floating Point
// Numbers Accurately", 1990). Everything else (nan, inf, hex, long
// mantissas) goes to strconv.
func parseNumber(b []byte) (float64, bool) {
	i, n := 0, len(b)
	if n == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	start := i
	for ; i < n && b[i]-'0' < 10; i++ {
		if digits > 0 || b[i] != '0' {
			digits++
		}
		mant = mant*10 + uint64(b[i]-'0')
	}
	intEnd := i
	if i < n && b[i] == '.' {
		i++
		for ; i < n && b[i]-'0' < 10; i++ {
			if digits > 0 || b[i] != '0' {
				digits++
			}
			mant = mant*10 + uint64(b[i]-'0')
			frac++
		}
	}
	if i == start || (i == start+1 && intEnd == start) { // no digits at all
		return slowParse(b)
	}
	exp := 0
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < n && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		for ; i < n && b[i]-'0' < 10 && exp < 10000; i++ {
			exp = exp*10 + int(b[i]-'0')
		}
		if i == es {
			return 0, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != n || digits > 15 {
		return slowParse(b)
	}
	e := exp - frac
	f := float64(mant)
	switch {
	case e == 0:
	case e > 0 && e <= 22:
		f *= pow10[e]
	case e < 0 && e >= -22:
		f /= pow10[-e]
	default:
		return slowParse(b)
	}
	if neg {
		f = -f
	}
	return f, true
}

func slowParse(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true // ±Inf or 0 for out-of-range values, as NumPy reads them
		}
		return 0, false
	}
	return f, true
}

// parseIntToken reads a decimal integer literal (an optional sign and up to
// 20 digits) whose value is in [-2^63, 2^64-1]: the integers whose sums
// Int128 holds exactly.
func parseIntToken(b []byte) (Int128, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg, i = b[0] == '-', 1
	}
	if i == len(b) || len(b)-i > 20 {
		return Int128{}, false
	}
	var u uint64
	for ; i < len(b); i++ {
		d := b[i] - '0'
		if d >= 10 {
			return Int128{}, false
		}
		hi, lo := bits.Mul64(u, 10)
		lo, c := bits.Add64(lo, uint64(d), 0)
		if hi != 0 || c != 0 {
			return Int128{}, false
		}
		u = lo
	}
	if !neg {
		return UintOf(u), true
	}
	if u > 1<<63 {
		return Int128{}, false
	}
	return IntOf(-int64(u)), true
}
