package compute

import "math"

// reduceBlock summarises a block of at most a few thousand values (small
// enough to stay in cache across the passes) into a Partial. The fast path
// assumes no NaN and no infinity; it detects either (through the sum or a
// v·0 probe) and redoes the block on the careful path. scratch must be at
// least as long as a.
func reduceBlock(a []float64, nd needs, scratch []float64) Partial {
	if len(a) == 0 {
		return Partial{}
	}
	p := Partial{Count: int64(len(a))}
	probe := 0.0
	if nd.sum || nd.m2 {
		s := pairwiseSum(a)
		probe = s * 0
		p.Sum = s
		p.Mean = s / float64(len(a))
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
		return reduceBlockSlow(a, nd, scratch)
	}
	if nd.m2 {
		p.M2 = sumSquaredDev(a, p.Mean)
	}
	return p
}

// reduceBlockSlow handles blocks holding NaN or ±Inf: NaNs are counted and
// left out, the rest goes through the fast path.
func reduceBlockSlow(a []float64, nd needs, scratch []float64) Partial {
	k := 0
	for _, v := range a {
		if v == v {
			scratch[k] = v
			k++
		}
	}
	nan := int64(len(a) - k)
	b := scratch[:k]
	p := Partial{Count: int64(k), NaN: nan}
	if k == 0 {
		return p
	}
	if nd.sum || nd.m2 {
		p.Sum = pairwiseSum(b)
		p.Mean = p.Sum / float64(k)
	}
	if nd.minmax {
		p.Min, p.Max = minMax(b)
		p.HasMM = true
	}
	if nd.m2 {
		if math.IsInf(p.Sum, 0) || math.IsNaN(p.Sum) {
			p.M2 = math.NaN()
		} else {
			p.M2 = sumSquaredDev(b, p.Mean)
		}
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

// sumSquaredDev is the corrected two-pass M2 of a around its mean m:
// Σ(v-m)² - (Σ(v-m))²/n (Björck; Chan, Golub and LeVeque 1983, eq. 1.7),
// where the correction removes most of the rounding error of m.
func sumSquaredDev(a []float64, m float64) float64 {
	var s0, s1, s2, s3, c0, c1 float64
	n := float64(len(a))
	for len(a) >= 4 {
		d0, d1, d2, d3 := a[0]-m, a[1]-m, a[2]-m, a[3]-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
		c0 += d0 + d2
		c1 += d1 + d3
		a = a[4:]
	}
	for _, v := range a {
		d := v - m
		s0 += d * d
		c0 += d
	}
	c := c0 + c1
	return (s0 + s1) + (s2 + s3) - c*c/n
}
