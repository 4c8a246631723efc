package rng

import "math/bits"

// Wy is the wyrand generator (Wang Yi, public domain; the generator the Go
// runtime uses for runtime.rand). One 64×64→128 multiply per output, a
// 2^64 period and no known statistical failures in PractRand or BigCrush.
// The zero value is a valid generator seeded with 0.
type Wy struct{ s uint64 }

// NewWy returns a generator seeded with seed.
func NewWy(seed uint64) Wy { return Wy{s: seed} }

// Uint64 returns the next 64 random bits.
func (w *Wy) Uint64() uint64 {
	w.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(w.s, w.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (w *Wy) Float64() float64 {
	return float64(w.Uint64()>>11) * 0x1p-53
}

// FillUniform fills dst with uniform values in [0, 1).
func (w *Wy) FillUniform(dst []float64) {
	s := w.s
	for i := range dst {
		s += 0xa0761d6478bd642f
		hi, lo := bits.Mul64(s, s^0xe7037ed1a0b428db)
		dst[i] = float64((hi^lo)>>11) * 0x1p-53
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
