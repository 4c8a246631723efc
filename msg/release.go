package msg

import (
	"math/bits"
	"sync"
)

// Large received frames come from size-classed pools that Release refills,
// so that a steady stream of large messages reuses warm memory instead of
// faulting in a fresh allocation for every frame (which halves throughput
// at 1 MiB).
const (
	minPooledShift = 13 // 8 KiB: smaller frames share slabs instead
	maxPooledShift = 26 // 64 MiB
)

var framePools [maxPooledShift + 1]sync.Pool

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
// for large messages. Small frames are ignored.
func Release(m Msg) {
	for i, f := range m {
		c := cap(f)
		if c < 1<<minPooledShift || c > 1<<maxPooledShift || c&(c-1) != 0 {
			continue
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
