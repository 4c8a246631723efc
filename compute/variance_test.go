package compute

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/compute/npy"
	"github.com/dsys-dev/dsys/internal/testenv"
)

// exactVar is the variance of a with divisor n-ddof, computed in 4096-bit
// arithmetic (exact to far beyond float64 for these data).
func exactVar(a []float64, ddof int) float64 {
	const prec = 4096
	sum := new(big.Float).SetPrec(prec)
	for _, v := range a {
		sum.Add(sum, new(big.Float).SetFloat64(v))
	}
	mean := new(big.Float).SetPrec(prec).Quo(sum, new(big.Float).SetInt64(int64(len(a))))
	m2 := new(big.Float).SetPrec(prec)
	d := new(big.Float).SetPrec(prec)
	for _, v := range a {
		d.Sub(new(big.Float).SetFloat64(v), mean)
		m2.Add(m2, d.Mul(d, d))
	}
	m2.Quo(m2, new(big.Float).SetInt64(int64(len(a)-ddof)))
	f, _ := m2.Float64()
	return f
}

func ulpsOff(got, want float64) float64 {
	return math.Abs(got-want) / (math.Nextafter(want, math.Inf(1)) - want)
}

// TestVarianceNeverWorseThanNumPy: on data with a large offset (where
// merging blocks through rounded means used to cost six digits), var is
// never further from the exact variance than NumPy's np.var on the same
// data, on any chunking (one value per chunk included), and within a few
// ulp for one chunk of one block.
func TestVarianceNeverWorseThanNumPy(t *testing.T) {
	py := testenv.Python(t, "numpy")
	n := 200_000
	if testing.Short() || raceEnabled {
		n = 40_000
	}
	type dataset struct {
		name string
		vals []float64
	}
	rng := rand.New(rand.NewPCG(13, 17))
	var sets []dataset
	for _, off := range []float64{0, 1.7e9, 1e12, -3e7} {
		a := make([]float64, n)
		for i := range a {
			a[i] = off + rng.Float64()
		}
		sets = append(sets, dataset{fmt.Sprintf("U+%g", off), a})
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = 5e10 + 1e-3*rng.NormFloat64()
	}
	sets = append(sets, dataset{"N(5e10,1e-3)", b})
	dir := t.TempDir()
	var paths []string
	for i, s := range sets {
		p := filepath.Join(dir, fmt.Sprintf("v%d.npy", i))
		if err := npy.WriteFile(p, []int{len(s.vals)}, s.vals); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	script := "import sys, numpy as np\nfor p in sys.argv[1:]:\n a = np.load(p)\n print(repr(float(np.var(a))), repr(float(np.var(a, ddof=1))))\n"
	out, err := exec.Command(py, append([]string{"-c", script}, paths...)...).Output()
	if err != nil {
		t.Fatalf("numpy: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, s := range sets {
		np := strings.Fields(lines[i])
		for ddof := range 2 {
			want := exactVar(s.vals, ddof)
			npErr := relErr(parseRepr(t, np[ddof]), want)
			for _, chunk := range []int{1, 7, 1000, 8192, 8193, 65536, n} {
				vals := s.vals
				if chunk == 1 {
					vals = vals[:4000] // 4000 chunks of one value
				}
				w := want
				if chunk == 1 {
					w = exactVar(vals, ddof)
				}
				src := newSliceSource(t, vals, []int{len(vals)}, []int{chunk})
				got := mustReduce(t, src, Options{Op: Var, DDOF: ddof, Workers: 3}).Value()
				if e := relErr(got, w); e > max(npErr, 4e-16) {
					t.Errorf("%s ddof %d chunks of %d: var %v, exact %v: relative error %.2g, NumPy's %.2g",
						s.name, ddof, chunk, got, w, e, npErr)
				}
			}
			// One block in one chunk: a few ulp.
			blk := s.vals[:npBlock]
			src := newSliceSource(t, blk, []int{npBlock}, nil)
			got := mustReduce(t, src, Options{Op: Var, DDOF: ddof}).Value()
			if u := ulpsOff(got, exactVar(blk, ddof)); u > 4 {
				t.Errorf("%s ddof %d, one block: %v is %.1f ulp from exact", s.name, ddof, got, u)
			}
		}
	}
}

// The same holds along an axis: per-column (strided) and per-row variance
// of offset data, against the exact value of each slice.
func TestAxisVarianceAccurate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows, cols := 3000, 5
	data := make([]float64, rows*cols)
	for i := range data {
		data[i] = 1.7e9 + rng.Float64()
	}
	for _, c := range []struct{ shape, chunks []int }{
		{[]int{rows, cols}, []int{rows, cols}},
		{[]int{rows, cols}, []int{77, 2}},
		{[]int{cols, rows}, []int{cols, rows}},
		{[]int{cols, rows}, []int{2, 333}},
	} {
		src := newSliceSource(t, data, c.shape, c.chunks)
		for ax := range 2 {
			got := mustReduce(t, src, Options{Op: Var, Axis: []int{ax}}).Values()
			for i, s := range axisSlices(data, c.shape, ax) {
				if e := relErr(got[i], exactVar(s, 0)); e > 1e-14 {
					t.Errorf("shape %v chunks %v axis %d [%d]: relative error %.2g", c.shape, c.chunks, ax, i, e)
					break
				}
			}
		}
	}
}

// ddof ≥ N divides by max(N-ddof, 0) as NumPy does: inf, or nan when every
// value is equal; a variance that overflows is inf; data holding ±Inf has a
// NaN variance.
func TestVarianceEdgesLikeNumPy(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	cases := []struct {
		data []float64
		ddof int
		want float64
	}{
		{[]float64{1, 2, 3}, 3, inf},
		{[]float64{1, 2, 3}, 5, inf},
		{[]float64{1, 1, 1}, 3, nan},
		{[]float64{5}, 1, nan},
		{[]float64{1, 2, 3}, 2, 2},
		{[]float64{1e200, -1e200}, 0, inf},
		{[]float64{1.7e308, -1.7e308}, 0, inf},
		{[]float64{1.7e308, 1.7e308}, 0, 0}, // NumPy: inf (its mean overflows)
		{[]float64{1, inf, 3}, 0, nan},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 2, len(c.data)} {
			src := newSliceSource(t, c.data, []int{len(c.data)}, []int{chunk})
			got := mustReduce(t, src, Options{Op: Var, DDOF: c.ddof}).Value()
			if !sameBits([]float64{got}, []float64{c.want}) {
				t.Errorf("var(%v, ddof=%d) chunks of %d = %v, want %v", c.data, c.ddof, chunk, got, c.want)
			}
		}
	}
}

