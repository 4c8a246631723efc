package rng

import (
	"math"
	"math/bits"
	"testing"

	"gonum.org/v1/gonum/mathext/prng"
)

func TestMT19937MatchesGonum(t *testing.T) {
	var m MT19937
	g := prng.NewMT19937()
	m.Seed(5489)
	g.Seed(5489)
	for i := range 2000 {
		if a, b := m.Uint32(), g.Uint32(); a != b {
			t.Fatalf("Seed: output %d: got %d, gonum %d", i, a, b)
		}
	}
	keys := []uint32{0x123, 0x234, 0x345, 0x456}
	m.SeedFromKeys(keys)
	g.SeedFromKeys(keys)
	for i := range 2000 {
		if a, b := m.Uint32(), g.Uint32(); a != b {
			t.Fatalf("SeedFromKeys: output %d: got %d, gonum %d", i, a, b)
		}
	}
}

// The reference outputs of mt19937ar.c's main() (init_by_array with these keys).
func TestMT19937Reference(t *testing.T) {
	var m MT19937
	m.SeedFromKeys([]uint32{0x123, 0x234, 0x345, 0x456})
	want := []uint32{1067595299, 955945823, 477289528, 4107218783, 4228976476}
	for i, w := range want {
		if got := m.Uint32(); got != w {
			t.Fatalf("output %d = %d, want %d", i, got, w)
		}
	}
}

func TestWyUniformRange(t *testing.T) {
	w := NewWy(42)
	buf := make([]float64, 1<<16)
	w.FillUniform(buf)
	var sum float64
	for _, v := range buf {
		if v < 0 || v >= 1 {
			t.Fatalf("value %v outside [0,1)", v)
		}
		sum += v
	}
	if m := sum / float64(len(buf)); math.Abs(m-0.5) > 0.01 {
		t.Fatalf("mean %v, want about 0.5", m)
	}
}

func TestWyFillMatchesFloat64(t *testing.T) {
	a, b := NewWy(7), NewWy(7)
	buf := make([]float64, 100)
	a.FillUniform(buf)
	for i, v := range buf {
		if w := b.Float64(); v != w {
			t.Fatalf("%d: fill %v, Float64 %v", i, v, w)
		}
	}
}

func TestNormalMoments(t *testing.T) {
	w := NewWy(1)
	const n = 1 << 20
	var s, s2, s4 float64
	for range n {
		x := w.Normal()
		s += x
		s2 += x * x
		s4 += x * x * x * x
	}
	mean, v, kurt := s/n, s2/n, s4/n
	if math.Abs(mean) > 0.005 || math.Abs(v-1) > 0.01 || math.Abs(kurt-3) > 0.05 {
		t.Fatalf("mean %v var %v 4th moment %v, want 0, 1, 3", mean, v, kurt)
	}
}

func BenchmarkWyFillUniform(b *testing.B) {
	w := NewWy(1)
	buf := make([]float64, 8192)
	b.SetBytes(8 * 8192)
	for b.Loop() {
		w.FillUniform(buf)
	}
}

func BenchmarkWyFillNormal(b *testing.B) {
	w := NewWy(1)
	buf := make([]float64, 8192)
	b.SetBytes(8 * 8192)
	for b.Loop() {
		w.FillNormal(buf)
	}
}

func BenchmarkMTFillUniform(b *testing.B) {
	var m MT19937
	m.Seed(1)
	buf := make([]float64, 8192)
	b.SetBytes(8 * 8192)
	for b.Loop() {
		m.FillUniform(buf)
	}
}

func TestSumUniform53MatchesFill(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 4095, 4096, 4097, 100_003} {
		a, b := NewWy(uint64(n)), NewWy(uint64(n))
		buf := make([]float64, n)
		a.FillUniform(buf)
		var hi, lo uint64
		for _, v := range buf {
			var c uint64
			lo, c = bits.Add64(lo, uint64(v*(1<<53)), 0)
			hi += c
		}
		ghi, glo := b.SumUniform53(n)
		if ghi != hi || glo != lo || a.s != b.s {
			t.Fatalf("n=%d: sum %d:%d, want %d:%d (state %x vs %x)", n, ghi, glo, hi, lo, b.s, a.s)
		}
	}
}

func TestMTFillMatchesFloat64(t *testing.T) {
	var a, b MT19937
	a.SeedFromKeys([]uint32{1, 2, 3})
	b.SeedFromKeys([]uint32{1, 2, 3})
	a.Uint32() // an odd offset: pairs straddle the refills
	b.Uint32()
	buf := make([]float64, 5000)
	for _, n := range []int{1, 311, 312, 313, 1000, 3363} {
		a.FillUniform(buf[:n])
		for i, v := range buf[:n] {
			if w := b.Float64(); v != w {
				t.Fatalf("n=%d [%d]: fill %v, Float64 %v", n, i, v, w)
			}
		}
	}
}

func TestFillNormalMatchesNormal(t *testing.T) {
	a, b := NewWy(3), NewWy(3)
	buf := make([]float64, 100_000)
	a.FillNormal(buf)
	for i, v := range buf {
		if w := b.Normal(); v != w {
			t.Fatalf("[%d]: fill %v, Normal %v", i, v, w)
		}
	}
}
