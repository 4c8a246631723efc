package compute

import (
	"context"
	"math"
	"math/big"
	"testing"
)

// sliceSource is an in-memory arraySource for unit tests.
type sliceSource struct {
	g    Grid
	data []float64 // C order over g.Shape
}

func newSliceSource(t testing.TB, data []float64, shape, chunks []int) *sliceSource {
	t.Helper()
	g, err := NewGrid(shape, chunks)
	if err != nil {
		t.Fatal(err)
	}
	if g.Size() != len(data) {
		t.Fatalf("shape %v holds %d values, data has %d", shape, g.Size(), len(data))
	}
	return &sliceSource{g: g, data: data}
}

func (s *sliceSource) grid() Grid            { return s.g }
func (s *sliceSource) integer() (bool, bool) { return false, false }
func (s *sliceSource) reduce(ctx context.Context, o *Options) (*Result, error) {
	return reduceArray(ctx, s, o)
}

func (s *sliceSource) read(ctx context.Context, k int, w *workerState, fn func([]float64, []int64) error) error {
	buf := w.buf
	start, size := s.g.Region(k)
	n := prod(size)
	idx := make([]int, len(size))
	glob := make([]int, len(size))
	m := 0
	for i := range n {
		unravel(i, size, idx)
		for j := range idx {
			glob[j] = start[j] + idx[j]
		}
		buf[m] = s.data[ravel(glob, s.g.Shape)]
		m++
		if m == len(buf) || i == n-1 {
			if err := fn(buf[:m], nil); err != nil {
				return err
			}
			m = 0
		}
	}
	return nil
}

// exactMean is the correctly rounded mean of a, computed with math/big.
func exactMean(a []float64) float64 {
	sum := new(big.Float).SetPrec(2048)
	for _, v := range a {
		sum.Add(sum, new(big.Float).SetFloat64(v))
	}
	sum.Quo(sum, new(big.Float).SetPrec(2048).SetInt64(int64(len(a))))
	f, _ := sum.Float64()
	return f
}

func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / math.Abs(want)
}

func mustReduce(t testing.TB, src Source, o Options) *Result {
	t.Helper()
	r, err := Reduce(context.Background(), src, o)
	if err != nil {
		t.Fatalf("Reduce(%v): %v", o.Op, err)
	}
	return r
}

// sameBits compares float slices bit for bit (NaN equal to NaN).
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}
