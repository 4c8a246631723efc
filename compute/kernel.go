package compute

import "math"

// reduceBlock summarises a block of at most a few thousand values (small
// enough to stay in cache across the passes) into a Partial. The fast path
// assumes no NaN, no infinity and no overflow; it detects any of them
// (through the sum or a v·0 probe) and redoes the block on the careful
// path. scratch must be at least as long as a.
func reduceBlock(a []float64, nd needs, scratch []float64) Partial {
	var p Partial
	reduceBlockTo(&p, a, nd, scratch)
	return p
}

// reduceBlockTo is reduceBlock into *p (which it overwrites): per-row
// reductions call it millions of times, and a Partial is worth not copying.
func reduceBlockTo(p *Partial, a []float64, nd needs, scratch []float64) {
	*p = Partial{Count: int64(len(a)), Frac: true}
	if len(a) == 0 {
		return
	}
	probe := 0.0
	if nd.sum || nd.m2 {
		s := pairwiseSum(a)
		probe = s * 0
		p.Sum = s
	}
	if nd.minmax {
		p.Min, p.Max = minMax(a)
		p.HasMM = true
	}
	if !nd.sum && !nd.m2 {
		// No sum to reveal NaN or ±Inf: probe for them (minMax's
		// comparisons skip NaN, so the extremes do not show it).
		probe = nanProbe(a)
	}
	if probe != 0 || math.IsNaN(probe) {
		*p = reduceBlockSlow(a, nd, scratch)
		return
	}
	if nd.m2 { // the mean only serves M2's merges
		p.Mean, p.MeanC, p.M2 = meanM2(a, p.Sum/float64(len(a)))
	}
}

// meanM2 refines a block's mean m0 (its pairwise sum over n) and computes
// M2 by the corrected two-pass algorithm (Björck; Chan, Golub and LeVeque
// 1983, eq. 1.7): with d = v - m0, M2 = Σd² - (Σd)²/n and the mean is
// m0 + Σd/n, kept as the pair (m0, Σd/n). Both sums are pairwise, so M2 is
// within a few ulp of exact for the block.
func meanM2(a []float64, m0 float64) (mean, meanC, m2 float64) {
	sq, c := pairwiseSqDev(a, m0)
	n := float64(len(a))
	if math.IsInf(sq, 0) {
		return m0, 0, math.Inf(1) // deviations beyond float64: the variance overflows
	}
	mean, meanC = twoSum(m0, 0, c/n)
	return mean, meanC, sq - c*c/n
}

// reduceBlockSlow handles blocks holding NaN or ±Inf, or whose sum
// overflows: NaNs are counted and left out, infinities are recorded in Inf
// and left out of the sums, and finite values of huge magnitude are summed
// scaled down (in Big) so that no partial sum overflows.
func reduceBlockSlow(a []float64, nd needs, scratch []float64) Partial {
	vals := scratch[:0]
	var inf uint8
	for _, v := range a {
		switch {
		case v != v:
			continue
		case math.IsInf(v, 1):
			inf |= infPos
		case math.IsInf(v, -1):
			inf |= infNeg
		}
		vals = append(vals, v)
	}
	p := Partial{Count: int64(len(vals)), NaN: int64(len(a) - len(vals)), Inf: inf, Frac: true}
	if len(vals) == 0 {
		return p
	}
	if nd.minmax {
		p.Min, p.Max = minMax(vals)
		p.HasMM = true
	}
	if !nd.sum && !nd.m2 {
		return p
	}
	finite := vals[:0]
	for _, v := range vals {
		if !math.IsInf(v, 0) {
			finite = append(finite, v)
		}
	}
	if len(finite) == 0 {
		return p
	}
	// Huge values last, summed scaled by 2^-bigScale (exactly: they are
	// far from subnormal) and scaled back for M2.
	h := len(finite)
	for i := 0; i < h; {
		if math.Abs(finite[i]) >= bigFrom {
			h--
			finite[i], finite[h] = finite[h], finite[i]
		} else {
			i++
		}
	}
	big := finite[h:]
	p.Sum = pairwiseSum(finite[:h])
	for i := range big {
		big[i] = math.Ldexp(big[i], -bigScale)
	}
	p.Big = pairwiseSum(big)
	for i := range big {
		big[i] = math.Ldexp(big[i], bigScale)
	}
	q := Partial{Count: int64(len(finite)), Sum: p.Sum, Big: p.Big}
	p.Mean = q.mean()
	if nd.m2 && inf == 0 { // with infinities the variance is NaN: no M2
		p.Mean, p.MeanC, p.M2 = meanM2(finite, p.Mean)
	}
	return p
}

