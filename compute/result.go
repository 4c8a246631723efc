package compute

import "sync/atomic"

// Result is a finished reduction: the final value of each element, in C
// order of Shape. Only the values are kept (not the partial states), so a
// result costs about as much memory as its values.
type Result struct {
	Op Op
	// Shape is the result's shape: the input's without the reduced axes,
	// or empty for a full reduction (a scalar).
	Shape []int
	// Input describes the array reduced: its shape and chunking.
	Input Grid
	// Names labels the elements of a per-column CSV result.
	Names []string
	// Skipped lists the CSV columns left out because they are not numeric.
	Skipped []SkippedColumn

	n        int
	ddof     int
	skipNaN  bool
	vals     []float64 // Op's value per element (not Stats)
	ints     []Int128  // exact integer values, where isInt says so
	isInt    []bool
	sums     []Summary   // Stats
	fill     *Partial    // every element is the state of this (empty input)
	hasEmpty atomic.Bool // some element summarises no values at all
}

// SkippedColumn is a CSV column that was not reduced: its first value is not
// a number (a label column).
type SkippedColumn struct {
	Index int    // 0-based
	Name  string // header name, or the index
	Value string // the first value, which is not a number
	Line  int    // where that value is (1-based)
	Col   int
}

// Summary is what Stats reports for one result element.
type Summary struct {
	Count    int64
	Mean     float64
	Std      float64
	Min, Max Value
}

// newResult prepares a result of shape for o. ints says whether elements
// may be exact integers (integer input, Count).
func newResult(o *Options, shape []int, ints bool) *Result {
	n := prod(shape)
	r := &Result{Op: o.Op, Shape: shape, n: n, ddof: o.DDOF, skipNaN: o.SkipNaN}
	if o.Op == Stats {
		r.sums = make([]Summary, n)
		return r
	}
	r.vals = make([]float64, n)
	if ints || o.Op == Count {
		r.ints = make([]Int128, n)
		r.isInt = make([]bool, n)
	}
	return r
}

// filledResult is a result whose every element summarises p: the result of
// an input with no values, however large its shape, in constant memory.
func filledResult(o *Options, shape []int, p Partial) *Result {
	r := &Result{Op: o.Op, Shape: shape, n: prod(shape), ddof: o.DDOF, skipNaN: o.SkipNaN, fill: &p}
	if r.n > 0 && p.empty() {
		r.hasEmpty.Store(true)
	}
	return r
}

// set finalises element i from its complete partial state. Calls for
// different elements may run concurrently.
func (r *Result) set(i int, p *Partial) {
	if p.empty() {
		r.hasEmpty.Store(true)
	}
	if r.sums != nil {
		r.sums[i] = p.summary(r.ddof, r.skipNaN)
		return
	}
	v := p.Value(r.Op, r.ddof, r.skipNaN)
	r.vals[i] = v.Float
	if v.IsInt && r.ints != nil {
		r.ints[i], r.isInt[i] = v.Int, true
	}
}

// Len is the number of elements.
func (r *Result) Len() int { return r.n }

// Elem is element i's value (for Stats: the mean).
func (r *Result) Elem(i int) Value {
	switch {
	case r.fill != nil:
		op := r.Op
		if op == Stats {
			op = Mean
		}
		return r.fill.Value(op, r.ddof, r.skipNaN)
	case r.sums != nil:
		return floatValue(r.sums[i].Mean)
	case r.isInt != nil && r.isInt[i]:
		return Value{Float: r.vals[i], Int: r.ints[i], IsInt: true}
	}
	return floatValue(r.vals[i])
}

// AppendText appends element i as dsys prints it.
func (r *Result) AppendText(b []byte, i int) []byte { return r.Elem(i).AppendText(b) }

// Values is each element's value as a float64 (for Stats: the mean).
func (r *Result) Values() []float64 {
	v := make([]float64, r.n)
	for i := range v {
		v[i] = r.Elem(i).Float
	}
	return v
}

// Value is the result of a full reduction (the first element otherwise).
func (r *Result) Value() float64 {
	if r.n == 0 {
		return nan
	}
	return r.Elem(0).Float
}

// Summary is count, mean, std, min and max of element i of a Stats result
// (the zero Summary for other ops, whose results keep one value only).
func (r *Result) Summary(i int) Summary {
	switch {
	case r.fill != nil:
		return r.fill.summary(r.ddof, r.skipNaN)
	case r.sums != nil:
		return r.sums[i]
	}
	return Summary{}
}

// Summaries is Summary of every element of a Stats result.
func (r *Result) Summaries() []Summary {
	s := make([]Summary, r.n)
	for i := range s {
		s[i] = r.Summary(i)
	}
	return s
}

// transposeReversed turns a result computed over a Fortran array's C-order
// view (reversed axes) into the result in the array's own axes, C order.
func (r *Result) transposeReversed() {
	vshape := r.Shape
	r.Shape = append([]int(nil), vshape...)
	reverse(r.Shape)
	if r.fill != nil || len(vshape) <= 1 {
		return
	}
	r.vals = permuteReversed(r.vals, vshape)
	r.ints = permuteReversed(r.ints, vshape)
	r.isInt = permuteReversed(r.isInt, vshape)
	r.sums = permuteReversed(r.sums, vshape)
}

// permuteReversed is the full transpose of a C-order array of shape vshape.
func permuteReversed[T any](p []T, vshape []int) []T {
	if p == nil {
		return nil
	}
	out := make([]T, len(p))
	rshape := append([]int(nil), vshape...)
	reverse(rshape)
	idx := make([]int, len(vshape))
	ridx := make([]int, len(vshape))
	for k := range p {
		unravel(k, vshape, idx)
		for i := range idx {
			ridx[len(idx)-1-i] = idx[i]
		}
		out[ravel(ridx, rshape)] = p[k]
	}
	return out
}
