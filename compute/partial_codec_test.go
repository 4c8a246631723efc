package compute

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// Partials travel between machines: both encodings keep every bit, and
// merging decoded partials gives what merging the originals gives.
func TestPartialRoundTrips(t *testing.T) {
	data := append(randData(6, 5000, 0.01), math.Inf(-1))
	s := make([]float64, npBlock)
	a := reduceBlock(data[:2500], Stats.needs(), s)
	b := reduceBlock(data[2500:], Stats.needs(), s)
	huge := reduceBlock([]float64{1.7e308, 1.7e308, 1, math.Inf(1)}, Stats.needs(), s)
	ints := Partial{Count: 3}
	ints.setInts(intBlock([]int64{-1 << 63, 1<<63 - 1, -1 << 63}, false))
	uints := Partial{Count: 2}
	uints.setInts(intBlock([]int64{-1, -2}, true)) // 2^64-1, 2^64-2
	for _, p := range []Partial{a, b, {}, huge, ints, uints} {
		bin, _ := p.MarshalBinary()
		var q Partial
		if err := q.UnmarshalBinary(bin); err != nil || !samePartial(p, q) {
			t.Fatalf("binary: %+v -> %+v (%v)", p, q, err)
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var r Partial
		if err := json.Unmarshal(js, &r); err != nil || !samePartial(p, r) {
			t.Fatalf("json %s: %+v -> %+v (%v)", js, p, r, err)
		}
	}
	js, _ := json.Marshal(b)
	var b2 Partial
	_ = json.Unmarshal(js, &b2)
	m1, m2 := a, a
	m1.Merge(&b)
	m2.Merge(&b2)
	if !samePartial(m1, m2) {
		t.Fatalf("merge after a round trip differs: %+v vs %+v", m1, m2)
	}
}

func samePartial(p, q Partial) bool {
	pf, qf := p.floats(), q.floats()
	return p.Count == q.Count && p.NaN == q.NaN && p.HasMM == q.HasMM && p.Frac == q.Frac && p.Inf == q.Inf &&
		p.ISum == q.ISum && p.IMin == q.IMin && p.IMax == q.IMax && sameBits(pf[:], qf[:])
}

// ChunkPartials is the unit of work a remote worker runs: combining the
// vectors of every chunk in the tree gives Reduce's result to the bit, for
// full and axis reductions, float and integer data.
func TestChunkPartialsCombineToReduce(t *testing.T) {
	rnd, _ := NewRandom([]int{50, 60, 7}, []int{9, 25, 3}, 3, Normal, FastRNG)
	var b []byte
	for i := range 40 * 30 {
		b = binary.LittleEndian.AppendUint64(b, uint64(int64(i*i*977)-1<<60))
	}
	p := writeFile(t, "i.npy", npyBytes(t, "<i8", false, []int{40, 30}, b))
	ints, err := OpenNPY(p, FileOptions{Chunks: []int{7, 11}})
	if err != nil {
		t.Fatal(err)
	}
	defer ints.Close()
	for _, src := range []interface {
		Source
		arraySource
	}{rnd, ints} {
		rank := len(src.grid().Shape)
		for _, axis := range [][]int{nil, {0}, {rank - 1}, {0, rank - 1}} {
			for _, op := range []Op{Mean, Sum, Var, Max} {
				o := Options{Op: op, Axis: axis}
				want := mustReduce(t, src, o)
				j, err := newArrayJob(src, &o)
				if err != nil {
					t.Fatal(err)
				}
				got := newResult(&o, j.rshape, j.ints)
				var comb *combiner
				comb = newCombiner(j.g, j.red, false, func(cell int, vec []Partial) {
					start, size := comb.keptBox(j.g, cell)
					j.scatter(got, start, size, 0, vec)
				})
				for k := range j.g.NumChunks() { // in reverse: order does not matter
					k = j.g.NumChunks() - 1 - k
					vec, err := ChunkPartials(context.Background(), src, k, o)
					if err != nil {
						t.Fatal(err)
					}
					// Through the wire format, as a worker would send it.
					for i := range vec {
						bin, _ := vec[i].MarshalBinary()
						if err := vec[i].UnmarshalBinary(bin); err != nil {
							t.Fatal(err)
						}
					}
					comb.add(k, vec)
				}
				for i := range want.Len() {
					if g, w := got.Elem(i), want.Elem(i); g.String() != w.String() || math.Float64bits(g.Float) != math.Float64bits(w.Float) {
						t.Fatalf("%T axis %v %v [%d]: combined %v, Reduce %v", src, axis, op, i, g, w)
					}
				}
			}
		}
	}
}
