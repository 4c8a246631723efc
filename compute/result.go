package compute

import "math"

// Result is a finished reduction.
type Result struct {
	Op Op
	// Shape is the result's shape: the input's without the reduced axis, or
	// empty for a full reduction (a scalar).
	Shape []int
	// Input describes the array reduced: its shape and chunking.
	Input Grid
	// Names labels the elements of a per-column CSV result.
	Names []string
	// Partials is the merged state of each result element, in C order.
	Partials []Partial
	// Integer is set when the input holds integers or booleans, so that
	// Sum, Min and Max are whole numbers (printed without a fraction).
	Integer bool

	ddof    int
	skipNaN bool
}

// valueOp is the op Values and Value report: Op, or Mean for Stats.
func (r *Result) valueOp() Op {
	if r.Op == Stats {
		return Mean
	}
	return r.Op
}

// Values is Op's value for each result element (for Stats: the mean).
func (r *Result) Values() []float64 {
	op := r.valueOp()
	v := make([]float64, len(r.Partials))
	for i := range r.Partials {
		v[i] = r.Partials[i].Value(op, r.ddof, r.skipNaN)
	}
	return v
}

// Value is the result of a full reduction (the first element otherwise).
func (r *Result) Value() float64 {
	if len(r.Partials) == 0 {
		return math.NaN()
	}
	return r.Partials[0].Value(r.valueOp(), r.ddof, r.skipNaN)
}

// Summary is what Stats reports for one result element.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	Std   float64 `json:"std"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

// Summaries is count, mean, std, min and max of each result element.
func (r *Result) Summaries() []Summary {
	s := make([]Summary, len(r.Partials))
	for i := range r.Partials {
		p := &r.Partials[i]
		s[i] = Summary{
			Count: int64(p.Value(Count, r.ddof, r.skipNaN)),
			Mean:  p.Value(Mean, r.ddof, r.skipNaN),
			Std:   p.Value(Std, r.ddof, r.skipNaN),
			Min:   p.Value(Min, r.ddof, r.skipNaN),
			Max:   p.Value(Max, r.ddof, r.skipNaN),
		}
	}
	return s
}

// IsInteger reports whether op's values for this result are whole numbers
// to print without a fraction (Count always; Sum, Min and Max of integers).
func (r *Result) IsInteger(op Op) bool {
	return op == Count || (r.Integer && (op == Sum || op == Min || op == Max))
}
