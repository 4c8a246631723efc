package compute

import (
	"log/slog"
	"runtime"
)

// Options says what to compute and how. The zero value is the mean over all
// axes, NaN propagating, ddof 0, one worker per CPU, no progress reports.
type Options struct {
	Op Op
	// Axis lists the axes to reduce; nil reduces all of them (a scalar
	// result). One axis is supported; negative values count from the end.
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

// axis resolves Options.Axis against a rank: -1 for a full reduction.
func (o *Options) axis(rank int) (int, error) {
	switch len(o.Axis) {
	case 0:
		return -1, nil
	case 1:
	default:
		return 0, inputErr("reducing %d axes at once is not supported: give one axis or none", len(o.Axis))
	}
	a := o.Axis[0]
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, inputErr("axis %d is out of range for an array of rank %d", o.Axis[0], rank)
	}
	return a, nil
}
