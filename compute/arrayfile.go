package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/dsys-dev/dsys/compute/npy"
	"golang.org/x/sys/unix"
)

// ArrayFile is a binary array on disk or on a stream: a .npy file or raw
// values. Regular files are memory-mapped and read in parallel, chunk by
// chunk (little-endian float64 in place, other dtypes decoded a piece at a
// time), so the data is never copied whole onto the heap. Streams (pipes)
// are read sequentially, one chunk per worker in flight.
//
// A Fortran-order array is reduced as the C-order array of its reversed
// shape; results come back in the caller's axes and in C order.
type ArrayFile struct {
	name    string
	dtype   npy.DType
	decode  func([]float64, []byte)
	shape   []int // as the user sees it
	fortran bool
	g       Grid // over the C-order view (reversed shape when fortran)

	data   []byte   // mapped data (nil when streaming)
	mapped []byte   // whole mapping, for Munmap
	skew   int      // offset of data in mapped
	file   *os.File // owned, closed by Close
	stream *chunkStream
}

// FileOptions tunes how an ArrayFile is chunked.
type FileOptions struct {
	// Chunks sets the chunk shape (in the file's axes); nil picks
	// contiguous chunks of about ChunkBytes.
	Chunks []int
	// ChunkBytes is the target size of automatic chunks in bytes of
	// float64 values; 0 means DefaultChunkElems×8 (8 MiB).
	ChunkBytes int
}

func (o FileOptions) chunkElems() int {
	if o.ChunkBytes > 0 {
		return max(o.ChunkBytes/8, 1)
	}
	return DefaultChunkElems
}

// OpenNPY opens a .npy file; errors name it by path.
func OpenNPY(path string, o FileOptions) (*ArrayFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, inputErrWrap(err, "%v", err)
	}
	a, err := NewNPY(f, path, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.file = f
	return a, nil
}

// NewNPY reads a .npy array from f (a regular file is mapped; anything
// else is streamed). The caller keeps ownership of f.
func NewNPY(f *os.File, name string, o FileOptions) (*ArrayFile, error) {
	h, err := npy.ReadHeader(f)
	if err != nil {
		return nil, inputErrWrap(err, "%s: %s", name, trimPkg(err))
	}
	return newArrayFile(f, name, h.DType, h.Shape, h.Fortran, h.DataOffset, o, true)
}

// OpenRaw opens a file of raw values of dtype (a descr such as "f8",
// "<i4", ">f4"; no prefix means little-endian). A nil shape means one
// dimension holding the whole file.
func OpenRaw(path, dtype string, shape []int, o FileOptions) (*ArrayFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, inputErrWrap(err, "%v", err)
	}
	a, err := NewRaw(f, path, dtype, shape, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.file = f
	return a, nil
}

// NewRaw reads raw values of dtype from f; see OpenRaw. A stream needs a
// shape.
func NewRaw(f *os.File, name, dtype string, shape []int, o FileOptions) (*ArrayFile, error) {
	if dtype == "" {
		dtype = "f8"
	}
	d := dtype
	if d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '=' {
		d = "<" + d
	}
	t, err := npy.ParseDescr(d)
	if err != nil {
		return nil, inputErrWrap(err, "%s: %s", name, trimPkg(err))
	}
	if shape == nil {
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return nil, inputErr("%s: raw input from a stream needs --shape", name)
		}
		if st.Size()%int64(t.Size) != 0 {
			return nil, inputErr("%s: %d bytes is not a whole number of %d-byte %s values", name, st.Size(), t.Size, dtype)
		}
		shape = []int{int(st.Size() / int64(t.Size))}
	}
	return newArrayFile(f, name, t, shape, false, 0, o, false)
}

