package compute

import (
	"context"
	"fmt"
)

// arrayJob is one reduction of an arraySource: which axes it reduces, what
// each chunk computes, and where each chunk's results go.
type arrayJob struct {
	src     arraySource
	g       Grid
	red     []bool // the reduced axes
	nd      needs
	compat  bool // Dask's summation (float Mean and Sum only)
	skipNaN bool
	ints    bool // integer source: exact integer state
	uns     bool // unsigned 64-bit integers
	rshape  []int
}

// newArrayJob checks o against src's shape.
func newArrayJob(src arraySource, o *Options) (*arrayJob, error) {
	g := src.grid()
	red, err := o.reduced(len(g.Shape))
	if err != nil {
		return nil, err
	}
	ints, uns := src.integer()
	j := &arrayJob{
		src: src, g: g, red: red, nd: o.Op.needs(), skipNaN: o.SkipNaN, ints: ints, uns: uns,
		compat: o.DaskCompat && (o.Op == Mean || o.Op == Sum) && !ints,
	}
	for i, r := range red {
		if !r {
			j.rshape = append(j.rshape, g.Shape[i])
		}
	}
	if j.rshape == nil {
		j.rshape = []int{}
	}
	if _, err := elements(j.rshape); err != nil {
		return nil, inputErr("the result would have more than 2^63-1 elements: %s", FormatShape(j.rshape))
	}
	return j, nil
}

