package compute

import (
	"context"
	"fmt"
)

// reduceArray runs o over an arraySource: chunks in parallel, then the
// fixed combine tree. For a full reduction each chunk streams through the
// block kernel in npBlock pieces (no chunk-sized buffer); for an axis
// reduction each worker gathers its chunk in one buffer of the chunk's size.
func reduceArray(ctx context.Context, src arraySource, o *Options) (*Result, error) {
	g := src.grid()
	ax, err := o.axis(len(g.Shape))
	if err != nil {
		return nil, err
	}
	nd := o.Op.needs()
	compat := o.DaskCompat && (o.Op == Mean || o.Op == Sum)
	n := g.NumChunks()
	o.logger().Debug("compute: reduce", "op", o.Op.String(), "shape", FormatShape(g.Shape),
		"chunks", FormatShape(g.Chunks), "nchunks", n, "axis", ax, "workers", min(o.workers(), n), "dask_compat", compat)

	var fn chunkFunc
	if ax < 0 {
		fn = func(ctx context.Context, k int, w *workerState) ([]Partial, error) {
			var p Partial
			var err error
			if compat {
				p, err = chunkCompat(ctx, src, k, w, o.SkipNaN)
			} else if es, ok := src.(exactSummer); ok {
				if p, ok = es.exactSum(k, nd); !ok {
					p, err = chunkFull(ctx, src, k, w, nd)
				} else {
					err = checkCtx(ctx)
				}
			} else {
				p, err = chunkFull(ctx, src, k, w, nd)
			}
			return []Partial{p}, err
		}
	} else {
		fn = func(ctx context.Context, k int, w *workerState) ([]Partial, error) {
			return chunkAxis(ctx, src, g, k, ax, w, nd, compat, o.SkipNaN)
		}
	}
	cells, err := runChunks(ctx, n, o, fn)
	if err != nil {
		return nil, err
	}
	reduced := make([]bool, len(g.Shape))
	for i := range reduced {
		reduced[i] = ax < 0 || i == ax
	}
	nb := g.NumBlocks()
	cells, nb = combineTree(cells, nb, reduced, compat)
	r := &Result{Input: g, Integer: src.integer()}
	if ax < 0 {
		r.Shape = []int{}
		if len(cells) == 0 || len(cells[0]) == 0 {
			r.Partials = []Partial{{}}
		} else {
			r.Partials = cells[0]
		}
		return r, nil
	}
	r.Shape = append(append([]int(nil), g.Shape[:ax]...), g.Shape[ax+1:]...)
	r.Partials = scatterAxis(cells, nb, g, ax, r.Shape)
	return r, nil
}

// exactSummer is a source that can sum a chunk without materialising it.
type exactSummer interface {
	exactSum(k int, nd needs) (Partial, bool)
}

// chunkFull summarises chunk k piece by piece.
func chunkFull(ctx context.Context, src arraySource, k int, w *workerState, nd needs) (Partial, error) {
	var p Partial
	err := src.read(ctx, k, w.buf, func(a []float64) error {
		if err := checkCtx(ctx); err != nil {
			return err
		}
		b := reduceBlock(a, nd, w.scratch)
		p.Merge(&b)
		return nil
	})
	return p, err
}

// chunkCompat is Dask's mean_chunk on one chunk: np.sum (NumPy 1.24: the
// pairwise sums of 8192-value buffers added from 0 in order), or np.nansum
// (NaN replaced by 0) and the number of non-NaN values with skipNaN.
func chunkCompat(ctx context.Context, src arraySource, k int, w *workerState, skipNaN bool) (Partial, error) {
	var p Partial
	s := 0.0
	err := src.read(ctx, k, w.buf, func(a []float64) error {
		if err := checkCtx(ctx); err != nil {
			return err
		}
		ps := pairwiseSum(a)
		cnt := len(a)
		if skipNaN && ps != ps {
			b := w.scratch[:len(a)]
			for i, v := range a {
				if v != v {
					v = 0
					cnt--
				}
				b[i] = v
			}
			ps = pairwiseSum(b)
			p.NaN += int64(len(a) - cnt)
		}
		s += ps
		p.Count += int64(cnt)
		return nil
	})
	p.Sum = s
	if p.Count > 0 {
		p.Mean = s / float64(p.Count)
	}
	return p, err
}

