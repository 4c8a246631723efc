package compute

import "math"

// npBlock is NumPy's reduction buffer size (NPY_BUFSIZE): a full reduction
// of a contiguous float64 array sums each 8192-value buffer pairwise and adds
// the buffer sums one after another.
const npBlock = 8192

// pairwiseSum is NumPy's pairwise_sum (numpy/core/src/umath/loops_utils.h.src,
// NumPy 1.24) for contiguous float64: below 8 values a plain loop, up to 128
// values eight accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))
// plus the leftovers one by one, above that a split at n/2 rounded down to a
// multiple of 8. The error grows as O(log n) instead of O(n), and the result
// is bit-identical to NumPy's.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		r0, r1, r2, r3 := a[0], a[1], a[2], a[3]
		r4, r5, r6, r7 := a[4], a[5], a[6], a[7]
		b := a[8 : n-n%8]
		for len(b) >= 8 {
			r0 += b[0]
			r1 += b[1]
			r2 += b[2]
			r3 += b[3]
			r4 += b[4]
			r5 += b[5]
			r6 += b[6]
			r7 += b[7]
			b = b[8:]
		}
		res := ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
		for _, v := range a[n-n%8:] {
			res += v
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}

// npSum is NumPy 1.24's np.sum of a contiguous float64 array: starting from
// the identity 0, each 8192-value buffer's pairwise sum is added in order.
func npSum(a []float64) float64 {
	s := 0.0
	for len(a) > npBlock {
		s += pairwiseSum(a[:npBlock])
		a = a[npBlock:]
	}
	return s + pairwiseSum(a)
}

// twoSum adds b to the compensated sum (s, c) with Neumaier's variant of
// Kahan summation: s+c carries about twice float64's precision.
func twoSum(s, c, b float64) (float64, float64) {
	t := s + b
	if math.Abs(s) >= math.Abs(b) {
		c += (s - t) + b
	} else {
		c += (b - t) + s
	}
	return t, c
}

// pairwiseSqDev is Σ(v-m)² and Σ(v-m) over a, summed pairwise: runs of up
// to 128 values in four lanes, halves above, so that their errors grow as
// O(log n).
func pairwiseSqDev(a []float64, m float64) (sq, dev float64) {
	n := len(a)
	if n > 128 {
		n2 := n / 2
		n2 -= n2 % 8
		s1, d1 := pairwiseSqDev(a[:n2], m)
		s2, d2 := pairwiseSqDev(a[n2:], m)
		return s1 + s2, d1 + d2
	}
	var s0, s1, s2, s3, c0, c1, c2, c3 float64
	b := a[:n-n%4]
	for len(b) >= 4 {
		d0, d1, d2, d3 := b[0]-m, b[1]-m, b[2]-m, b[3]-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
		c0 += d0
		c1 += d1
		c2 += d2
		c3 += d3
		b = b[4:]
	}
	sq, dev = (s0+s1)+(s2+s3), (c0+c1)+(c2+c3)
	for _, v := range a[n-n%4:] {
		d := v - m
		sq += d * d
		dev += d
	}
	return sq, dev
}

// twoDiff is a-b as an exact unevaluated sum hi+lo (Knuth's TwoSum).
func twoDiff(a, b float64) (hi, lo float64) {
	s := a - b
	bb := s - a
	return s, (a - (s - bb)) - (b + bb)
}

// fastTwoSum is a+b as an exact unevaluated sum, for |a| ≥ |b| (Dekker).
func fastTwoSum(a, b float64) (hi, lo float64) {
	s := a + b
	return s, b - (s - a)
}

// ddAdd adds b to the double-double (hi, lo) and renormalises.
func ddAdd(hi, lo, b float64) (float64, float64) {
	s, e := twoSum(hi, 0, b)
	return fastTwoSum(s, e+lo)
}
