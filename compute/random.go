package compute

import (
	"context"
	"math"
	"math/big"
	"sync"

	"github.com/dsys-dev/dsys/compute/internal/rng"
)

// Dist is the distribution of Random values.
type Dist int

// The distributions.
const (
	Uniform Dist = iota // uniform on [0, 1)
	Normal              // standard normal
)

// ParseDist reads "uniform" or "normal".
func ParseDist(s string) (Dist, error) {
	switch s {
	case "uniform", "":
		return Uniform, nil
	case "normal":
		return Normal, nil
	}
	return 0, inputErr("unknown distribution %q (want uniform or normal)", s)
}

func (d Dist) String() string {
	if d == Normal {
		return "normal"
	}
	return "uniform"
}

// RNG picks the generator of Random.
type RNG int

// The generators.
const (
	// FastRNG is wyrand seeded per chunk from (Seed, chunk index): about
	// 1 ns per value, and the same bits for the same seed, shape and chunks
	// whatever the number of workers.
	FastRNG RNG = iota
	// DaskRNG reproduces Dask's legacy da.random.seed(Seed);
	// da.random.random(shape, chunks=...) bit for bit (standard_normal to
	// within 3 ulp: Go's math.Log and glibc's log round differently):
	// a master NumPy RandomState(Seed) draws 624 32-bit words per chunk,
	// and chunk k (row-major over the block grid) is
	// RandomState(words[k]).random_sample(chunk shape).
	DaskRNG
)

// ParseRNG reads "fast" or "dask".
func ParseRNG(s string) (RNG, error) {
	switch s {
	case "fast", "":
		return FastRNG, nil
	case "dask":
		return DaskRNG, nil
	}
	return 0, inputErr("unknown generator %q (want fast or dask)", s)
}

func (r RNG) String() string {
	if r == DaskRNG {
		return "dask"
	}
	return "fast"
}

// Random is a lazily generated array: no chunk exists before a worker needs
// it, and a full reduction never holds more than a few thousand values per
// worker.
type Random struct {
	Shape  []int
	Chunks []int // nil: AutoChunks
	Seed   uint64
	Dist   Dist
	RNG    RNG

	g      Grid
	seeder *daskSeeder
}

// NewRandom checks the shape and chunking of a Random array.
func NewRandom(shape, chunks []int, seed uint64, dist Dist, gen RNG) (*Random, error) {
	if chunks == nil {
		chunks = AutoChunks(shape, DefaultChunkElems)
	}
	g, err := NewGrid(shape, chunks)
	if err != nil {
		return nil, err
	}
	if gen == DaskRNG && seed > 1<<32-1 {
		return nil, inputErr("seed %d: the dask generator takes seeds between 0 and 2^32-1", seed)
	}
	r := &Random{Shape: g.Shape, Chunks: g.Chunks, Seed: seed, Dist: dist, RNG: gen, g: g}
	if gen == DaskRNG {
		r.seeder = newDaskSeeder(uint32(seed))
	}
	return r, nil
}

func (r *Random) grid() Grid            { return r.g }
func (r *Random) integer() (bool, bool) { return false, false }

func (r *Random) reduce(ctx context.Context, o *Options) (*Result, error) {
	if r.seeder != nil {
		r.seeder.reset()
	}
	return reduceArray(ctx, r, o)
}

func (r *Random) read(ctx context.Context, k int, w *workerState, fn func([]float64, []int64) error) error {
	buf := w.buf
	_, size := r.g.Region(k)
	n := prod(size)
	switch r.RNG {
	case DaskRNG:
		var mt rng.MT19937
		mt.SeedFromKeys(r.seeder.keys(k))
		fill := mt.FillUniform
		if r.Dist == Normal {
			fill = mt.FillGauss
		}
		return generate(n, buf, fill, fn)
	default:
		w := rng.NewWy(chunkSeed(r.Seed, k))
		fill := w.FillUniform
		if r.Dist == Normal {
			fill = w.FillNormal
		}
		return generate(n, buf, fill, fn)
	}
}

// generate fills buf piece by piece with n values and hands each piece to fn.
func generate(n int, buf []float64, fill func([]float64), fn func([]float64, []int64) error) error {
	for n > 0 {
		m := min(n, len(buf))
		fill(buf[:m])
		if err := fn(buf[:m], nil); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// daskSeeder hands out the 624 seed words of each chunk from the master
// RandomState. Words are drawn in chunk order; chunks claimed ahead of
// their read are kept until read, so memory stays at about one key array
// per worker.
type daskSeeder struct {
	mu      sync.Mutex
	seed    uint32
	master  rng.MT19937
	next    int
	pending map[int][]uint32
}

// maxPendingKeys bounds the key arrays a daskSeeder holds (2.5 KB each).
const maxPendingKeys = 1024

func newDaskSeeder(seed uint32) *daskSeeder {
	s := &daskSeeder{seed: seed}
	s.reset()
	return s
}

func (s *daskSeeder) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.master.Seed(s.seed)
	s.next = 0
	s.pending = map[int][]uint32{}
}

func (s *daskSeeder) keys(k int) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.next <= k {
		w := make([]uint32, 624)
		for i := range w {
			w[i] = s.master.Uint32()
		}
		s.pending[s.next] = w
		// Keys never asked for (chunks another process computes) are
		// dropped once far behind; asked for after all, they are replayed.
		delete(s.pending, s.next-maxPendingKeys)
		s.next++
	}
	w, ok := s.pending[k]
	if !ok {
		// Read before (outside a reduction that resets the seeder): replay
		// the master stream up to chunk k.
		var m rng.MT19937
		m.Seed(s.seed)
		for range 624 * k {
			m.Uint32()
		}
		w = make([]uint32, 624)
		for i := range w {
			w[i] = m.Uint32()
		}
	}
	delete(s.pending, k)
	return w
}

// exactSum is the fast path of Count over any random chunk (no values are
// needed), and of Mean and Sum over a uniform FastRNG chunk:
// the values are integers × 2^-53, so their sum is accumulated exactly in
// integer arithmetic (no float work per value) and rounded once.
func (r *Random) exactSum(k int, nd needs) (Partial, bool) {
	_, size := r.g.Region(k)
	n := prod(size)
	if nd == (needs{}) { // count: generated values are never NaN
		return Partial{Count: int64(n), Frac: true}, true
	}
	if r.RNG != FastRNG || r.Dist != Uniform || nd != (needs{sum: true}) {
		return Partial{}, false
	}
	w := rng.NewWy(chunkSeed(r.Seed, k))
	hi, lo := w.SumUniform53(n)
	s, c := roundU128(hi, lo)
	p := Partial{Count: int64(n), Sum: math.Ldexp(s, -53), SumC: math.Ldexp(c, -53), Frac: true}
	if n > 0 {
		p.Mean = p.Sum / float64(n)
	}
	return p, true
}

// chunkSeed derives chunk k's FastRNG seed.
func chunkSeed(seed uint64, k int) uint64 {
	return rng.Mix64(seed ^ rng.Mix64(uint64(k)^0x5851f42d4c957f2d))
}

// roundU128 splits hi·2^64+lo into its nearest float64 and the (exact)
// rounding remainder.
func roundU128(hi, lo uint64) (float64, float64) {
	v := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
	v.Or(v, new(big.Int).SetUint64(lo))
	f := new(big.Float).SetInt(v)
	s, _ := f.Float64()
	sb, _ := new(big.Float).SetFloat64(s).Int(nil)
	c, _ := new(big.Float).SetInt(v.Sub(v, sb)).Float64()
	return s, c
}
