package compute

import "math"

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

// combineTree merges the chunk vectors of a block grid (nb blocks per axis,
// cells in row-major order) along the reduced axes, level by level, each
// node merging up to split blocks per reduced axis in row-major order of
// its children, until one block is left along every reduced axis. The tree
// depends only on the grid, so results do not depend on scheduling. With
// compat, sums are combined as NumPy sums the concatenated child sums
// (Dask's mean_combine), and count as a plain total.
func combineTree(cells [][]Partial, nb []int, reduced []bool, compat bool) ([][]Partial, []int) {
	nr := 0
	for _, r := range reduced {
		if r {
			nr++
		}
	}
	split := splitEvery(nr)
	nb = append([]int(nil), nb...)
	for {
		done := true
		for i, r := range reduced {
			if r && nb[i] > 1 {
				done = false
			}
		}
		if done {
			return cells, nb
		}
		nb2 := make([]int, len(nb))
		for i := range nb {
			nb2[i] = nb[i]
			if reduced[i] {
				nb2[i] = (nb[i] + split - 1) / split
			}
		}
		out := make([][]Partial, prod(nb2))
		idx := make([]int, len(nb2))
		for c := range out {
			unravel(c, nb2, idx)
			out[c] = mergeGroup(cells, nb, idx, reduced, split, compat)
		}
		cells, nb = out, nb2
	}
}

// mergeGroup merges the children of the parent at idx (parent coordinates).
func mergeGroup(cells [][]Partial, nb, idx []int, reduced []bool, split int, compat bool) []Partial {
	lo := make([]int, len(nb))
	hi := make([]int, len(nb))
	for i := range nb {
		if reduced[i] {
			lo[i] = idx[i] * split
			hi[i] = min(lo[i]+split, nb[i])
		} else {
			lo[i], hi[i] = idx[i], idx[i]+1
		}
	}
	var children [][]Partial
	cur := append([]int(nil), lo...)
	for {
		children = append(children, cells[ravel(cur, nb)])
		i := len(cur) - 1
		for ; i >= 0; i-- {
			cur[i]++
			if cur[i] < hi[i] {
				break
			}
			cur[i] = lo[i]
		}
		if i < 0 {
			break
		}
	}
	acc := append([]Partial(nil), children[0]...)
	if !compat {
		for _, ch := range children[1:] {
			for j := range acc {
				acc[j].Merge(&ch[j])
			}
		}
		return acc
	}
	sums := make([]float64, len(children))
	for j := range acc {
		for c, ch := range children {
			sums[c] = ch[j].Sum
		}
		for _, ch := range children[1:] {
			acc[j].Merge(&ch[j])
		}
		// np.sum of the concatenated child totals: 0 + pairwise.
		acc[j].Sum, acc[j].SumC = 0+pairwiseSum(sums), 0
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
