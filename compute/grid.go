package compute

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Grid splits an array of Shape into chunks of Chunks (per axis; the last
// chunk on an axis is smaller when the size does not divide the shape, as
// in Dask). Chunks are numbered in row-major order over the block grid.
type Grid struct {
	Shape  []int
	Chunks []int
}

// NewGrid checks shape and chunks and returns their grid. A chunk size of
// -1 (as in Dask), 0 or a missing one means the whole axis; a chunk larger
// than the axis is clipped to it.
func NewGrid(shape, chunks []int) (Grid, error) {
	if _, err := elements(shape); err != nil {
		return Grid{}, err
	}
	if len(chunks) > len(shape) {
		return Grid{}, inputErr("chunks %s have more axes than shape %s", FormatShape(chunks), FormatShape(shape))
	}
	g := Grid{Shape: append([]int(nil), shape...), Chunks: make([]int, len(shape))}
	for i, n := range shape {
		c := 0
		if i < len(chunks) {
			c = chunks[i]
		}
		if c < -1 {
			return Grid{}, inputErr("chunk size %d on axis %d is negative (-1 means the whole axis)", c, i)
		}
		if c <= 0 || c > n {
			c = n
		}
		g.Chunks[i] = c
	}
	if _, err := elements(g.Chunks); err != nil {
		return Grid{}, err
	}
	return g, nil
}

// elements is the product of shape, refused when it overflows int64 or
// when a dimension is negative.
func elements(shape []int) (int, error) {
	n := uint64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, inputErr("shape %s: axis %d is negative", FormatShape(shape), i)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, inputErr("shape %s has more than 2^63-1 elements", FormatShape(shape))
		}
		n = lo
	}
	return int(n), nil
}

// Size is the number of elements.
func (g Grid) Size() int { n, _ := elements(g.Shape); return n }

// NumBlocks is the number of chunks along each axis.
func (g Grid) NumBlocks() []int {
	nb := make([]int, len(g.Shape))
	for i, n := range g.Shape {
		if g.Chunks[i] == 0 {
			nb[i] = 1 // zero-length axis: one empty chunk
			continue
		}
		nb[i] = (n + g.Chunks[i] - 1) / g.Chunks[i]
		if nb[i] == 0 {
			nb[i] = 1
		}
	}
	return nb
}

// NumChunks is the number of chunks.
func (g Grid) NumChunks() int {
	n := 1
	for _, b := range g.NumBlocks() {
		n *= b
	}
	return n
}

// ChunkElems is the number of elements of the largest chunk.
func (g Grid) ChunkElems() int {
	n := 1
	for _, c := range g.Chunks {
		n *= c
	}
	return n
}

// Region is the position and extent of chunk k.
func (g Grid) Region(k int) (start, size []int) {
	nb := g.NumBlocks()
	start = make([]int, len(nb))
	size = make([]int, len(nb))
	for i := len(nb) - 1; i >= 0; i-- {
		b := k % nb[i]
		k /= nb[i]
		start[i] = b * g.Chunks[i]
		size[i] = min(g.Chunks[i], g.Shape[i]-start[i])
	}
	return start, size
}

// FormatShape writes a shape the way the CLI reads it: 10000,10000.
func FormatShape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ",")
}

// ParseShape reads a comma-separated list of non-negative sizes ("10000,10000";
// parentheses and spaces are tolerated: "(100, 100)").
func ParseShape(s string) ([]int, error) { return parseSizes(s, false) }

// ParseChunks reads chunk sizes as ParseShape does, where -1 also stands for
// the whole axis ("-1,1000"), as in Dask.
func ParseChunks(s string) ([]int, error) { return parseSizes(s, true) }

func parseSizes(s string, whole bool) ([]int, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimPrefix(t, "("), ")")
	if strings.TrimSpace(t) == "" {
		return []int{}, nil
	}
	var out []int
	for _, f := range strings.Split(t, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		switch {
		case whole && n == -1 && err == nil:
		case err != nil || n < 0:
			if whole {
				return nil, inputErr("bad size %q in %q: want non-negative integers (or -1 for the whole axis) separated by commas", f, s)
			}
			return nil, inputErr("bad size %q in %q: want non-negative integers separated by commas", f, s)
		}
		out = append(out, int(n))
	}
	return out, nil
}
