package rng

import "math"

// MT19937 is the Mersenne Twister (Matsumoto and Nishimura, 1998) exactly as
// NumPy's legacy RandomState runs it: Seed is init_genrand, SeedFromKeys is
// init_by_array, Float64 is random_sample's 53-bit double and Gauss is
// legacy_gauss (the polar method with one cached value). It regenerates its
// 624-word state in one pass, like the reference code, so its outputs
// inline into fill loops.
type MT19937 struct {
	mt       [624]uint32
	i        int
	hasGauss bool
	gauss    float64
}

const (
	mtN     = 624
	mtM     = 397
	mtUpper = 0x80000000
	mtLower = 0x7fffffff
	mtA     = 0x9908b0df
)

// Seed initialises the state from one 32-bit seed (init_genrand).
func (m *MT19937) Seed(s uint32) {
	m.mt[0] = s
	for i := 1; i < mtN; i++ {
		m.mt[i] = 1812433253*(m.mt[i-1]^(m.mt[i-1]>>30)) + uint32(i)
	}
	m.i = mtN
	m.hasGauss, m.gauss = false, 0
}

// SeedFromKeys initialises the state from a key array (init_by_array).
func (m *MT19937) SeedFromKeys(keys []uint32) {
	m.Seed(19650218)
	i, j := 1, 0
	k := max(mtN, len(keys))
	for ; k > 0; k-- {
		m.mt[i] = (m.mt[i] ^ ((m.mt[i-1] ^ (m.mt[i-1] >> 30)) * 1664525)) + keys[j] + uint32(j)
		i++
		j++
		if i >= mtN {
			m.mt[0] = m.mt[mtN-1]
			i = 1
		}
		if j >= len(keys) {
			j = 0
		}
	}
	for k = mtN - 1; k > 0; k-- {
		m.mt[i] = (m.mt[i] ^ ((m.mt[i-1] ^ (m.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= mtN {
			m.mt[0] = m.mt[mtN-1]
			i = 1
		}
	}
	m.mt[0] = 0x80000000
	m.i = mtN
	m.hasGauss, m.gauss = false, 0
}

// generate refills the 624-word state.
func (m *MT19937) generate() {
	mt := &m.mt
	var k int
	for k = 0; k < mtN-mtM; k++ {
		y := (mt[k] & mtUpper) | (mt[k+1] & mtLower)
		mt[k] = mt[k+mtM] ^ (y >> 1) ^ (-(y & 1) & mtA)
	}
	for ; k < mtN-1; k++ {
		y := (mt[k] & mtUpper) | (mt[k+1] & mtLower)
		mt[k] = mt[k+(mtM-mtN)] ^ (y >> 1) ^ (-(y & 1) & mtA)
	}
	y := (mt[mtN-1] & mtUpper) | (mt[0] & mtLower)
	mt[mtN-1] = mt[mtM-1] ^ (y >> 1) ^ (-(y & 1) & mtA)
	m.i = 0
}

// Uint32 returns the next tempered 32-bit output.
func (m *MT19937) Uint32() uint32 {
	if m.i >= mtN {
		m.generate()
	}
	y := m.mt[m.i]
	m.i++
	return temper(y)
}

func temper(y uint32) uint32 {
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	return y ^ (y >> 18)
}

// Float64 returns NumPy's random_sample double: 27 + 26 bits of two outputs.
func (m *MT19937) Float64() float64 {
	a := m.Uint32() >> 5
	b := m.Uint32() >> 6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// FillUniform fills dst with Float64 values, in order, straight from the
// state array (the same bits as successive Float64 calls: dividing by 2^53
// and multiplying by 2^-53 are the same exact operation).
func (m *MT19937) FillUniform(dst []float64) {
	for len(dst) > 0 {
		if m.i >= mtN {
			m.generate()
		}
		pairs := (mtN - m.i) / 2
		if pairs == 0 { // one word left: the pair straddles a refill
			dst[0] = m.Float64()
			dst = dst[1:]
			continue
		}
		n := min(pairs, len(dst))
		words := m.mt[m.i : m.i+2*n]
		out := dst[:n]
		for j := range out {
			if len(words) < 2 {
				break
			}
			a := temper(words[0]) >> 5
			b := temper(words[1]) >> 6
			words = words[2:]
			out[j] = float64(int64(a)<<26|int64(b)) * 0x1p-53
		}
		m.i += 2 * n
		dst = dst[n:]
	}
}

// Gauss returns NumPy's legacy_gauss standard normal: the polar method,
// returning f*x2 and caching f*x1 for the next call.
func (m *MT19937) Gauss() float64 {
	if m.hasGauss {
		m.hasGauss = false
		g := m.gauss
		m.gauss = 0
		return g
	}
	var x1, x2, r2 float64
	for {
		x1 = 2*m.Float64() - 1
		x2 = 2*m.Float64() - 1
		r2 = x1*x1 + x2*x2
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	m.gauss = f * x1
	m.hasGauss = true
	return f * x2
}

// FillGauss fills dst with Gauss values, in order.
func (m *MT19937) FillGauss(dst []float64) {
	for i := range dst {
		dst[i] = m.Gauss()
	}
}