func newArrayFile(f *os.File, name string, t npy.DType, shape []int, fortran bool, off int64, o FileOptions, isNPY bool) (*ArrayFile, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, inputErr("%s: %s", name, trimPkg(err))
	}
	if n > (1<<62)/t.Size {
		return nil, inputErr("%s: shape %s is too large", name, FormatShape(shape))
	}
	view := append([]int(nil), shape...)
	chunks := o.Chunks
	if fortran {
		reverse(view)
		if chunks != nil {
			chunks = append([]int(nil), chunks...)
			reverse(chunks)
		}
	}
	if chunks == nil {
		chunks = AutoChunks(view, o.chunkElems())
	}
	g, err := NewGrid(view, chunks)
	if err != nil {
		return nil, err
	}
	a := &ArrayFile{name: name, dtype: t, decode: t.DecodeFunc(), shape: shape, fortran: fortran, g: g}
	need := int64(n) * int64(t.Size)
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() {
		have := st.Size() - off
		if have < need {
			what := "raw file"
			if isNPY {
				what = fmt.Sprintf("header says shape (%s) of %s", FormatShape(shape), t)
			}
			return nil, inputErr("%s: truncated: %s needs %d bytes of data, the file has %d", name, what, need, max(have, 0))
		}
		if !isNPY && have > need {
			return nil, inputErr("%s: %d bytes of data but shape %s of %s needs %d", name, have, FormatShape(shape), t, need)
		}
		if need > 0 {
			if err := a.mmap(f, off, need); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	if !isContiguous(g.Shape, g.Chunks) {
		return nil, inputErr("%s: chunks %s do not follow the stream's order: a pipe needs contiguous chunks (leave --chunks unset)", name, FormatShape(o.Chunks))
	}
	a.stream = &chunkStream{r: f, name: name, need: need}
	a.stream.cond = sync.NewCond(&a.stream.mu)
	return a, nil
}

func (a *ArrayFile) mmap(f *os.File, off, n int64) error {
	page := int64(os.Getpagesize())
	base := off / page * page
	m, err := unix.Mmap(int(f.Fd()), base, int(off-base+n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("compute: mapping %s: %w", a.name, err)
	}
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	a.mapped = m
	a.skew = int(off - base)
	a.data = m[a.skew:]
	return nil
}

// Close unmaps the data and closes the file if the ArrayFile opened it.
func (a *ArrayFile) Close() error {
	var err error
	if a.mapped != nil {
		err = unix.Munmap(a.mapped)
		a.mapped, a.data = nil, nil
	}
	if a.file != nil {
		if e := a.file.Close(); err == nil {
			err = e
		}
		a.file = nil
	}
	return err
}

// Shape is the array's shape; DType its dtype.
func (a *ArrayFile) Shape() []int     { return a.shape }
func (a *ArrayFile) DType() npy.DType { return a.dtype }

func (a *ArrayFile) grid() Grid    { return a.g }
func (a *ArrayFile) integer() bool { return a.dtype.Integer() }

func (a *ArrayFile) reduce(ctx context.Context, o *Options) (*Result, error) {
	oo := *o
	rank := len(a.shape)
	if len(o.Axis) > 0 && a.fortran {
		ax, err := o.axis(rank)
		if err != nil {
			return nil, err
		}
		oo.Axis = []int{rank - 1 - ax}
	}
	if a.stream != nil {
		a.stream.reset()
	}
	r, err := reduceArray(ctx, a, &oo)
	if err != nil {
		return nil, err
	}
	r.Input = Grid{Shape: a.shape, Chunks: a.g.Chunks}
	if a.fortran {
		r.Input.Chunks = append([]int(nil), a.g.Chunks...)
		reverse(r.Input.Chunks)
		// The result is in the reversed view's C order: reverse back.
		vshape := r.Shape
		r.Shape = append([]int(nil), vshape...)
		reverse(r.Shape)
		r.Partials = transposeReversed(r.Partials, vshape)
	}
	return r, nil
}

// transposeReversed turns a C-order array of shape vshape into the C-order
// array of the reversed shape (its full transpose).
func transposeReversed(p []Partial, vshape []int) []Partial {
	if len(vshape) <= 1 {
		return p
	}
	out := make([]Partial, len(p))
	rshape := append([]int(nil), vshape...)
	reverse(rshape)
	idx := make([]int, len(vshape))
	ridx := make([]int, len(vshape))
	for k := range p {
		unravel(k, vshape, idx)
		for i := range idx {
			ridx[len(idx)-1-i] = idx[i]
		}
		out[ravel(ridx, rshape)] = p[k]
	}
	return out
}

func reverse(s []int) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func (a *ArrayFile) read(ctx context.Context, k int, buf []float64, fn func([]float64) error) error {
	start, size := a.g.Region(k)
	n := prod(size)
	if n == 0 {
		return nil
	}
	isz := a.dtype.Size
	if a.stream != nil {
		b, release, err := a.stream.chunk(ctx, k, n*isz)
		if err != nil {
			return err
		}
		defer release()
		return a.pieces(b, n, buf, fn)
	}
	if isContiguous(a.g.Shape, size) {
		off := ravel(start, a.g.Shape) * isz
		err := a.pieces(a.data[off:off+n*isz], n, buf, fn)
		a.release(off, n*isz)
		return err
	}
	// A general region: runs along the last axis, gathered into pieces.
	last := len(size) - 1
	rows := n / size[last]
	idx := make([]int, len(size))
	m := 0
	for r := range rows {
		unravel(r*size[last], size, idx)
		for i := range idx {
			idx[i] += start[i]
		}
		off := ravel(idx, a.g.Shape) * isz
		row := a.data[off : off+size[last]*isz]
		for len(row) > 0 {
			c := min(len(row)/isz, len(buf)-m)
			a.decode(buf[m:m+c], row[:c*isz])
			m += c
			row = row[c*isz:]
			if m == len(buf) {
				if err := fn(buf); err != nil {
					return err
				}
				m = 0
			}
		}
	}
	if m > 0 {
		return fn(buf[:m])
	}
	return nil
}

// release drops the page-table entries of a chunk's pages once the chunk is
// reduced (MADV_DONTNEED on a read-only shared file mapping: the page cache
// keeps the data), so the resident set stays near workers × chunk size
// instead of growing to the file's size.
func (a *ArrayFile) release(off, n int) {
	page := os.Getpagesize()
	lo := (a.skew + off + page - 1) / page * page
	hi := (a.skew + off + n) / page * page
	if hi-lo >= 16*page {
		_ = unix.Madvise(a.mapped[lo:hi], unix.MADV_DONTNEED)
	}
}

// pieces hands the n values in b to fn in npBlock pieces: in place for
// aligned little-endian float64, decoded into buf otherwise.
func (a *ArrayFile) pieces(b []byte, n int, buf []float64, fn func([]float64) error) error {
	isz := a.dtype.Size
	if a.dtype.Native() && npy.Aligned8(b) {
		vals := npy.AsFloat64s(b)
		for len(vals) > 0 {
			m := min(len(vals), npBlock)
			if err := fn(vals[:m]); err != nil {
				return err
			}
			vals = vals[m:]
		}
		return nil
	}
	for n > 0 {
		m := min(n, len(buf))
		a.decode(buf[:m], b[:m*isz])
		if err := fn(buf[:m]); err != nil {
			return err
		}
		b, n = b[m*isz:], n-m
	}
	return nil
}

// isContiguous reports whether a block of size (a chunk's extent, or the
// chunk shape of a whole grid) is one contiguous range of a C-order array
// of shape: single indices, then a run along one axis, then whole axes.
// For a grid's chunk shape it also means chunks follow each other in file
// order.
func isContiguous(shape, size []int) bool {
	j := 0 // first axis of size other than 1
	for j < len(size) && size[j] == 1 {
		j++
	}
	for i := j + 1; i < len(size); i++ {
		if size[i] != shape[i] {
			return false
		}
	}
	return true
}

// chunkStream reads a non-seekable stream chunk by chunk in order: the
// worker holding chunk k waits until chunk k-1 has been read, reads its
// bytes into its own buffer, and lets the next one go on. Chunks are
// claimed in increasing order, so the wait is short.
type chunkStream struct {
	r    io.Reader
	name string
	need int64 // bytes of data in all

	mu   sync.Mutex
	cond *sync.Cond
	next int   // chunk to read next
	read int64 // bytes read so far
	err  error
	pool sync.Pool
}

func (s *chunkStream) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next != 0 || s.read != 0 {
		s.err = inputErr("%s: a stream can only be reduced once", s.name)
	}
}

func (s *chunkStream) chunk(ctx context.Context, k, nbytes int) ([]byte, func(), error) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.next != k && s.err == nil && ctx.Err() == nil {
		s.cond.Wait()
	}
	if s.err != nil {
		return nil, nil, s.err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	bp, _ := s.pool.Get().(*[]byte)
	if bp == nil || cap(*bp) < nbytes {
		b := make([]byte, nbytes)
		bp = &b
	}
	b := (*bp)[:nbytes]
	got, err := io.ReadFull(s.r, b)
	s.read += int64(got)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			s.err = inputErr("%s: truncated: expected %d bytes of data, got %d", s.name, s.need, s.read)
		} else {
			s.err = fmt.Errorf("compute: reading %s: %w", s.name, err)
		}
		s.cond.Broadcast()
		return nil, nil, s.err
	}
	s.next++
	s.cond.Broadcast()
	return b, func() { s.pool.Put(bp) }, nil
}

// trimPkg drops a "pkg: " prefix from a lower layer's error message.
func trimPkg(err error) string {
	s := err.Error()
	for _, p := range []string{"npy: ", "compute: "} {
		if t, ok := strings.CutPrefix(s, p); ok {
			return t
		}
	}
	return s
}
