package compute

// layout says how a chunk (C order) maps onto the result elements it
// touches, once axes of extent 1 are dropped and neighbouring axes of the
// same kind (kept or reduced) are merged:
//
//	layoutOne      [R] or nothing: one element, streamed piece by piece
//	layoutRows     [K R]: outer rows of L contiguous values, one element each
//	layoutStrided  [R K] or [K R K]: outer slabs of L×inner, reduced along L
//	layoutGeneral  anything else: transposed to [K R] first
type layout struct {
	kind     int
	outer, L int // elements (rows) or slabs; values reduced per element
	inner    int // layoutStrided: elements per slab
}

const (
	layoutOne = iota
	layoutRows
	layoutStrided
	layoutGeneral
)

// layoutOf classifies a chunk of size reduced along red.
func layoutOf(size []int, red []bool) layout {
	type group struct {
		red bool
		n   int
	}
	var gs []group
	for i, n := range size {
		if n == 1 {
			continue
		}
		if len(gs) > 0 && gs[len(gs)-1].red == red[i] {
			gs[len(gs)-1].n *= n
			continue
		}
		gs = append(gs, group{red[i], n})
	}
	kept, reduced := 1, 1
	for _, g := range gs {
		if g.red {
			reduced *= g.n
		} else {
			kept *= g.n
		}
	}
	switch {
	case kept == 1:
		return layout{kind: layoutOne, outer: 1, L: reduced}
	case len(gs) == 1: // [K]: nothing to reduce in this chunk
		return layout{kind: layoutRows, outer: kept, L: 1}
	case len(gs) == 2 && !gs[0].red:
		return layout{kind: layoutRows, outer: gs[0].n, L: gs[1].n}
	case len(gs) == 2:
		return layout{kind: layoutStrided, outer: 1, L: gs[0].n, inner: gs[1].n}
	case len(gs) == 3 && !gs[0].red:
		return layout{kind: layoutStrided, outer: gs[0].n, L: gs[1].n, inner: gs[2].n}
	}
	return layout{kind: layoutGeneral, outer: kept, L: reduced}
}

// transpose reorders a chunk of size (C order) so that the kept axes come
// first and the reduced ones after, each in their order: then every result
// element is one contiguous row of L values. The copy goes to the worker's
// second chunk buffer.
func (l layout) transpose(f []float64, iv []int64, size []int, red []bool, w *workerState) ([]float64, []int64) {
	var perm []int
	for pass := range 2 {
		for i := range size {
			if red[i] == (pass == 1) {
				perm = append(perm, i)
			}
		}
	}
	strides := make([]int, len(size))
	s := 1
	for i := len(size) - 1; i >= 0; i-- {
		strides[i] = s
		s *= size[i]
	}
	n := len(f)
	if cap(w.tposF) < n {
		w.tposF = make([]float64, n)
	}
	tf := w.tposF[:n]
	var ti []int64
	if iv != nil {
		if cap(w.tposI) < n {
			w.tposI = make([]int64, n)
		}
		ti = w.tposI[:n]
	}
	idx := make([]int, len(perm))
	src := 0
	for d := range n {
		tf[d] = f[src]
		if ti != nil {
			ti[d] = iv[src]
		}
		// Odometer over the permuted shape, tracking the source offset.
		for a := len(perm) - 1; a >= 0; a-- {
			ax := perm[a]
			idx[a]++
			src += strides[ax]
			if idx[a] < size[ax] {
				break
			}
			src -= strides[ax] * size[ax]
			idx[a] = 0
		}
	}
	return tf, ti
}
