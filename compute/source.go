package compute

import "context"

// Source is an array to reduce: Random, an array file (OpenNPY, OpenRaw),
// Text or CSV.
type Source interface {
	reduce(ctx context.Context, o *Options) (*Result, error)
}

// arraySource is a Source with a known shape, read chunk by chunk.
type arraySource interface {
	grid() Grid
	// read streams chunk k's values, in C order within the chunk, to fn in
	// pieces of npBlock values (the last piece of the chunk may be
	// shorter), so that NumPy's buffer boundaries fall where NumPy puts
	// them. buf (len npBlock) is the worker's scratch for the values. A
	// piece is only valid during the call.
	read(ctx context.Context, k int, buf []float64, fn func([]float64) error) error
	// integer reports whether the values are integers or booleans.
	integer() bool
}

// Reduce computes o.Op over src.
func Reduce(ctx context.Context, src Source, o Options) (*Result, error) {
	if o.DDOF < 0 {
		return nil, inputErr("ddof %d is negative", o.DDOF)
	}
	r, err := src.reduce(ctx, &o)
	if err != nil {
		return nil, err
	}
	r.Op, r.ddof, r.skipNaN = o.Op, o.DDOF, o.SkipNaN
	if o.Op.emptyIsError() {
		var n int64
		for i := range r.Partials {
			n += r.Partials[i].Count + r.Partials[i].NaN
		}
		if n == 0 {
			return nil, inputErr("empty input: %s needs at least one value", o.Op)
		}
	}
	return r, nil
}
