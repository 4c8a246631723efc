package compute

import (
	"context"
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
	// da.random.random(shape, chunks=...) (or standard_normal) bit for bit:
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

func (r *Random) grid() Grid    { return r.g }
func (r *Random) integer() bool { return false }

func (r *Random) reduce(ctx context.Context, o *Options) (*Result, error) {
	if r.seeder != nil {
		r.seeder.reset()
	}
	return reduceArray(ctx, r, o)
}

func (r *Random) read(ctx context.Context, k int, buf []float64, fn func([]float64) error) error {
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
		w := rng.NewWy(rng.Mix64(r.Seed ^ rng.Mix64(uint64(k)^0x5851f42d4c957f2d)))
		fill := w.FillUniform
		if r.Dist == Normal {
			fill = w.FillNormal
		}
		return generate(n, buf, fill, fn)
	}
}

// generate fills buf piece by piece with n values and hands each piece to fn.
func generate(n int, buf []float64, fill func([]float64), fn func([]float64) error) error {
	for n > 0 {
		m := min(n, len(buf))
		fill(buf[:m])
		if err := fn(buf[:m]); err != nil {
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
