package compute

// DefaultChunkElems is the chunk size in values (8 MiB of float64) used when
// no chunking is given.
const DefaultChunkElems = 1 << 20

// AutoChunks picks chunks of at most target values that are contiguous in C
// order: whole trailing axes, a run along one axis, single indices before
// it. Reading a chunk of an array file is then one sequential range.
func AutoChunks(shape []int, target int) []int {
	if target < 1 {
		target = 1
	}
	chunks := make([]int, len(shape))
	for i := range chunks {
		chunks[i] = 1
	}
	inner := 1
	for i := len(shape) - 1; i >= 0; i-- {
		d := max(shape[i], 1)
		if inner*d <= target {
			chunks[i] = shape[i]
			inner *= d
			continue
		}
		chunks[i] = max(target/inner, 1)
		break
	}
	return chunks
}
