package compute

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var allOps = []Op{Mean, Sum, Min, Max, Var, Std, Count, Stats}

// naive computes op over a with plain two-pass formulas, for comparison.
func naive(a []float64, op Op, ddof int, skip bool) float64 {
	var vals []float64
	nan := false
	for _, v := range a {
		if math.IsNaN(v) {
			nan = true
			if skip {
				continue
			}
		}
		vals = append(vals, v)
	}
	if op == Count {
		return float64(len(vals))
	}
	if nan && !skip {
		return math.NaN()
	}
	n := float64(len(vals))
	s := 0.0
	for _, v := range vals {
		s += v
	}
	switch op {
	case Sum:
		return s
	case Mean, Stats:
		return s / n
	case Min, Max:
		if len(vals) == 0 {
			return math.NaN()
		}
		m := vals[0]
		for _, v := range vals {
			if (op == Min && v < m) || (op == Max && v > m) {
				m = v
			}
		}
		return m
	case Var, Std:
		mean := s / n
		m2 := 0.0
		for _, v := range vals {
			m2 += (v - mean) * (v - mean)
		}
		v := m2 / (n - float64(ddof))
		if op == Std {
			return math.Sqrt(v)
		}
		return v
	}
	return math.NaN()
}

func near(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return got == want || math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
}

func randData(seed uint64, n int, nanFrac float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	a := make([]float64, n)
	for i := range a {
		a[i] = r.NormFloat64()*3 + 1
		if r.Float64() < nanFrac {
			a[i] = math.NaN()
		}
	}
	return a
}

func TestFullReductionsMatchNaive(t *testing.T) {
	for _, nanFrac := range []float64{0, 0.01} {
		data := randData(1, 3*7*50, nanFrac)
		src := newSliceSource(t, data, []int{3, 7, 50}, []int{2, 3, 17})
		for _, op := range allOps {
			for _, skip := range []bool{false, true} {
				for _, ddof := range []int{0, 1} {
					r := mustReduce(t, src, Options{Op: op, SkipNaN: skip, DDOF: ddof})
					got, want := r.Value(), naive(data, op, ddof, skip)
					if !near(got, want) {
						t.Errorf("nan=%v %v skip=%v ddof=%d: got %v, want %v", nanFrac, op, skip, ddof, got, want)
					}
				}
			}
		}
	}
}

// axisSlices splits data of shape into the 1-D slices along ax, in the C
// order of the result.
func axisSlices(data []float64, shape []int, ax int) [][]float64 {
	rshape := append(append([]int(nil), shape[:ax]...), shape[ax+1:]...)
	out := make([][]float64, prod(rshape))
	idx := make([]int, len(shape))
	ridx := make([]int, len(rshape))
	for k, v := range data {
		unravel(k, shape, idx)
		copy(ridx, idx[:ax])
		copy(ridx[ax:], idx[ax+1:])
		j := ravel(ridx, rshape)
		out[j] = append(out[j], v)
	}
	return out
}

func TestAxisReductionsMatchNaive(t *testing.T) {
	cases := []struct{ shape, chunks []int }{
		{[]int{40}, []int{7}},
		{[]int{9, 13}, []int{4, 5}},
		{[]int{5, 6, 7}, []int{2, 4, 3}},
		{[]int{5, 6, 7}, nil},
	}
	for _, c := range cases {
		data := randData(2, prod(c.shape), 0.05)
		src := newSliceSource(t, data, c.shape, c.chunks)
		for ax := range c.shape {
			slices := axisSlices(data, c.shape, ax)
			for _, op := range allOps {
				for _, skip := range []bool{false, true} {
					r := mustReduce(t, src, Options{Op: op, Axis: []int{ax}, SkipNaN: skip, DDOF: 1})
					got := r.Values()
					if len(got) != len(slices) {
						t.Fatalf("%v axis %d: %d values, want %d", c.shape, ax, len(got), len(slices))
					}
					for i, s := range slices {
						if want := naive(s, op, 1, skip); !near(got[i], want) {
							t.Errorf("%v chunks %v axis %d %v skip=%v [%d]: got %v, want %v", c.shape, c.chunks, ax, op, skip, i, got[i], want)
						}
					}
				}
			}
		}
	}
}

