package compute

import (
	"log/slog"
	"runtime"
)

// Options says what to compute and how. The zero value is the mean over all
// axes, NaN propagating, ddof 0, one worker per CPU, no progress reports.
type Options struct {
	Op Op
	// Axis lists the axes to reduce, as NumPy's axis argument: negative
	// values count from the end, order does not matter, an axis may not
	// repeat. nil (or empty) reduces all of them (a scalar result).
	Axis []int
	// DDOF is the delta degrees of freedom of Var and Std: the divisor is
	// N-DDOF (0, as in NumPy, gives the population variance).
	DDOF int
	// SkipNaN ignores NaN values (numpy.nanmean and friends). Without it a
	// NaN anywhere makes the result NaN.
	SkipNaN bool
	// DaskCompat sums each chunk the way NumPy 1.24 does and combines chunk
	// sums in Dask 2022.12's split_every=4 tree, so Mean and Sum reproduce
	// Dask's results to the bit for the same values and chunks. Other ops
	// are unaffected.
	DaskCompat bool
	// Workers is the number of chunks processed at once; 0 means
	// runtime.GOMAXPROCS(0). Memory grows with Workers × chunk size.
	Workers int
	// Progress, if set, is called after each chunk with the number of
	// chunks done and the total (0 when unknown, for streamed text). Calls
	// never overlap; keep it cheap.
	Progress func(done, total int)
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

func (o *Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// reduced resolves Options.Axis against a rank: which axes are reduced.
func (o *Options) reduced(rank int) ([]bool, error) {
	red := make([]bool, rank)
	if len(o.Axis) == 0 {
		for i := range red {
			red[i] = true
		}
		return red, nil
	}
	for _, a := range o.Axis {
		ax := a
		if ax < 0 {
			ax += rank
		}
		if ax < 0 || ax >= rank {
			return nil, inputErr("axis %d is out of range for an array of rank %d", a, rank)
		}
		if red[ax] {
			return nil, inputErr("axis %d is repeated in axes %s", a, FormatShape(o.Axis))
		}
		red[ax] = true
	}
	return red, nil
}
