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