func TestNegativeAxis(t *testing.T) {
	data := randData(3, 60, 0)
	src := newSliceSource(t, data, []int{6, 10}, []int{4, 4})
	a := mustReduce(t, src, Options{Op: Sum, Axis: []int{-1}}).Values()
	b := mustReduce(t, src, Options{Op: Sum, Axis: []int{1}}).Values()
	if !sameBits(a, b) {
		t.Fatalf("axis -1 %v != axis 1 %v", a, b)
	}
	if _, err := Reduce(context.Background(), src, Options{Axis: []int{2}}); !errors.Is(err, ErrInput) {
		t.Fatalf("axis 2 of a 2-D array: got %v, want ErrInput", err)
	}
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	for _, gen := range []RNG{FastRNG, DaskRNG} {
		src, err := NewRandom([]int{301, 207}, []int{64, 50}, 7, Normal, gen)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range allOps {
			for _, axis := range [][]int{nil, {0}, {1}} {
				var first []float64
				for _, w := range []int{1, 2, 3, 8} {
					got := mustReduce(t, src, Options{Op: op, Axis: axis, Workers: w}).Values()
					if first == nil {
						first = got
					} else if !sameBits(first, got) {
						t.Fatalf("%v %v axis %v: workers=%d differs from workers=1", gen, op, axis, w)
					}
				}
			}
		}
	}
}

func TestRandomSameSeedSameBits(t *testing.T) {
	a, _ := NewRandom([]int{1000}, []int{100}, 1, Uniform, FastRNG)
	b, _ := NewRandom([]int{1000}, []int{100}, 1, Uniform, FastRNG)
	c, _ := NewRandom([]int{1000}, []int{100}, 2, Uniform, FastRNG)
	va := mustReduce(t, a, Options{Op: Sum}).Value()
	vb := mustReduce(t, b, Options{Op: Sum}).Value()
	vc := mustReduce(t, c, Options{Op: Sum}).Value()
	if va != vb || va == vc {
		t.Fatalf("seed 1: %v and %v; seed 2: %v", va, vb, vc)
	}
}

// The mean of 1e6 values (4e6 without -short) is within 1e-15 of the exact
// (math/big) mean, relative to the mean magnitude of the values (for the
// uniform data that is the mean itself; normal data has a mean near 0, where
// no summation short of exact can promise 1e-15 of the result); the 1e8 case
// runs in TestMeanExact1e8.
func TestMeanMatchesExactSum(t *testing.T) {
	n := 4_000_000
	if testing.Short() {
		n = 1_000_000
	}
	for _, dist := range []Dist{Uniform, Normal} {
		src, _ := NewRandom([]int{n}, []int{300_000}, 11, dist, FastRNG)
		data := collect(t, src)
		want := exactMean(data)
		scale := 0.0
		for _, v := range data {
			scale += math.Abs(v)
		}
		scale /= float64(len(data))
		got := mustReduce(t, src, Options{Op: Mean}).Value()
		if e := math.Abs(got-want) / math.Max(math.Abs(want), scale); e > 1e-15 {
			t.Errorf("%v: mean %v, exact %v: relative error %.3g > 1e-15", dist, got, want, e)
		}
	}
}

