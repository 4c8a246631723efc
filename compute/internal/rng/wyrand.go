package rng

import "math/bits"

// Wy is the wyrand generator (Wang Yi, public domain; the generator the Go
// runtime uses for runtime.rand). One 64×64→128 multiply per output, a
// 2^64 period and no known statistical failures in PractRand or BigCrush.
// The zero value is a valid generator seeded with 0.
type Wy struct{ s uint64 }

// wyrand's constants: the state increment, and the mask the state is
// multiplied with.
const (
	wyInc = 0xa0761d6478bd642f
	wyMix = 0xe7037ed1a0b428db
)

// The increments of 2, 3 and 4 steps, for the four-way unrolled loops.
const wyInc2, wyInc3, wyInc4 = (2 * wyInc) % (1 << 64), (3 * wyInc) % (1 << 64), (4 * wyInc) % (1 << 64)

// NewWy returns a generator seeded with seed.
func NewWy(seed uint64) Wy { return Wy{s: seed} }

// Uint64 returns the next 64 random bits.
func (w *Wy) Uint64() uint64 {
	w.s += wyInc
	hi, lo := bits.Mul64(w.s, w.s^wyMix)
	return hi ^ lo
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (w *Wy) Float64() float64 {
	return float64(int64(w.Uint64()>>11)) * 0x1p-53
}

// FillUniform fills dst with uniform values in [0, 1): the same values
// as successive Float64 calls, four at a time (the outputs only depend on
// the state through s+k·increment, so they pipeline).
func (w *Wy) FillUniform(dst []float64) {
	s := w.s
	for len(dst) >= 4 {
		s0, s1, s2, s3 := s+wyInc, s+wyInc2, s+wyInc3, s+wyInc4
		h0, l0 := bits.Mul64(s0, s0^wyMix)
		h1, l1 := bits.Mul64(s1, s1^wyMix)
		h2, l2 := bits.Mul64(s2, s2^wyMix)
		h3, l3 := bits.Mul64(s3, s3^wyMix)
		dst[0] = float64(int64((h0^l0)>>11)) * 0x1p-53
		dst[1] = float64(int64((h1^l1)>>11)) * 0x1p-53
		dst[2] = float64(int64((h2^l2)>>11)) * 0x1p-53
		dst[3] = float64(int64((h3^l3)>>11)) * 0x1p-53
		s = s3
		dst = dst[4:]
	}
	for i := range dst {
		s += wyInc
		hi, lo := bits.Mul64(s, s^wyMix)
		dst[i] = float64(int64((hi^lo)>>11)) * 0x1p-53
	}
	w.s = s
}

// Mix64 is SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection
// that spreads every input bit over the output. It derives independent
// per-chunk seeds from (seed, chunk index).
func Mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// SumUniform53 advances the generator by n outputs, as FillUniform of n
// values would, and returns the exact sum of their 53-bit integers
// (value = integer × 2^-53) as a 128-bit number hi·2^64 + lo. A mean or a
// sum of uniform values then needs no float additions at all, and is exact.
func (w *Wy) SumUniform53(n int) (hi, lo uint64) {
	s := w.s
	for n > 0 {
		// Up to 2^10 values of < 2^53 per accumulator cannot overflow 2^64.
		m := min(n, 4<<10)
		n -= m
		var a0, a1, a2, a3 uint64
		for ; m >= 4; m -= 4 {
			s0, s1, s2, s3 := s+wyInc, s+wyInc2, s+wyInc3, s+wyInc4
			h0, l0 := bits.Mul64(s0, s0^wyMix)
			h1, l1 := bits.Mul64(s1, s1^wyMix)
			h2, l2 := bits.Mul64(s2, s2^wyMix)
			h3, l3 := bits.Mul64(s3, s3^wyMix)
			a0 += (h0 ^ l0) >> 11
			a1 += (h1 ^ l1) >> 11
			a2 += (h2 ^ l2) >> 11
			a3 += (h3 ^ l3) >> 11
			s = s3
		}
		for ; m > 0; m-- {
			s += wyInc
			h, l := bits.Mul64(s, s^wyMix)
			a0 += (h ^ l) >> 11
		}
		var c uint64
		for _, a := range [4]uint64{a0, a1, a2, a3} {
			lo, c = bits.Add64(lo, a, 0)
			hi += c
		}
	}
	w.s = s
	return hi, lo
}
