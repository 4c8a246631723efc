package compute

import "math"

// Partial is the mergeable state of a reduction over some set of values:
// everything mean, sum, min, max, var, std, count and stats need, for any
// ddof and with or without skipping NaN. It is a plain value (JSON-ready), so
// partials computed on different machines can be shipped and merged.
//
// The zero value is the state of no values.
type Partial struct {
	Count int64   `json:"count"`      // values that are not NaN
	NaN   int64   `json:"nan"`        // NaN values
	Sum   float64 `json:"sum"`        // sum of the non-NaN values…
	SumC  float64 `json:"sum_c"`      // …plus this compensation term (Neumaier)
	Mean  float64 `json:"mean"`       // mean of the non-NaN values
	M2    float64 `json:"m2"`         // sum of squared deviations from Mean
	Min   float64 `json:"min"`        // smallest non-NaN value (+Inf if none)
	Max   float64 `json:"max"`        // largest non-NaN value (-Inf if none)
	HasMM bool    `json:"has_minmax"` // Min and Max are set
}

// Merge folds q into p: counts add, sums add with compensation, mean and M2
// follow Chan, Golub and LeVeque's pairwise update
//
//	n = na+nb; d = mb-ma; mean = ma + d·nb/n; M2 = M2a + M2b + d²·na·nb/n
//
// and min/max take the extremes. Merge is exact for counts and stable for
// the rest, in any order; the engine still merges in a fixed order so that
// results are reproducible to the bit.
func (p *Partial) Merge(q *Partial) {
	p.NaN += q.NaN
	if q.HasMM {
		if !p.HasMM {
			p.Min, p.Max, p.HasMM = q.Min, q.Max, true
		} else {
			p.Min = math.Min(p.Min, q.Min)
			p.Max = math.Max(p.Max, q.Max)
		}
	}
	if q.Count == 0 {
		return
	}
	if p.Count == 0 {
		p.Count, p.Sum, p.SumC, p.Mean, p.M2 = q.Count, q.Sum, q.SumC, q.Mean, q.M2
		return
	}
	p.Sum, p.SumC = twoSum(p.Sum, p.SumC+q.SumC, q.Sum)
	na, nb := float64(p.Count), float64(q.Count)
	n := na + nb
	d := q.Mean - p.Mean
	p.Mean += d * nb / n
	p.M2 += q.M2 + d*d*na*nb/n
	p.Count += q.Count
}

// total is the compensated sum; a non-finite sum drops the compensation
// (which would be NaN after inf−inf).
func (p *Partial) total() float64 {
	if math.IsInf(p.Sum, 0) || math.IsNaN(p.Sum) {
		return p.Sum
	}
	return p.Sum + p.SumC
}

// Value is the result of op over the values p summarises. With skipNaN,
// NaN values are ignored (like numpy.nanmean); without it, any NaN makes the
// result NaN. ddof applies to Var and Std. Count counts every value, or the
// non-NaN ones with skipNaN. Mean, Var, Std, Min and Max of no values are
// NaN; callers that must refuse empty input check Count themselves.
func (p *Partial) Value(op Op, ddof int, skipNaN bool) float64 {
	if op == Count {
		if skipNaN {
			return float64(p.Count)
		}
		return float64(p.Count + p.NaN)
	}
	if p.NaN > 0 && !skipNaN {
		return math.NaN()
	}
	switch op {
	case Sum:
		return p.total()
	case Mean:
		if p.Count == 0 {
			return math.NaN()
		}
		return p.total() / float64(p.Count)
	case Min, Max:
		if !p.HasMM {
			return math.NaN()
		}
		if op == Min {
			return p.Min
		}
		return p.Max
	case Var, Std:
		d := float64(p.Count - int64(ddof))
		if p.Count == 0 || d <= 0 {
			return math.NaN()
		}
		v := p.M2 / d
		if math.IsInf(p.Sum, 0) || math.IsNaN(p.Sum) {
			v = math.NaN() // NumPy: var of data holding ±Inf is NaN
		}
		if op == Std {
			return math.Sqrt(v)
		}
		return v
	}
	return math.NaN()
}
