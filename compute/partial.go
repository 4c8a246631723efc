package compute

import "math"

// Partial is the mergeable state of a reduction over some set of values:
// everything mean, sum, min, max, var, std, count and stats need, for any
// ddof and with or without skipping NaN. It is a plain value with binary and
// JSON encodings, so partials computed on different machines can be shipped
// and merged; a chunk's whole state is its Partial.
//
// The zero value is the state of no values.
type Partial struct {
	Count int64 // values that are not NaN (infinities included)
	NaN   int64 // NaN values (missing values of CSV)

	// The sum of the finite values is Sum + SumC + 2^64·(Big + BigC):
	// Neumaier-compensated pairs, the second scaled down so that a sum of
	// finite values beyond float64's range (whose exact value may still be
	// finite, or whose mean is) never overflows to ±Inf on the way.
	Sum, SumC float64
	Big, BigC float64
	// Inf records infinite values: infPos, infNeg or both.
	Inf uint8

	// Mean is the mean of the finite values as an unevaluated sum
	// Mean + MeanC (about twice float64's precision), and M2 the sum of
	// squared deviations from it: Chan, Golub and LeVeque's state, merged
	// without the rounding of the means that costs digits on data with a
	// large offset.
	Mean, MeanC float64
	M2          float64

	Min, Max float64 // extremes of the non-NaN values, when HasMM
	HasMM    bool

	// Frac is set when some value is not an integer, or comes from a
	// floating-point source. While it is clear, ISum, IMin and IMax are
	// the exact integer sum and extremes.
	Frac       bool
	ISum       Int128
	IMin, IMax Int128
}

// Inf bits.
const (
	infPos = 1 << iota
	infNeg
)

// bigScale is the exponent of Big's unit, and bigFrom the magnitude from
// which a value is summed in Big: below it, 2^63 values cannot overflow Sum.
const (
	bigScale = 64
	bigFrom  = 0x1p960
)

// Merge folds q into p: counts add, sums add with compensation (moving to
// the scaled pair before they could overflow), mean and M2 follow Chan,
// Golub and LeVeque's pairwise update ("Algorithms for Computing the Sample
// Variance", 1983)
//
//	n = na+nb; d = mb-ma; mean = ma + d·nb/n; M2 = M2a + M2b + d²·na·nb/n
//
// with d computed from the double-double means, and min/max take the
// extremes. The result does not depend on how the values were split, up to
// rounding; the engine merges in a fixed order so that results are
// reproducible to the bit.
func (p *Partial) Merge(q *Partial) {
	p.NaN += q.NaN
	p.Inf |= q.Inf
	p.Frac = p.Frac || q.Frac
	p.ISum = p.ISum.Add(q.ISum)
	if q.HasMM {
		if !p.HasMM {
			p.Min, p.Max, p.IMin, p.IMax, p.HasMM = q.Min, q.Max, q.IMin, q.IMax, true
		} else {
			p.Min = math.Min(p.Min, q.Min)
			p.Max = math.Max(p.Max, q.Max)
			if q.IMin.Cmp(p.IMin) < 0 {
				p.IMin = q.IMin
			}
			if q.IMax.Cmp(p.IMax) > 0 {
				p.IMax = q.IMax
			}
		}
	}
	if q.Count == 0 {
		return
	}
	if p.Count == 0 {
		p.Count, p.Sum, p.SumC, p.Big, p.BigC = q.Count, q.Sum, q.SumC, q.Big, q.BigC
		p.Mean, p.MeanC, p.M2 = q.Mean, q.MeanC, q.M2
		return
	}
	p.addSum(q.Sum, q.SumC, q.Big, q.BigC)
	na, nb := float64(p.Count), float64(q.Count)
	n := na + nb
	dh, dl := twoDiff(q.Mean, p.Mean)
	if math.IsInf(dh, 0) {
		// Means of opposite signs beyond float64's range apart: the
		// variance overflows, and the mean is a weighted sum.
		p.Mean, p.MeanC, p.M2 = p.Mean*(na/n)+q.Mean*(nb/n), 0, math.Inf(1)
		p.Count += q.Count
		return
	}
	d := dh + (dl + (q.MeanC - p.MeanC))
	p.Mean, p.MeanC = ddAdd(p.Mean, p.MeanC, d*(nb/n))
	p.M2 += q.M2 + d*(d*(na*(nb/n)))
	p.Count += q.Count
}

