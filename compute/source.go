package compute

import "context"

// Source is an array to reduce: Random, an array file (OpenNPY, OpenRaw,
// Input.NPY, Input.Raw), Text or CSV.
type Source interface {
	reduce(ctx context.Context, o *Options) (*Result, error)
}

// arraySource is a Source with a known shape, read chunk by chunk.
type arraySource interface {
	grid() Grid
	// read streams chunk k's values, in C order within the chunk, to fn in
	// pieces of at most npBlock values, so that NumPy's buffer boundaries
	// fall where NumPy puts them: as float64s, and for an integer source
	// also exactly, as int64s (uint64 bits for unsigned 64-bit data). w's
	// buf (and ints) are the scratch for the values. A piece is only valid
	// during the call.
	read(ctx context.Context, k int, w *workerState, fn func(f []float64, i []int64) error) error
	// integer reports whether the values are integers or booleans, and
	// whether they are unsigned 64-bit integers.
	integer() (ints, unsigned bool)
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
	if o.Op.emptyIsError() && r.hasEmpty.Load() {
		return nil, inputErr("empty input: %s needs at least one value", o.Op)
	}
	return r, nil
}
