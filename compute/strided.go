package compute

import "math"

// reduceStrided reduces an [L, inner] C-order slab along its first axis
// into inner partials. Rows are read in order, but the per-column sums are
// pairwise over rows (runs of 8 rows added one after another, runs combined
// pairwise), so their errors grow as O(log L) as in reduceBlock; a second
// pass computes each column's M2 the same way. NaN is counted and left
// out, infinities are recorded and left out of the sums, and a column whose
// sum overflows is redone by reduceBlockSlow's scaled sum.
func reduceStrided(dst []Partial, slab []float64, L, inner int, nd needs, w *workerState) {
	for c := range dst {
		dst[c] = Partial{Count: int64(L), Frac: true}
	}
	if L == 0 {
		return
	}
	if nd.minmax {
		for c := range dst {
			dst[c].Min, dst[c].Max = math.Inf(1), math.Inf(-1)
		}
	}
	// Pass 1: NaN, infinities and extremes, row by row.
	special := false
	for r := range L {
		row := slab[r*inner : (r+1)*inner]
		for c, v := range row {
			if v-v != 0 { // NaN or ±Inf
				special = true
				p := &dst[c]
				switch {
				case v != v:
					p.NaN++
					p.Count--
					continue
				case v > 0:
					p.Inf |= infPos
				default:
					p.Inf |= infNeg
				}
			}
			if nd.minmax {
				p := &dst[c]
				if v < p.Min {
					p.Min = v
				}
				if v > p.Max {
					p.Max = v
				}
			}
		}
	}
	if nd.minmax {
		for c := range dst {
			dst[c].HasMM = dst[c].Count > 0
			if !dst[c].HasMM {
				dst[c].Min, dst[c].Max = 0, 0
			}
		}
	}
	if !nd.sum && !nd.m2 {
		return
	}
	sums := w.colBuf(0, inner)
	colPairwise(sums, slab, L, inner, special, w, func(acc []float64, row []float64) {
		for c, v := range row {
			acc[c] += v
		}
	}, func(acc []float64, row []float64) {
		for c, v := range row {
			if v-v == 0 {
				acc[c] += v
			}
		}
	})
	means := w.colBuf(1, inner)
	for c := range dst {
		p := &dst[c]
		p.Sum = sums[c]
		means[c] = math.NaN() // no second pass for this column…
		switch {
		case math.IsInf(p.Sum, 0) || math.IsNaN(p.Sum):
			redoColumn(p, slab, L, inner, c, nd, w) // …whose sum overflowed
		case p.Inf == 0 && p.Count > 0: // …nor for infinities (the variance is NaN)
			p.Mean = p.Sum / float64(p.Count)
			means[c] = p.Mean
		}
	}
	if !nd.m2 {
		return
	}
	sq, dev := w.colBuf(2, inner), w.colBuf(3, inner)
	devPass := func(acc []float64, accD []float64, row []float64) {
		for c, v := range row {
			if d := v - means[c]; d-d == 0 {
				acc[c] += d * d
				accD[c] += d
			}
		}
	}
	colPairwise2(sq, dev, slab, L, inner, w, devPass)
	for c := range dst {
		p := &dst[c]
		if math.IsNaN(means[c]) {
			continue
		}
		n := float64(p.Count)
		if math.IsInf(sq[c], 0) {
			p.M2 = math.Inf(1)
			continue
		}
		p.Mean, p.MeanC = twoSum(p.Mean, 0, dev[c]/n)
		p.M2 = sq[c] - dev[c]*dev[c]/n
	}
}

// redoColumn summarises column c of a slab with the block kernel's careful
// path (a sum beyond float64's range).
func redoColumn(p *Partial, slab []float64, L, inner, c int, nd needs, w *workerState) {
	vals := make([]float64, L)
	for r := range L {
		vals[r] = slab[r*inner+c]
	}
	var q Partial
	q.Frac = true
	for len(vals) > 0 {
		m := min(len(vals), npBlock)
		b := reduceBlockSlow(vals[:m], nd, w.scratch)
		q.Merge(&b)
		vals = vals[m:]
	}
	*p = q
}

// colPairwise sums the rows of an [L, inner] slab into acc: runs of 8 rows
// in order (add), runs combined pairwise. With special, rows go through
// addFinite, which skips NaN and infinities.
func colPairwise(acc, slab []float64, L, inner int, special bool, w *workerState, add, addFinite func(acc, row []float64)) {
	f := add
	if special {
		f = addFinite
	}
	var rec func(acc []float64, lo, hi, depth int)
	rec = func(acc []float64, lo, hi, depth int) {
		if hi-lo <= 8 {
			for r := lo; r < hi; r++ {
				f(acc, slab[r*inner:(r+1)*inner])
			}
			return
		}
		mid := lo + (hi-lo)/2
		rec(acc, lo, mid, depth+1)
		t := w.depthBuf(depth, inner, 1)[0]
		rec(t, mid, hi, depth+1)
		for c := range acc {
			acc[c] += t[c]
		}
	}
	clear(acc)
	rec(acc, 0, L, 0)
}

// colPairwise2 is colPairwise for two accumulators filled by one pass.
func colPairwise2(acc, accD, slab []float64, L, inner int, w *workerState, f func(acc, accD, row []float64)) {
	var rec func(acc, accD []float64, lo, hi, depth int)
	rec = func(acc, accD []float64, lo, hi, depth int) {
		if hi-lo <= 8 {
			for r := lo; r < hi; r++ {
				f(acc, accD, slab[r*inner:(r+1)*inner])
			}
			return
		}
		mid := lo + (hi-lo)/2
		rec(acc, accD, lo, mid, depth+1)
		b := w.depthBuf(depth, inner, 2)
		rec(b[0], b[1], mid, hi, depth+1)
		for c := range acc {
			acc[c] += b[0][c]
			accD[c] += b[1][c]
		}
	}
	clear(acc)
	clear(accD)
	rec(acc, accD, 0, L, 0)
}

// intStrided sets the exact integer state of an [L, inner] slab of integers
// reduced along its first axis.
func intStrided(dst []Partial, slab []int64, L, inner int, unsigned bool) {
	if L == 0 {
		for c := range dst {
			dst[c].Frac = false
		}
		return
	}
	sums := make([]Int128, inner)
	lo := make([]int64, inner)
	hi := make([]int64, inner)
	copy(lo, slab[:inner])
	copy(hi, slab[:inner])
	for r := range L {
		row := slab[r*inner : (r+1)*inner]
		if unsigned {
			for c, x := range row {
				sums[c] = sums[c].Add(UintOf(uint64(x)))
				lo[c] = int64(min(uint64(lo[c]), uint64(x)))
				hi[c] = int64(max(uint64(hi[c]), uint64(x)))
			}
			continue
		}
		for c, x := range row {
			sums[c] = sums[c].addInt64(x)
			lo[c] = min(lo[c], x)
			hi[c] = max(hi[c], x)
		}
	}
	for c := range dst {
		if unsigned {
			dst[c].setInts(sums[c], UintOf(uint64(lo[c])), UintOf(uint64(hi[c])))
		} else {
			dst[c].setInts(sums[c], IntOf(lo[c]), IntOf(hi[c]))
		}
	}
}