// reduceArray runs o over an arraySource: chunks in parallel, then the
// fixed combine tree, each result element finalised as soon as its partial
// state is complete. A full reduction streams each chunk through the block
// kernel in npBlock pieces; an axis reduction gathers a worker's chunk in
// one buffer. Memory: workers × chunk size plus the result's values.
func reduceArray(ctx context.Context, src arraySource, o *Options) (*Result, error) {
	j, err := newArrayJob(src, o)
	if err != nil {
		return nil, err
	}
	g := j.g
	n := g.NumChunks()
	o.logger().Debug("compute: reduce", "op", o.Op.String(), "shape", FormatShape(g.Shape),
		"chunks", FormatShape(g.Chunks), "nchunks", n, "reduced", fmt.Sprint(j.red),
		"workers", min(o.workers(), n), "dask_compat", j.compat)
	if g.Size() == 0 {
		return j.emptyResult(o), nil
	}
	comb := newArrayCombine(j, o)
	direct := comb.direct()
	err = runChunks(ctx, n, o, func(ctx context.Context, k int, w *workerState) error {
		if direct {
			// Every chunk is a root: its partials go straight to the
			// result, batch by batch, without a chunk-sized vector.
			start, size := j.keptBox(g.Region(k))
			return j.chunk(ctx, k, w, func(off int, ps []Partial) {
				j.scatter(comb.res, start, size, off, ps)
			})
		}
		vec, err := j.chunkVector(ctx, k, w)
		if err != nil {
			return err
		}
		comb.add(k, vec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return comb.res, nil
}

// arrayCombine puts the chunk vectors of a job together into its result,
// in whatever order they arrive and from any goroutine: through the combine
// tree fixed by the grid, each root finalised into the result's elements.
// Local runs and the chunks of a Plan computed elsewhere go through it, so
// both give the same bits.
type arrayCombine struct {
	j    *arrayJob
	res  *Result
	tree *combiner
}

func newArrayCombine(j *arrayJob, o *Options) *arrayCombine {
	a := &arrayCombine{j: j, res: newResult(o, j.rshape, j.ints)}
	a.res.Input = j.g
	a.tree = newCombiner(j.g, j.red, j.compat, func(cell int, vec []Partial) {
		start, size := a.tree.keptBox(j.g, cell)
		j.scatter(a.res, start, size, 0, vec)
	})
	return a
}

// direct reports whether every chunk is a root of the tree (no merging).
func (a *arrayCombine) direct() bool { return a.tree.levels() == 0 }

// add hands chunk k's vector (chunkVector's) to the tree.
func (a *arrayCombine) add(k int, vec []Partial) { a.tree.add(k, vec) }

// emptyResult is the result of an array without values: every element is
// the empty state, whatever the number of (empty) chunks.
func (j *arrayJob) emptyResult(o *Options) *Result {
	r := filledResult(o, j.rshape, Partial{Frac: !j.ints})
	r.Input = j.g
	return r
}

// chunkVector is chunk k's partial states, one per result element the chunk
// touches, in C order of its block of the result.
func (j *arrayJob) chunkVector(ctx context.Context, k int, w *workerState) ([]Partial, error) {
	_, size := j.keptBox(j.g.Region(k))
	vec := make([]Partial, prod(size))
	err := j.chunk(ctx, k, w, func(off int, ps []Partial) { copy(vec[off:], ps) })
	return vec, err
}

// ChunkPartials is the unit of work of a reduction: the partial states of
// chunk k of src (chunks numbered in row-major order over src's block grid),
// one per result element the chunk touches, in C order of the chunk's block
// of the result (a full reduction: one). Reduce combines these vectors in a
// tree fixed by the grid; src must be an array (Random or ArrayFile).
func ChunkPartials(ctx context.Context, src Source, k int, o Options) ([]Partial, error) {
	return chunkPartials(ctx, src, k, o, newWorkerState())
}

// chunkPartials is ChunkPartials with w's scratch memory.
func chunkPartials(ctx context.Context, src Source, k int, o Options, w *workerState) ([]Partial, error) {
	a, ok := src.(arraySource)
	if !ok {
		return nil, fmt.Errorf("compute: %T is a stream, not an array of chunks", src)
	}
	if af, ok := src.(*ArrayFile); ok {
		oo, err := af.viewOptions(&o)
		if err != nil {
			return nil, err
		}
		o = *oo
	}
	j, err := newArrayJob(a, &o)
	if err != nil {
		return nil, err
	}
	if k < 0 || k >= j.g.NumChunks() || j.g.Size() == 0 {
		return nil, fmt.Errorf("compute: chunk %d is not in the grid", k)
	}
	return j.chunkVector(ctx, k, w)
}

// keptBox is the part of a region (start, size) on the kept axes: the
// block of the result it maps to.
func (j *arrayJob) keptBox(start, size []int) ([]int, []int) {
	ks := make([]int, 0, len(j.rshape))
	kz := make([]int, 0, len(j.rshape))
	for i, r := range j.red {
		if !r {
			ks = append(ks, start[i])
			kz = append(kz, size[i])
		}
	}
	return ks, kz
}

// scatter finalises the partials of local elements off.. of a result block
// (start, size) into the result.
func (j *arrayJob) scatter(res *Result, start, size []int, off int, ps []Partial) {
	if isContiguous(j.rshape, size) {
		base := ravel(start, j.rshape) + off
		for i := range ps {
			res.set(base+i, &ps[i])
		}
		return
	}
	idx := make([]int, len(size))
	for i := range ps {
		unravel(off+i, size, idx)
		for a := range idx {
			idx[a] += start[a]
		}
		res.set(ravel(idx, j.rshape), &ps[i])
	}
}

// chunk computes chunk k's partials and hands them to emit in batches
// (offsets into the chunk's block of the result); a batch is only valid
// during the call.
func (j *arrayJob) chunk(ctx context.Context, k int, w *workerState, emit func(off int, ps []Partial)) error {
	_, size := j.g.Region(k)
	lay := layoutOf(size, j.red)
	if lay.kind == layoutOne {
		p, err := j.chunkStream(ctx, k, w)
		if err != nil {
			return err
		}
		emit(0, []Partial{p})
		return nil
	}
	f, iv, release, err := j.gather(ctx, k, w, prod(size))
	if err != nil {
		return err
	}
	defer release()
	if lay.kind == layoutGeneral {
		f, iv = lay.transpose(f, iv, size, j.red, w)
		lay = layout{kind: layoutRows, outer: lay.outer, L: lay.L}
	}
	const batch = 256
	if cap(w.parts) < batch {
		w.parts = make([]Partial, batch)
	}
	switch lay.kind {
	case layoutRows:
		for r0 := 0; r0 < lay.outer; r0 += batch {
			ps := w.parts[:min(batch, lay.outer-r0)]
			for i := range ps {
				r := r0 + i
				var ri []int64
				if iv != nil {
					ri = iv[r*lay.L : (r+1)*lay.L]
				}
				j.rowTo(&ps[i], f[r*lay.L:(r+1)*lay.L], ri, w)
			}
			if err := checkCtx(ctx); err != nil {
				return err
			}
			emit(r0, ps)
		}
	case layoutStrided:
		in := lay.inner
		if cap(w.slab) < in {
			w.slab = make([]Partial, in)
		}
		ps := w.slab[:in]
		for o := range lay.outer {
			lo, hi := o*lay.L*in, (o+1)*lay.L*in
			var si []int64
			if iv != nil {
				si = iv[lo:hi]
			}
			j.strided(ps, f[lo:hi], si, lay.L, in, w)
			if err := checkCtx(ctx); err != nil {
				return err
			}
			emit(o*in, ps)
		}
	}
	return nil
}

// chunkStream summarises a chunk that reduces to one element, piece by
// piece, without a chunk-sized buffer.
func (j *arrayJob) chunkStream(ctx context.Context, k int, w *workerState) (Partial, error) {
	if j.compat {
		return chunkCompat(ctx, j.src, k, w, j.skipNaN)
	}
	if es, ok := j.src.(exactSummer); ok {
		if p, ok := es.exactSum(k, j.nd); ok {
			return p, checkCtx(ctx)
		}
	}
	var p Partial
	p.Frac = !j.ints
	err := j.src.read(ctx, k, w, func(f []float64, iv []int64) error {
		if err := checkCtx(ctx); err != nil {
			return err
		}
		b := j.block(f, iv, w)
		p.Merge(&b)
		return nil
	})
	return p, err
}

// block summarises one piece of at most npBlock values.
func (j *arrayJob) block(f []float64, iv []int64, w *workerState) Partial {
	var p Partial
	j.blockTo(&p, f, iv, w)
	return p
}

// blockTo is block into *p.
func (j *arrayJob) blockTo(p *Partial, f []float64, iv []int64, w *workerState) {
	if !j.ints || j.nd.m2 {
		reduceBlockTo(p, f, j.nd, w.scratch)
	} else {
		*p = Partial{Count: int64(len(iv))}
	}
	if j.ints {
		p.setInts(intBlock(iv, j.uns))
	}
}

// rowTo summarises one contiguous row of a chunk into *p.
func (j *arrayJob) rowTo(p *Partial, f []float64, iv []int64, w *workerState) {
	if j.compat {
		*p = compatRow(f, j.skipNaN)
		return
	}
	if len(f) <= npBlock {
		j.blockTo(p, f, iv, w)
		return
	}
	*p = Partial{Frac: !j.ints}
	for len(f) > 0 {
		m := min(len(f), npBlock)
		var bi []int64
		if iv != nil {
			bi, iv = iv[:m], iv[m:]
		}
		b := j.block(f[:m], bi, w)
		p.Merge(&b)
		f = f[m:]
	}
}

// strided reduces an [L, inner] slab along its first axis into dst.
func (j *arrayJob) strided(dst []Partial, f []float64, iv []int64, L, inner int, w *workerState) {
	if j.compat {
		compatStrided(dst, f, L, inner, j.skipNaN)
		return
	}
	if !j.ints || j.nd.m2 {
		reduceStrided(dst, f, L, inner, j.nd, w)
	} else {
		for c := range dst {
			dst[c] = Partial{Count: int64(L)}
		}
	}
	if j.ints {
		intStrided(dst, iv, L, inner, j.uns)
	}
}

// gather reads chunk k into the worker's chunk buffers (floats, and the
// exact integers of an integer source), or views it in place when the
// source can; release ends the view.
func (j *arrayJob) gather(ctx context.Context, k int, w *workerState, total int) (f []float64, iv []int64, release func(), err error) {
	release = func() {}
	if v, ok := j.src.(chunkViewer); ok {
		if f, release, ok := v.view(k); ok {
			return f, nil, release, nil
		}
	}
	if cap(w.chunkF) < total {
		w.chunkF = make([]float64, total)
	}
	f = w.chunkF[:total]
	if j.ints {
		if cap(w.chunkI) < total {
			w.chunkI = make([]int64, total)
		}
		iv = w.chunkI[:total]
	}
	off := 0
	err = j.src.read(ctx, k, w, func(pf []float64, pi []int64) error {
		if err := checkCtx(ctx); err != nil {
			return err
		}
		if off+len(pf) > total {
			return fmt.Errorf("compute: chunk %d: source gave more than %d values", k, total)
		}
		copy(f[off:], pf)
		if iv != nil {
			copy(iv[off:], pi)
		}
		off += len(pf)
		return nil
	})
	if err != nil {
		return nil, nil, release, err
	}
	if off != total {
		return nil, nil, release, fmt.Errorf("compute: chunk %d: source gave %d values, want %d", k, off, total)
	}
	return f, iv, release, nil
}

// chunkViewer is a source that can show a chunk's float64 values in place.
type chunkViewer interface {
	view(k int) ([]float64, func(), bool)
}

// exactSum is a source that can summarise a chunk without materialising it.
type exactSummer interface {
	exactSum(k int, nd needs) (Partial, bool)
}

// chunkCompat is Dask's mean_chunk on one chunk: np.sum (NumPy 1.24: the
// pairwise sums of 8192-value buffers added from 0 in order), or np.nansum
// (NaN replaced by 0) and the number of non-NaN values with skipNaN.
func chunkCompat(ctx context.Context, src arraySource, k int, w *workerState, skipNaN bool) (Partial, error) {
	p := Partial{Frac: true}
	s := 0.0
	err := src.read(ctx, k, w, func(a []float64, _ []int64) error {
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

// compatRow is np.sum (or np.nansum) of one contiguous row, with its count.
func compatRow(row []float64, skipNaN bool) Partial {
	s := npSum(row)
	p := Partial{Count: int64(len(row)), Sum: s, Frac: true}
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

// compatStrided is np.sum (np.nansum) of an [L, inner] slab along its first
// axis as NumPy computes it for a non-contiguous axis: rows added one after
// another into per-column sums.
func compatStrided(dst []Partial, slab []float64, L, inner int, skipNaN bool) {
	for c := range dst {
		dst[c] = Partial{Count: int64(L), Frac: true}
	}
	for r := range L {
		row := slab[r*inner : (r+1)*inner]
		for c, v := range row {
			if v != v && skipNaN {
				dst[c].Count--
				dst[c].NaN++
				continue
			}
			dst[c].Sum += v
		}
	}
}
