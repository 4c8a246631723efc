package compute

import (
	"context"
	"fmt"
	"sync"
)

// The tasks of an array (random, .npy, raw) are its chunks, numbered as
// Grid numbers them; each comes back as ChunkPartials' vector and goes
// through the job's combine tree (arrayCombine), as in a local run.

func (r *Random) plan(_ context.Context, o *Options, _ PlanOptions) (*Plan, error) {
	spec := SourceSpec{Kind: "random", Shape: r.g.Shape, Chunks: r.g.Chunks, Seed: r.Seed,
		Dist: r.Dist.String(), RNG: r.RNG.String()}
	return planArray(r, spec, o, o, false, func(*Result) {})
}

func (a *ArrayFile) plan(_ context.Context, o *Options, _ PlanOptions) (*Plan, error) {
	if a.path == "" {
		return nil, inputErr("%s: other processes cannot read a stream: give the path of a file", a.name)
	}
	kind := "raw"
	if a.isNPY {
		kind = "npy"
	}
	spec := SourceSpec{Kind: kind, Shape: a.shape, Chunks: a.Chunks(), Path: a.path, Size: a.size,
		DType: a.dtype.String(), Fortran: a.fortran}
	view, err := a.viewOptions(o)
	if err != nil {
		return nil, err
	}
	return planArray(a, spec, o, view, a.fortran, a.finish)
}

// planArray plans o over src; view is o in src's grid's axes (a Fortran
// file's are reversed), finish turns the result into the file's axes.
func planArray(src arraySource, spec SourceSpec, o, view *Options, reversed bool, finish func(*Result)) (*Plan, error) {
	j, err := newArrayJob(src, view)
	if err != nil {
		return nil, err
	}
	js := jobSpec(o, spec)
	if j.g.Size() == 0 {
		r := j.emptyResult(view)
		finish(r)
		return newPlan(js, o, 0, fixedResult{r}), nil
	}
	asm := &arrayAssembler{j: j, comb: newArrayCombine(j, view), reversed: reversed, finish: finish}
	return newPlan(js, o, j.g.NumChunks(), asm), nil
}

// arrayAssembler puts chunk vectors through the combine tree.
type arrayAssembler struct {
	j        *arrayJob
	comb     *arrayCombine
	reversed bool // the grid's axes are the file's reversed (Fortran order)
	finish   func(*Result)
	once     sync.Once
}

func (a *arrayAssembler) add(k int, pieces [][]Partial) error {
	_, size := a.j.keptBox(a.j.g.Region(k))
	want := prod(size)
	if err := checkPieces(pieces, 1, func(int) int { return want }, func(int) bool { return false }); err != nil {
		return err
	}
	a.comb.add(k, pieces[0])
	return nil
}

func (a *arrayAssembler) result() (*Result, error) {
	a.once.Do(func() { a.finish(a.comb.res) })
	return a.comb.res, nil
}

func (a *arrayAssembler) describe(k int) string {
	nb := a.j.g.NumBlocks()
	idx := make([]int, len(nb))
	unravel(k, nb, idx)
	if a.reversed {
		reverse(idx)
		reverse(nb)
	}
	return fmt.Sprintf("chunk %d (block %s of %s)", k, FormatShape(idx), FormatShape(nb))
}
