package compute

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
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

// randomPartial fills each field with zero or random bits (NaN payloads,
// signed zeros and infinities among them).
func randomPartial(r *rand.Rand) Partial {
	f := func() float64 {
		switch r.IntN(5) {
		case 0:
			return 0
		case 1:
			return math.Copysign(0, -1)
		case 2:
			return math.Float64frombits(0x7ff8000000000000 | r.Uint64()>>13) // a NaN with a payload
		}
		return math.Float64frombits(r.Uint64())
	}
	i := func() Int128 {
		if r.IntN(2) == 0 {
			return Int128{}
		}
		return Int128{Hi: int64(r.Uint64()), Lo: r.Uint64()}
	}
	n := func() int64 {
		if r.IntN(3) == 0 {
			return 0
		}
		return int64(r.Uint64() >> r.IntN(64))
	}
	return Partial{Count: n(), NaN: n(), Sum: f(), SumC: f(), Big: f(), BigC: f(), Inf: uint8(r.IntN(4)),
		Mean: f(), MeanC: f(), M2: f(), Min: f(), Max: f(), HasMM: r.IntN(2) == 0, Frac: r.IntN(2) == 0,
		ISum: i(), IMin: i(), IMax: i()}
}

func binaryOf(t testing.TB, ps []Partial) []byte {
	var b []byte
	for _, p := range ps {
		m, _ := p.MarshalBinary()
		b = append(b, m...)
	}
	return b
}

// A chunk's vector keeps every bit of every partial through
// AppendPartials, and a mean's partial takes about 20 bytes.
func TestAppendPartialsKeepsEveryBit(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	ps := make([]Partial, 2000)
	for i := range ps {
		ps[i] = randomPartial(r)
	}
	ps = append(ps, Partial{})
	for _, v := range [][]Partial{ps, nil, {{}}} {
		got, err := DecodePartials(AppendPartials(nil, v))
		if err != nil || len(got) != len(v) || !bytes.Equal(binaryOf(t, got), binaryOf(t, v)) {
			t.Fatalf("%d partials: decoded %d, %v", len(v), len(got), err)
		}
	}
	rnd, _ := NewRandom([]int{1000, 1000}, nil, 0, Uniform, FastRNG)
	vec, err := ChunkPartials(context.Background(), rnd, 0, Options{Op: Mean, Axis: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(AppendPartials(nil, vec)); n > 25*len(vec) {
		t.Fatalf("a mean's vector of %d partials takes %d bytes", len(vec), n)
	}
	for _, bad := range [][]byte{nil, {2}, {vectorVersion}, {vectorVersion, 1}, {vectorVersion, 1, 0xff, 0xff},
		{vectorVersion, 1, 0x00, 0x40, 0xf0}, append(AppendPartials(nil, ps[:1]), 0)} {
		if _, err := DecodePartials(bad); err == nil {
			t.Errorf("DecodePartials(%x) = nil error", bad)
		}
	}
}

// DecodePartials never panics, and what it accepts encodes and decodes
// back to the same partials.
func FuzzDecodePartials(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	f.Add(AppendPartials(nil, []Partial{randomPartial(r), {}, randomPartial(r)}))
	f.Add([]byte{vectorVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := DecodePartials(b)
		if err != nil {
			return
		}
		again, err := DecodePartials(AppendPartials(nil, ps))
		if err != nil || !bytes.Equal(binaryOf(t, again), binaryOf(t, ps)) {
			t.Fatalf("%x: decoded %d partials that do not survive a round trip (%v)", b, len(ps), err)
		}
	})
}
