package compute

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// Int128 is a signed 128-bit integer in two's complement, Hi·2^64 + Lo. It
// holds the exact sum of any number (below 2^63) of int64 or uint64 values:
// |sum| < 2^63·2^64 = 2^127.
type Int128 struct {
	Hi int64
	Lo uint64
}

// IntOf is v as an Int128.
func IntOf(v int64) Int128 { return Int128{Hi: v >> 63, Lo: uint64(v)} }

// UintOf is v as an Int128.
func UintOf(v uint64) Int128 { return Int128{Lo: v} }

// Add returns a+b (exact for the sums Int128 is meant for).
func (a Int128) Add(b Int128) Int128 {
	lo, c := bits.Add64(a.Lo, b.Lo, 0)
	return Int128{Hi: a.Hi + b.Hi + int64(c), Lo: lo}
}

// addInt64 returns a+v.
func (a Int128) addInt64(v int64) Int128 {
	lo, c := bits.Add64(a.Lo, uint64(v), 0)
	return Int128{Hi: a.Hi + v>>63 + int64(c), Lo: lo}
}

// Cmp returns -1, 0 or +1 as a is less than, equal to or greater than b.
func (a Int128) Cmp(b Int128) int {
	switch {
	case a.Hi < b.Hi:
		return -1
	case a.Hi > b.Hi:
		return 1
	case a.Lo < b.Lo:
		return -1
	case a.Lo > b.Lo:
		return 1
	}
	return 0
}

// isInt64 reports whether a fits in an int64.
func (a Int128) isInt64() bool { return a.Hi == int64(a.Lo)>>63 }

// fitsUint64 reports whether a fits in a uint64.
func (a Int128) fitsUint64() bool { return a.Hi == 0 }

// Big is a as a big.Int.
func (a Int128) Big() *big.Int {
	if a.isInt64() {
		return big.NewInt(int64(a.Lo))
	}
	neg := a.Hi < 0
	m := a
	if neg { // two's complement negation
		lo, c := bits.Add64(^m.Lo, 1, 0)
		m = Int128{Hi: ^m.Hi + int64(c), Lo: lo}
	}
	v := new(big.Int).SetUint64(uint64(m.Hi))
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(m.Lo))
	if neg {
		v.Neg(v)
	}
	return v
}

// Float64 is a rounded to the nearest float64 (ties to even).
func (a Int128) Float64() float64 {
	if a.isInt64() {
		return float64(int64(a.Lo)) // Go converts with correct rounding
	}
	if a.fitsUint64() {
		return float64(a.Lo)
	}
	f, _ := new(big.Float).SetPrec(53).SetInt(a.Big()).Float64()
	return f
}

// ratio is a/n rounded to the nearest float64, correctly: one IEEE division
// when both are exact in float64, exact rational arithmetic otherwise.
func (a Int128) ratio(n int64) float64 {
	const exact = 1 << 53
	if a.isInt64() && int64(a.Lo) > -exact && int64(a.Lo) < exact && n < exact {
		return float64(int64(a.Lo)) / float64(n)
	}
	f, _ := new(big.Rat).SetFrac(a.Big(), big.NewInt(n)).Float64()
	return f
}

// AppendText appends a in decimal.
func (a Int128) AppendText(b []byte) []byte {
	if a.isInt64() {
		return strconv.AppendInt(b, int64(a.Lo), 10)
	}
	if a.fitsUint64() {
		return strconv.AppendUint(b, a.Lo, 10)
	}
	return a.Big().Append(b, 10)
}

func (a Int128) String() string { return string(a.AppendText(nil)) }

// parseInt128 reads a decimal integer that fits in an Int128.
func parseInt128(s string) (Int128, bool) {
	v, ok := new(big.Int).SetString(s, 10)
	lim := new(big.Int).Lsh(big.NewInt(1), 127)
	if !ok || v.Cmp(lim) >= 0 || v.Cmp(new(big.Int).Neg(lim)) < 0 {
		return Int128{}, false
	}
	neg := v.Sign() < 0
	m := new(big.Int).Abs(v)
	lo := new(big.Int).And(m, new(big.Int).SetUint64(math.MaxUint64)).Uint64()
	hi := new(big.Int).Rsh(m, 64).Uint64()
	r := Int128{Hi: int64(hi), Lo: lo}
	if neg {
		l, c := bits.Add64(^r.Lo, 1, 0)
		r = Int128{Hi: ^r.Hi + int64(c), Lo: l}
	}
	return r, true
}
