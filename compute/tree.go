package compute

import (
	"math"
	"sync"
)

// splitEvery is Dask's per-axis fan-in of the combine tree: split_every=4
// taken as its N-th root over the N reduced axes, at least 2
// (dask/array/reductions.py, _tree_reduce). A 2-D full reduction merges
// 2×2 blocks of chunks: 100 → 25 → 9 → 4 → 1.
func splitEvery(reduced int) int {
	if reduced <= 1 {
		return 4
	}
	return max(int(math.Pow(4, 1/float64(reduced))), 2)
}

// combiner merges the chunk vectors of a block grid along the reduced axes
// in a tree fixed by the grid: level by level, each node merging up to split
// blocks per reduced axis in row-major order of its children, until one
// block is left along every reduced axis. A node is merged as soon as its
// last child arrives, and its children are dropped, so only unfinished
// nodes are held; the order in which chunks finish never changes the bits.
// With compat, sums are combined as NumPy sums the concatenated child sums
// (Dask's mean_combine), and counts as a plain total.
type combiner struct {
	nbs    [][]int // block grid of each level; the last has one block along every reduced axis
	red    []bool
	split  int
	compat bool
	top    func(cell int, vec []Partial)

	mu      sync.Mutex
	pending []map[int]*treeNode // by level (1..), the nodes still waiting for children
}

type treeNode struct {
	children [][]Partial // in row-major order of the group
	have     int
}

// newCombiner is the tree of grid g reduced along red; top receives each
// finished root (one per block of the result, numbered in row-major order
// over the last level's grid).
func newCombiner(g Grid, red []bool, compat bool, top func(cell int, vec []Partial)) *combiner {
	nr := 0
	for _, r := range red {
		if r {
			nr++
		}
	}
	c := &combiner{nbs: [][]int{g.NumBlocks()}, red: red, split: splitEvery(nr), compat: compat, top: top}
	for {
		nb := c.nbs[len(c.nbs)-1]
		next := make([]int, len(nb))
		done := true
		for i := range nb {
			next[i] = nb[i]
			if red[i] && nb[i] > 1 {
				next[i] = (nb[i] + c.split - 1) / c.split
				done = false
			}
		}
		if done {
			break
		}
		c.nbs = append(c.nbs, next)
	}
	c.pending = make([]map[int]*treeNode, len(c.nbs))
	for i := range c.pending {
		c.pending[i] = map[int]*treeNode{}
	}
	return c
}

// levels is the number of merge levels (0: every chunk is a root).
func (c *combiner) levels() int { return len(c.nbs) - 1 }

// keptBox is the extent on the kept axes of a root cell.
func (c *combiner) keptBox(g Grid, cell int) (start, size []int) {
	nb := c.nbs[len(c.nbs)-1]
	idx := make([]int, len(nb))
	unravel(cell, nb, idx)
	for i, r := range c.red {
		if r {
			continue
		}
		s := idx[i] * g.Chunks[i]
		start = append(start, s)
		size = append(size, min(g.Chunks[i], g.Shape[i]-s))
	}
	return start, size
}

// add hands chunk k's vector to the tree.
func (c *combiner) add(k int, vec []Partial) {
	level, cell := 0, k
	for level < c.levels() {
		pcell, pos, width := c.parent(level, cell)
		c.mu.Lock()
		n := c.pending[level+1][pcell]
		if n == nil {
			n = &treeNode{children: make([][]Partial, width)}
			c.pending[level+1][pcell] = n
		}
		n.children[pos] = vec
		n.have++
		full := n.have == width
		if full {
			delete(c.pending[level+1], pcell)
		}
		c.mu.Unlock()
		if !full {
			return
		}
		vec = c.merge(n.children)
		level, cell = level+1, pcell
	}
	c.top(cell, vec)
}

// parent locates cell of level's grid in the next level: the parent's index,
// the child's position in the parent's group and the group's size.
func (c *combiner) parent(level, cell int) (pcell, pos, width int) {
	nb, pnb := c.nbs[level], c.nbs[level+1]
	idx := make([]int, len(nb))
	unravel(cell, nb, idx)
	width = 1
	for i := range nb {
		if !c.red[i] {
			pcell = pcell*pnb[i] + idx[i]
			continue
		}
		p := idx[i] / c.split
		lo := p * c.split
		w := min(lo+c.split, nb[i]) - lo
		pcell = pcell*pnb[i] + p
		pos = pos*w + idx[i] - lo
		width *= w
	}
	return pcell, pos, width
}

// merge combines a node's children, in order.
func (c *combiner) merge(children [][]Partial) []Partial {
	acc := children[0]
	if !c.compat {
		for _, ch := range children[1:] {
			for j := range acc {
				acc[j].Merge(&ch[j])
			}
		}
		return acc
	}
	sums := make([]float64, len(children))
	for j := range acc {
		for i, ch := range children {
			sums[i] = ch[j].Sum
		}
		for _, ch := range children[1:] {
			acc[j].Merge(&ch[j])
		}
		// np.sum of the concatenated child totals: 0 + pairwise.
		acc[j].Sum, acc[j].SumC, acc[j].Big, acc[j].BigC = 0+pairwiseSum(sums), 0, 0, 0
	}
	return acc
}

func prod(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}

// unravel writes the row-major coordinates of flat index k in shape into idx.
func unravel(k int, shape, idx []int) {
	for i := len(shape) - 1; i >= 0; i-- {
		idx[i] = k % shape[i]
		k /= shape[i]
	}
}

// ravel is the row-major flat index of idx in shape.
func ravel(idx, shape []int) int {
	k := 0
	for i := range shape {
		k = k*shape[i] + idx[i]
	}
	return k
}
