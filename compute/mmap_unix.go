//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package compute

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapping is a read-only shared mapping of part of a file.
type mapping struct {
	whole []byte // the mapping, from a page boundary
	skew  int    // offset of the data in whole
}

// mapFile maps n bytes of f from off.
func mapFile(f *os.File, off, n int64) (*mapping, error) {
	page := int64(os.Getpagesize())
	base := off / page * page
	m, err := unix.Mmap(int(f.Fd()), base, int(off-base+n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	return &mapping{whole: m, skew: int(off - base)}, nil
}

func (m *mapping) data() []byte { return m.whole[m.skew:] }

// release drops the page-table entries of a chunk's pages once the chunk is
// reduced (MADV_DONTNEED on a read-only shared file mapping: the page cache
// keeps the data), so the resident set stays near workers × chunk size
// instead of growing to the file's size.
func (m *mapping) release(off, n int) {
	page := os.Getpagesize()
	lo := (m.skew + off + page - 1) / page * page
	hi := (m.skew + off + n) / page * page
	if hi-lo >= 16*page {
		_ = unix.Madvise(m.whole[lo:hi], unix.MADV_DONTNEED)
	}
}

func (m *mapping) close() error { return unix.Munmap(m.whole) }