// A sum whose exact value is finite is never ±Inf, however its partial sums
// overflow on the way, on any chunking; its mean and the mean of huge values
// are finite too (NumPy: -inf for the first case, inf for the means), and
// as accurate as a sum of values that size can be.
func TestSumNeverOverflowsWhenFinite(t *testing.T) {
	m := 1.7e308
	cases := [][]float64{
		{-m, -m, m, m, m},
		{m, m, -m, -m, m, -m, m},
		{m, m, m, m, -m, -m, -m, 1},
		{m, m},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	big := make([]float64, 20000) // many huge values, exact sum small
	for i := range big {
		big[i] = m * (1 - 2*float64(i%2)) * (1 - rng.Float64()*1e-3)
	}
	cases = append(cases, big)
	for _, data := range cases {
		acc := newExactAcc()
		for _, v := range data {
			acc.add(v)
		}
		wantMean := acc.mean(float64(len(data)))
		wantSum := acc.mean(1)
		scale := 0.0 // mean |v|: summation error is relative to Σ|v|, not to Σv
		for _, v := range data {
			scale += math.Abs(v) / float64(len(data))
		}
		for _, chunk := range []int{1, 2, 3, len(data)} {
			src := newSliceSource(t, data, []int{len(data)}, []int{chunk})
			for _, c := range []struct {
				op   Op
				want float64
			}{{Sum, wantSum}, {Mean, wantMean}} {
				if math.IsInf(c.want, 0) {
					continue // {m, m}: only its mean is finite
				}
				got := mustReduce(t, src, Options{Op: c.op}).Value()
				tol := 1e-14 * scale
				if c.op == Sum {
					tol *= float64(len(data))
				}
				if math.IsInf(got, 0) || math.Abs(got-c.want) > tol {
					t.Errorf("%v of %d values (chunks of %d) = %v, exact %v", c.op, len(data), chunk, got, c.want)
				}
			}
		}
	}
	// Exact sums beyond float64's range still round to ±Inf.
	src := newSliceSource(t, []float64{m, m}, []int{2}, nil)
	if got := mustReduce(t, src, Options{Op: Sum}).Value(); !math.IsInf(got, 1) {
		t.Errorf("sum of 2×1.7e308 = %v, want +Inf", got)
	}
}