// addSum adds a sum in Merge's representation to p's.
func (p *Partial) addSum(s, c, big, bigC float64) {
	if big != 0 || bigC != 0 {
		p.Big, p.BigC = twoSum(p.Big, p.BigC+bigC, big)
	}
	t, tc := twoSum(p.Sum, p.SumC+c, s)
	if math.IsInf(t, 0) || math.IsNaN(t) {
		// Both finite, their sum beyond float64: carry both into Big.
		p.Big, p.BigC = twoSum(p.Big, p.BigC+math.Ldexp(p.SumC+c, -bigScale), math.Ldexp(p.Sum, -bigScale))
		p.Big, p.BigC = twoSum(p.Big, p.BigC, math.Ldexp(s, -bigScale))
		p.Sum, p.SumC = 0, 0
		return
	}
	p.Sum, p.SumC = t, tc
}

// scaled is the finite values' sum divided by 2^bigScale, and whether Big is
// in use at all.
func (p *Partial) scaled() (float64, bool) {
	if p.Big == 0 && p.BigC == 0 {
		return 0, false
	}
	return p.Big + (p.BigC + math.Ldexp(p.Sum+p.SumC, -bigScale)), true
}

// total is the sum: ±Inf or NaN when the values hold infinities (NaN for
// both signs, as IEEE addition gives), else the compensated sum, which is
// ±Inf only when the exact sum rounds beyond float64's range.
func (p *Partial) total() float64 {
	if f, ok := p.infinite(); ok {
		return f
	}
	if s, ok := p.scaled(); ok {
		return math.Ldexp(s, bigScale)
	}
	return p.Sum + p.SumC
}

// mean is the sum over Count, computed without overflowing on the way.
func (p *Partial) mean() float64 {
	if p.Inf == 0 && p.Big == 0 && p.BigC == 0 {
		return (p.Sum + p.SumC) / float64(p.Count)
	}
	if f, ok := p.infinite(); ok {
		return f
	}
	n := float64(p.Count)
	if s, ok := p.scaled(); ok {
		return math.Ldexp(s/n, bigScale)
	}
	return (p.Sum + p.SumC) / n
}

// infinite is the sum of infinite values, if any.
func (p *Partial) infinite() (float64, bool) {
	switch p.Inf {
	case infPos:
		return math.Inf(1), true
	case infNeg:
		return math.Inf(-1), true
	case infPos | infNeg:
		return math.NaN(), true
	}
	return 0, false
}

// Value is op's result over the values p summarises. With skipNaN, NaN
// values are ignored (like numpy.nanmean); without it, any NaN makes the
// result NaN. ddof applies to Var and Std, whose divisor is max(N-ddof, 0)
// as in NumPy (so ddof ≥ N gives inf, or nan when every value is equal).
// Count counts every value, or the non-NaN ones with skipNaN. Sum, Min and
// Max of integers are exact integers; Mean of integers is their exact sum
// over the count, correctly rounded. Mean, Var, Std, Min and Max of no
// values are NaN; callers that must refuse empty input check the counts.
func (p *Partial) Value(op Op, ddof int, skipNaN bool) Value {
	if op == Count {
		if skipNaN {
			return intValue(IntOf(p.Count))
		}
		return intValue(IntOf(p.Count + p.NaN))
	}
	if p.NaN > 0 && !skipNaN {
		return floatValue(math.NaN())
	}
	exact := !p.Frac
	switch op {
	case Sum:
		if exact {
			return intValue(p.ISum)
		}
		return floatValue(p.total())
	case Mean, Stats:
		switch {
		case p.Count == 0:
			return floatValue(math.NaN())
		case exact:
			return floatValue(p.ISum.ratio(p.Count))
		}
		return floatValue(p.mean())
	case Min, Max:
		switch {
		case !p.HasMM:
			return floatValue(math.NaN())
		case exact && op == Min:
			return intValue(p.IMin)
		case exact:
			return intValue(p.IMax)
		case op == Min:
			return floatValue(p.Min)
		}
		return floatValue(p.Max)
	case Var, Std:
		if p.Count == 0 || p.Inf != 0 {
			return floatValue(math.NaN()) // NumPy: the variance of data holding ±Inf is NaN
		}
		v := p.M2 / math.Max(float64(p.Count)-float64(ddof), 0)
		if op == Std {
			v = math.Sqrt(v)
		}
		return floatValue(v)
	}
	return floatValue(math.NaN())
}

// summary is what Stats reports for p.
func (p *Partial) summary(ddof int, skipNaN bool) Summary {
	return Summary{
		Count: int64(p.Value(Count, ddof, skipNaN).Int.Lo),
		Mean:  p.Value(Mean, ddof, skipNaN).Float,
		Std:   p.Value(Std, ddof, skipNaN).Float,
		Min:   p.Value(Min, ddof, skipNaN),
		Max:   p.Value(Max, ddof, skipNaN),
	}
}

// empty reports whether p summarises no values at all.
func (p *Partial) empty() bool { return p.Count == 0 && p.NaN == 0 }
