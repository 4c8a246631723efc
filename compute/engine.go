package compute

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// chunkFunc does chunk k's work with the worker's scratch memory.
type chunkFunc func(ctx context.Context, k int, w *workerState) error

// workerState is the scratch memory one worker owns.
type workerState struct {
	buf     []float64 // one npBlock piece
	ibuf    []int64   // its exact integers (integer sources; see ints)
	scratch []float64 // NaN compaction, npBlock
	chunkF  []float64 // a whole chunk, for axis reductions
	chunkI  []int64
	raw     []byte    // file bytes read at an offset (no mapping)
	tposF   []float64 // a transposed chunk
	tposI   []int64
	parts   []Partial     // a batch of row results
	slab    []Partial     // a slab's results
	cols    [4][]float64  // per-column sums of a slab
	csvBuf  []float64     // CSV: buffered values per selected column
	depth   [][][]float64 // per recursion depth of the strided sums
}

func newWorkerState() *workerState {
	return &workerState{buf: make([]float64, npBlock), scratch: make([]float64, npBlock)}
}

// ints is the npBlock integer piece, allocated on first use.
func (w *workerState) ints() []int64 {
	if w.ibuf == nil {
		w.ibuf = make([]int64, npBlock)
	}
	return w.ibuf
}

// colBuf is the worker's i-th column buffer, n long (contents undefined).
func (w *workerState) colBuf(i, n int) []float64 {
	if cap(w.cols[i]) < n {
		w.cols[i] = make([]float64, n)
	}
	return w.cols[i][:n]
}

// depthBuf is k zeroed buffers of n values for recursion depth d.
func (w *workerState) depthBuf(d, n, k int) [][]float64 {
	for len(w.depth) <= d {
		w.depth = append(w.depth, nil)
	}
	b := w.depth[d]
	for len(b) < k {
		b = append(b, nil)
	}
	for i := range k {
		if cap(b[i]) < n {
			b[i] = make([]float64, n)
		}
		b[i] = b[i][:n]
		clear(b[i])
	}
	w.depth[d] = b
	return b[:k]
}

// runChunks runs fn over chunks 0..n-1 on up to workers goroutines, claimed
// in increasing order. The first error (or a panic, turned into an error)
// cancels the rest; cancellation of ctx stops the workers at their next
// piece.
func runChunks(ctx context.Context, n int, o *Options, fn chunkFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		done     int
		progMu   sync.Mutex
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	workers := min(o.workers(), n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorkerState()
			for {
				k := int(next.Add(1) - 1)
				if k >= n || ctx.Err() != nil {
					return
				}
				if err := safeChunk(ctx, k, w, fn, o); err != nil {
					fail(err)
					return
				}
				if o.Progress != nil {
					progMu.Lock()
					done++
					o.Progress(done, n)
					progMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// safeChunk runs fn, turning a panic into an error naming the chunk.
func safeChunk(ctx context.Context, k int, w *workerState, fn chunkFunc, o *Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			o.logger().Error("compute: panic in chunk", "chunk", k, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("compute: chunk %d: panic: %v", k, r)
		}
	}()
	return fn(ctx, k, w)
}

// checkCtx is a cheap, non-blocking cancellation check for inner loops.
func checkCtx(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}