// TestMeanExact1e8 checks the promise on 1e8 values (skipped with
// -short: it generates 800 MB to compute the exact sum).
func TestMeanExact1e8(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("1e8-value exactness check: run without -short and -race")
	}
	src, _ := NewRandom([]int{10000, 10000}, []int{1000, 1000}, 0, Uniform, FastRNG)
	// Exact sum chunk by chunk, in a fixed-point big.Int accumulator.
	acc := newExactAcc()
	w := newWorkerState()
	for k := range src.grid().NumChunks() {
		if err := src.read(context.Background(), k, w, func(a []float64, _ []int64) error {
			for _, v := range a {
				acc.add(v)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := acc.mean(1e8)
	got := mustReduce(t, src, Options{Op: Mean}).Value()
	if e := relErr(got, want); e > 1e-15 {
		t.Fatalf("mean %v, exact %v: relative error %.3g > 1e-15", got, want, e)
	}
}

func collect(t testing.TB, src arraySource) []float64 {
	t.Helper()
	var out []float64
	w := newWorkerState()
	for k := range src.grid().NumChunks() {
		if err := src.read(context.Background(), k, w, func(a []float64, _ []int64) error {
			out = append(out, a...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestEmptyInput(t *testing.T) {
	src := newSliceSource(t, nil, []int{0, 5}, nil)
	for _, op := range allOps {
		r, err := Reduce(context.Background(), src, Options{Op: op})
		switch op {
		case Sum, Count:
			if err != nil || r.Value() != 0 {
				t.Errorf("%v of empty input: %v, %v; want 0", op, r, err)
			}
		default:
			if !errors.Is(err, ErrInput) {
				t.Errorf("%v of empty input: err %v, want ErrInput", op, err)
			}
		}
	}
}

func TestShapeOverflowRefused(t *testing.T) {
	_, err := NewRandom([]int{1 << 40, 1 << 40}, nil, 0, Uniform, FastRNG)
	if !errors.Is(err, ErrInput) {
		t.Fatalf("got %v, want ErrInput", err)
	}
}

// TestCancelStopsPromptly cancels a 65536-chunk job after two chunks: it
// ends with context.Canceled, and no worker starts reducing another chunk
// (at most one chunk per other worker, finished before the cancel, is
// still reported).
func TestCancelStopsPromptly(t *testing.T) {
	src, _ := NewRandom([]int{1 << 40}, []int{1 << 24}, 0, Uniform, FastRNG)
	ctx, cancel := context.WithCancel(context.Background())
	const workers = 4
	calls := 0
	_, err := Reduce(ctx, src, Options{Op: Mean, Workers: workers, Progress: func(done, total int) {
		calls++
		if calls == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if calls > 2+workers-1 {
		t.Fatalf("%d chunks reported after cancelling at the 2nd, want at most %d more", calls-2, workers-1)
	}
}

type panicSource struct{ *sliceSource }

func (p panicSource) read(ctx context.Context, k int, w *workerState, fn func([]float64, []int64) error) error {
	if k == 3 {
		panic("boom")
	}
	return p.sliceSource.read(ctx, k, w, fn)
}
func (p panicSource) reduce(ctx context.Context, o *Options) (*Result, error) {
	return reduceArray(ctx, p, o)
}

func TestPanicBecomesError(t *testing.T) {
	src := panicSource{newSliceSource(t, randData(1, 100, 0), []int{100}, []int{10})}
	_, err := Reduce(context.Background(), src, Options{Op: Sum})
	if err == nil || err.Error() != "compute: chunk 3: panic: boom" {
		t.Fatalf("got %v, want the panic as an error", err)
	}
}

func TestPartialMergeMatchesWhole(t *testing.T) {
	data := randData(5, 10000, 0)
	scratch := make([]float64, npBlock)
	whole := reduceBlock(data, Stats.needs(), scratch)
	var merged Partial
	for i := 0; i < len(data); i += 777 {
		b := reduceBlock(data[i:min(i+777, len(data))], Stats.needs(), scratch)
		merged.Merge(&b)
	}
	for _, op := range []Op{Mean, Var, Min, Max, Count} {
		if a, b := whole.Value(op, 0, false).Float, merged.Value(op, 0, false).Float; !near(a, b) {
			t.Errorf("%v: whole %v, merged %v", op, a, b)
		}
	}
}

func TestInfinities(t *testing.T) {
	data := []float64{1, math.Inf(1), 3}
	src := newSliceSource(t, data, []int{3}, nil)
	want := map[Op]float64{Sum: math.Inf(1), Mean: math.Inf(1), Max: math.Inf(1), Min: 1, Var: math.NaN(), Count: 3}
	for op, w := range want {
		if got := mustReduce(t, src, Options{Op: op}).Value(); !sameBits([]float64{got}, []float64{w}) {
			t.Errorf("%v of %v = %v, want %v", op, data, got, w)
		}
	}
	data = []float64{math.Inf(1), math.Inf(-1)}
	if got := mustReduce(t, newSliceSource(t, data, []int{2}, nil), Options{Op: Sum}).Value(); !math.IsNaN(got) {
		t.Errorf("inf + -inf = %v, want nan", got)
	}
}