// minMax returns the extremes of a (non-empty), four lanes at a time.
// NaN values are skipped by the comparisons (callers detect them apart).
func minMax(a []float64) (lo, hi float64) {
	l0, l1, l2, l3 := a[0], a[0], a[0], a[0]
	h0, h1, h2, h3 := l0, l0, l0, l0
	for len(a) >= 4 {
		v0, v1, v2, v3 := a[0], a[1], a[2], a[3]
		// Branches, not min/max builtins: new extremes get rare
		// quickly, so these are well predicted, and the builtins' NaN
		// and ±0 fix-ups cost more.
		if v0 < l0 {
			l0 = v0
		}
		if v1 < l1 {
			l1 = v1
		}
		if v2 < l2 {
			l2 = v2
		}
		if v3 < l3 {
			l3 = v3
		}
		if v0 > h0 {
			h0 = v0
		}
		if v1 > h1 {
			h1 = v1
		}
		if v2 > h2 {
			h2 = v2
		}
		if v3 > h3 {
			h3 = v3
		}
		a = a[4:]
	}
	for _, v := range a {
		if v < l0 {
			l0 = v
		}
		if v > h0 {
			h0 = v
		}
	}
	return math.Min(math.Min(l0, l1), math.Min(l2, l3)), math.Max(math.Max(h0, h1), math.Max(h2, h3))
}

// nanProbe is Σ v·0: 0 unless a holds NaN or ±Inf.
func nanProbe(a []float64) float64 {
	var p0, p1, p2, p3 float64
	for len(a) >= 4 {
		p0 += a[0] * 0
		p1 += a[1] * 0
		p2 += a[2] * 0
		p3 += a[3] * 0
		a = a[4:]
	}
	for _, v := range a {
		p0 += v * 0
	}
	return (p0 + p1) + (p2 + p3)
}

// intBlock is the exact integer state of a block of integers: their sum and
// extremes. unsigned says the int64s are the bits of uint64 values.
func intBlock(a []int64, unsigned bool) (sum, lo, hi Int128) {
	if len(a) == 0 {
		return
	}
	if unsigned {
		var s Int128
		l, h := uint64(a[0]), uint64(a[0])
		for _, x := range a {
			v := uint64(x)
			s = s.Add(UintOf(v))
			l = min(l, v)
			h = max(h, v)
		}
		return s, UintOf(l), UintOf(h)
	}
	// Two lanes, each carried into 128 bits.
	var s0, s1 Int128
	l, h := a[0], a[0]
	for len(a) >= 2 {
		s0 = s0.addInt64(a[0])
		s1 = s1.addInt64(a[1])
		l = min(l, a[0], a[1])
		h = max(h, a[0], a[1])
		a = a[2:]
	}
	for _, v := range a {
		s0 = s0.addInt64(v)
		l = min(l, v)
		h = max(h, v)
	}
	return s0.Add(s1), IntOf(l), IntOf(h)
}

// setInts makes p the exact state of integers: their sum and extremes.
func (p *Partial) setInts(sum, lo, hi Int128) {
	p.Frac, p.ISum = false, sum
	if p.Count > 0 {
		p.IMin, p.IMax, p.HasMM = lo, hi, true
		p.Min, p.Max = lo.Float64(), hi.Float64()
	}
}
