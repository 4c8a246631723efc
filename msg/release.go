package msg

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Large received frames come from size-classed pools that Release refills,
// so that a steady stream of large messages reuses warm memory instead of
// faulting in a fresh allocation for every frame (which halves throughput
// at 1 MiB). Frames of 512 B to 4 KiB share slabs until the application
// releases frames (releasing), and come from the pools from then on: with
// Release that halves the receive cost of 1 KiB messages (no garbage),
// without it a slab is cheaper than an allocation per frame.
const (
	minPooledShift = 9  // 512 B: smaller frames always share slabs
	maxPooledShift = 26 // 64 MiB
)

var framePools [maxPooledShift + 1]sync.Pool

// releasing is set once Release has seen a frame of 512 bytes or more.
var releasing atomic.Bool

// allocFrame returns a slice of length size, from a pool when size is in
// the pooled range (its capacity is then a power of two).
func allocFrame(size int) []byte {
	shift := bits.Len(uint(size - 1))
	if shift < minPooledShift || shift > maxPooledShift {
		return make([]byte, size)
	}
	if p, ok := framePools[shift].Get().(*[]byte); ok {
		return (*p)[:size]
	}
	return make([]byte, size, 1<<shift)
}

// Release hands the frames of a received message back for reuse by later
// receives; neither m nor its frames may be used afterwards. It is
// optional — without it the garbage collector reclaims them — and pays off
// for frames of 512 bytes and more. Smaller frames are ignored.
func Release(m Msg) {
	for i, f := range m {
		c := cap(f)
		if c < 1<<minPooledShift {
			continue
		}
		if !releasing.Load() {
			// Readers take frames this size from the pools from now on.
			releasing.Store(true)
		}
		if c > 1<<maxPooledShift || c&(c-1) != 0 {
			continue // a frame from a slab, or not from a pool
		}
		// A fresh pointer per pooled frame only: taking &f would move f to
		// the heap on every call, one allocation per frame even for the
		// small frames this skips.
		p := new([]byte)
		*p = f[:c]
		framePools[bits.Len(uint(c))-1].Put(p)
		m[i] = nil
	}
}
