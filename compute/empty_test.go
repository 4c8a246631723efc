package compute

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/dsys-dev/dsys/compute/npy"
)

// A reduced axis of length 0 gives NumPy's answer: zeros for sum and count
// along it (np.zeros((0, 5)).sum(axis=0)), an empty result along the other
// axis, and an error for ops that need a value.
func TestEmptyAxes(t *testing.T) {
	cases := []struct {
		shape, chunks []int
		axis          []int
		n             int // result elements
	}{
		{[]int{0, 5}, []int{1000, 1000}, []int{0}, 5},
		{[]int{0, 5}, nil, []int{1}, 0},
		{[]int{0, 20}, []int{7, 3}, []int{0}, 20},
		{[]int{3, 0, 4}, nil, []int{1}, 12},
		{[]int{3, 0, 4}, nil, []int{0, 2}, 0},
		{[]int{0}, nil, nil, 1},
	}
	for _, c := range cases {
		for _, gen := range []RNG{FastRNG, DaskRNG} {
			src, err := NewRandom(c.shape, c.chunks, 1, Uniform, gen)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range []Op{Sum, Count} {
				r := mustReduce(t, src, Options{Op: op, Axis: c.axis})
				if r.Len() != c.n {
					t.Fatalf("%v axis %v %v: %d elements, want %d", c.shape, c.axis, op, r.Len(), c.n)
				}
				for i := range r.Len() {
					if r.Elem(i).Float != 0 {
						t.Fatalf("%v axis %v %v[%d] = %v, want 0", c.shape, c.axis, op, i, r.Elem(i))
					}
				}
			}
			for _, op := range []Op{Mean, Min, Max, Var, Std, Stats} {
				_, err := Reduce(context.Background(), src, Options{Op: op, Axis: c.axis})
				if c.n > 0 && !errors.Is(err, ErrInput) {
					t.Errorf("%v axis %v %v: %v, want the empty-input error", c.shape, c.axis, op, err)
				}
				if c.n == 0 && err != nil {
					t.Errorf("%v axis %v %v: %v, want an empty result", c.shape, c.axis, op, err)
				}
			}
		}
	}
}

// emptyNPY is a .npy file of shape with no data bytes.
func emptyNPY(t *testing.T, shape []int) string {
	t.Helper()
	return writeFile(t, "e.npy", npy.EncodeHeader(npy.Float64, false, shape))
}

// Huge empty shapes cost what their data costs: nothing. A (2^62, 0) file
// would make 2^42 empty chunks, and (10^12, 0) reduced along axis 1 has 10^12
// result elements: all zero, and none of them stored.
func TestHugeEmptyShapesCostNothing(t *testing.T) {
	for _, c := range []struct {
		shape []int
		axis  []int
		n     int
	}{
		{[]int{1 << 62, 0}, nil, 1},
		{[]int{1 << 62, 0}, []int{0}, 0},
		{[]int{1 << 62, 0}, []int{1}, 1 << 62},
		{[]int{1_000_000_000_000, 0}, []int{1}, 1_000_000_000_000},
		{[]int{0, 1 << 40, 1 << 20}, []int{0}, 1 << 60},
	} {
		f, err := OpenNPY(emptyNPY(t, c.shape), FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		chunks := 0
		r, err := Reduce(context.Background(), f, Options{Op: Sum, Axis: c.axis, Progress: func(int, int) { chunks++ }})
		runtime.ReadMemStats(&after)
		f.Close()
		if err != nil {
			t.Fatalf("%v axis %v: %v", c.shape, c.axis, err)
		}
		if r.Len() != c.n || chunks != 0 {
			t.Fatalf("%v axis %v: %d elements, %d chunks; want %d elements and no chunk", c.shape, c.axis, r.Len(), chunks, c.n)
		}
		if c.n > 0 && (r.Elem(0).String() != "0.0" || r.Elem(c.n-1).String() != "0.0") {
			t.Fatalf("%v axis %v: elements %v … %v, want 0.0", c.shape, c.axis, r.Elem(0), r.Elem(c.n-1))
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%v axis %v: allocated %d bytes, want well under 1 MB", c.shape, c.axis, d)
		}
	}
}

// The result of an empty integer input is an integer 0; of a float one, 0.0
// (as np.zeros((0,), dtype) sums).
func TestEmptySumKeepsItsType(t *testing.T) {
	for descr, want := range map[string]string{"<i8": "0", "<f8": "0.0", "|u1": "0"} {
		p := writeFile(t, "e.npy", npyBytes(t, descr, false, []int{0, 3}, nil))
		f, err := OpenNPY(p, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := mustReduce(t, f, Options{Op: Sum, Axis: []int{0}})
		f.Close()
		if r.Len() != 3 || r.Elem(2).String() != want {
			t.Errorf("%s: %d elements, last %v; want 3 × %s", descr, r.Len(), r.Elem(2), want)
		}
	}
}
