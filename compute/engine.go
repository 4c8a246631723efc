package compute

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// chunkFunc computes the partial states of chunk k into a vector.
type chunkFunc func(ctx context.Context, k int, w *workerState) ([]Partial, error)

// workerState is the scratch memory one worker owns.
type workerState struct {
	buf     []float64 // one npBlock piece
	scratch []float64 // NaN compaction, npBlock
	chunk   []float64 // a whole chunk, for axis reductions
	cols    []float64 // CSV: npBlock values per selected column
}

// runChunks runs fn over chunks 0..n-1 on up to workers goroutines and
// returns the partials by chunk index. The first error (or a panic, turned
// into an error) cancels the rest; cancellation of ctx stops the workers at
// their next piece.
func runChunks(ctx context.Context, n int, o *Options, fn chunkFunc) ([][]Partial, error) {
	out := make([][]Partial, n)
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
			w := &workerState{buf: make([]float64, npBlock), scratch: make([]float64, npBlock)}
			for {
				k := int(next.Add(1) - 1)
				if k >= n || ctx.Err() != nil {
					return
				}
				p, err := safeChunk(ctx, k, w, fn, o)
				if err != nil {
					fail(err)
					return
				}
				out[k] = p
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
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// safeChunk runs fn, turning a panic into an error naming the chunk.
func safeChunk(ctx context.Context, k int, w *workerState, fn chunkFunc, o *Options) (p []Partial, err error) {
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
