package rng

import (
	"math"
	"math/bits"
)

// Ziggurat tables for the standard normal with 256 layers (Marsaglia and
// Tsang, "The Ziggurat Method for Generating Random Variables", J. Stat.
// Softw. 5(8), 2000), computed once at start-up in float64.
const (
	zigR = 3.6541528853610088 // start of the tail
	zigV = 0.00492867323399   // area of each layer
)

var (
	zigK [256]uint64  // acceptance thresholds for the 53-bit magnitude
	zigW [256]float64 // x scale per layer: w[i] * j gives x
	zigF [256]float64 // density at the layer edges
)

func init() {
	const m = 1 << 53
	dn, tn := zigR, zigR
	q := zigV / math.Exp(-0.5*dn*dn)
	zigK[0] = uint64(dn / q * m)
	zigK[1] = 0
	zigW[0] = q / m
	zigW[255] = dn / m
	zigF[0] = 1
	zigF[255] = math.Exp(-0.5 * dn * dn)
	for i := 254; i >= 1; i-- {
		dn = math.Sqrt(-2 * math.Log(zigV/dn+math.Exp(-0.5*dn*dn)))
		zigK[i+1] = uint64(dn / tn * m)
		tn = dn
		zigF[i] = math.Exp(-0.5 * dn * dn)
		zigW[i] = dn / m
	}
}

// Normal returns a standard normal value.
func (w *Wy) Normal() float64 {
	for {
		u := w.Uint64()
		i := u & 0xff
		j := u >> 11 // 53-bit magnitude
		x := float64(j) * zigW[i]
		if j < zigK[i] {
			if u&0x100 != 0 {
				return -x
			}
			return x
		}
		if v, ok := w.normalSlow(i, x); ok {
			if u&0x100 != 0 {
				return -v
			}
			return v
		}
	}
}

// normalSlow handles the base strip's tail and the wedges.
func (w *Wy) normalSlow(i uint64, x float64) (float64, bool) {
	if i == 0 {
		// Tail beyond R (Marsaglia 1964).
		for {
			x := -math.Log(1-w.Float64()) / zigR
			y := -math.Log(1 - w.Float64())
			if y+y >= x*x {
				return x + zigR, true
			}
		}
	}
	if zigF[i]+w.Float64()*(zigF[i-1]-zigF[i]) < math.Exp(-0.5*x*x) {
		return x, true
	}
	return 0, false
}

// FillNormal fills dst with standard normal values: the same values as
// successive Normal calls, with the common case (about 99% of draws)
// inlined.
func (w *Wy) FillNormal(dst []float64) {
	s := w.s
	for i := 0; i < len(dst); {
		s += wyInc
		h, l := bits.Mul64(s, s^wyMix)
		u := h ^ l
		k := u & 0xff
		j := u >> 11
		x := float64(int64(j)) * zigW[k]
		if j >= zigK[k] {
			w.s = s
			v, ok := w.normalSlow(k, x)
			s = w.s
			if !ok {
				continue
			}
			x = v
		}
		// The sign from bit 8, without a (50% mispredicted) branch.
		dst[i] = math.Float64frombits(math.Float64bits(x) ^ (u&0x100)<<55)
		i++
	}
	w.s = s
}