// chunkAxis gathers chunk k and reduces it along axis ax: the chunk is seen
// as [outer, L, inner] with L its extent on ax, giving outer×inner partials.
func chunkAxis(ctx context.Context, src arraySource, g Grid, k, ax int, w *workerState, nd needs, compat, skipNaN bool) ([]Partial, error) {
	_, size := g.Region(k)
	total := prod(size)
	if cap(w.chunk) < total {
		w.chunk = make([]float64, g.ChunkElems())
	}
	buf := w.chunk[:total]
	off := 0
	err := src.read(ctx, k, w.buf, func(a []float64) error {
		if err := checkCtx(ctx); err != nil {
			return err
		}
		if off+len(a) > total {
			return fmt.Errorf("compute: chunk %d: source gave more than %d values", k, total)
		}
		off += copy(buf[off:], a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if off != total {
		return nil, fmt.Errorf("compute: chunk %d: source gave %d values, want %d", k, off, total)
	}
	outer, L, inner := prod(size[:ax]), size[ax], prod(size[ax+1:])
	out := make([]Partial, outer*inner)
	if inner == 1 {
		for i := range outer {
			row := buf[i*L : (i+1)*L]
			if compat {
				out[i] = compatRow(row, skipNaN)
				continue
			}
			var p Partial
			for len(row) > 0 {
				m := min(len(row), npBlock)
				b := reduceBlock(row[:m], nd, w.scratch)
				p.Merge(&b)
				row = row[m:]
			}
			out[i] = p
		}
		return out, nil
	}
	for i := range outer {
		reduceStrided(out[i*inner:(i+1)*inner], buf[i*L*inner:(i+1)*L*inner], L, inner, nd, compat && !skipNaN)
	}
	return out, nil
}

// compatRow is np.sum (or np.nansum) of one contiguous row, with its count.
func compatRow(row []float64, skipNaN bool) Partial {
	s := npSum(row)
	p := Partial{Count: int64(len(row)), Sum: s}
	if skipNaN && s != s {
		b := make([]float64, len(row))
		for i, v := range row {
			if v != v {
				v = 0
				p.Count--
				p.NaN++
			}
			b[i] = v
		}
		p.Sum = npSum(b)
	}
	return p
}

// reduceStrided reduces an [L, inner] C-order slab along its first axis
// into inner partials: rows are added one after another into per-column
// accumulators (as NumPy does for a non-contiguous axis), then a second pass
// computes M2 around each column's mean. keepNaN adds NaN into the sums
// like np.sum (Dask-compatible mean and sum).
func reduceStrided(dst []Partial, slab []float64, L, inner int, nd needs, keepNaN bool) {
	sum := make([]float64, inner)
	cnt := make([]int64, inner)
	lo := make([]float64, inner)
	hi := make([]float64, inner)
	copy(lo, slab[:inner])
	copy(hi, slab[:inner])
	for r := range L {
		row := slab[r*inner : (r+1)*inner]
		for j, v := range row {
			if v != v && !keepNaN {
				continue
			}
			sum[j] += v
			cnt[j]++
			if v < lo[j] || lo[j] != lo[j] {
				lo[j] = v
			}
			if v > hi[j] || hi[j] != hi[j] {
				hi[j] = v
			}
		}
	}
	for j := range dst {
		p := Partial{Count: cnt[j], NaN: int64(L) - cnt[j], Sum: sum[j]}
		if cnt[j] > 0 {
			p.Mean = sum[j] / float64(cnt[j])
			if nd.minmax {
				p.Min, p.Max, p.HasMM = lo[j], hi[j], true
			}
		}
		dst[j] = p
	}
	if !nd.m2 {
		return
	}
	m2 := make([]float64, inner)
	c := make([]float64, inner)
	for r := range L {
		row := slab[r*inner : (r+1)*inner]
		for j, v := range row {
			if v != v {
				continue
			}
			d := v - dst[j].Mean
			m2[j] += d * d
			c[j] += d
		}
	}
	for j := range dst {
		if n := dst[j].Count; n > 0 {
			dst[j].M2 = m2[j] - c[j]*c[j]/float64(n)
		}
	}
}

// scatterAxis places the per-block vectors left after the tree (one block
// along ax) into the result array of rshape (g's shape without ax), C order.
func scatterAxis(cells [][]Partial, nb []int, g Grid, ax int, rshape []int) []Partial {
	out := make([]Partial, prod(rshape))
	bidx := make([]int, len(nb))
	for c, vec := range cells {
		unravel(c, nb, bidx)
		// Chunk extent on every axis but ax, in the result's axes.
		start := make([]int, 0, len(rshape))
		size := make([]int, 0, len(rshape))
		for i := range g.Shape {
			if i == ax {
				continue
			}
			s := bidx[i] * g.Chunks[i]
			start = append(start, s)
			size = append(size, min(g.Chunks[i], g.Shape[i]-s))
		}
		local := make([]int, len(size))
		glob := make([]int, len(size))
		for j := range vec {
			unravel(j, size, local)
			for i := range local {
				glob[i] = start[i] + local[i]
			}
			out[ravel(glob, rshape)] = vec[j]
		}
	}
	return out
}
