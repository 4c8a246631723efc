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
		var pr float64
		p.Min, p.Max, pr = minMax(a)
		p.HasMM = true
		probe += pr
	}
	if !nd.sum && !nd.m2 && !nd.minmax {
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
		p.Min, p.Max, _ = minMax(b)
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

// minMax returns the extremes of a (non-empty) and Σ v·0, which is 0 unless
// a holds NaN or ±Inf.
func minMax(a []float64) (lo, hi, probe float64) {
	lo0, hi0 := a[0], a[0]
	lo1, hi1 := lo0, hi0
	var p0, p1 float64
	for len(a) >= 2 {
		v0, v1 := a[0], a[1]
		if v0 < lo0 {
			lo0 = v0
		}
		if v0 > hi0 {
			hi0 = v0
		}
		if v1 < lo1 {
			lo1 = v1
		}
		if v1 > hi1 {
			hi1 = v1
		}
		p0 += v0 * 0
		p1 += v1 * 0
		a = a[2:]
	}
	for _, v := range a {
		if v < lo0 {
			lo0 = v
		}
		if v > hi0 {
			hi0 = v
		}
		p0 += v * 0
	}
	return math.Min(lo0, lo1), math.Max(hi0, hi1), p0 + p1
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
