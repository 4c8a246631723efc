package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/dsys-dev/dsys/compute/npy"
)

// ArrayFile is a binary array on disk or on a stream: a .npy file or raw
// values. Regular files are memory-mapped where the OS allows it (read at
// offsets otherwise) and reduced in parallel, chunk by chunk (little-endian
// float64 in place, other dtypes decoded a piece at a time), so the data is
// never copied whole onto the heap. Streams (pipes) are read sequentially,
// one chunk per worker in flight.
//
// A Fortran-order array is reduced as the C-order array of its reversed
// shape; results come back in the caller's axes and in C order.
type ArrayFile struct {
	name      string
	dtype     npy.DType
	decode    func([]float64, []byte)
	decodeInt func([]int64, []byte) // integer dtypes
	shape     []int                 // as the user sees it
	fortran   bool
	g         Grid // over the C-order view (reversed shape when fortran)

	m      *mapping // mapped data, or nil
	data   []byte   // m's data
	file   *os.File // read at offsets when not mapped
	base   int64    // offset of the data in file
	closer func() error
	stream *chunkStream

	// What another process needs to open the same array (see Plan).
	path  string // absolute; "" for a stream
	size  int64  // of the file
	isNPY bool
}

// FileOptions tunes how an ArrayFile is chunked.
type FileOptions struct {
	// Chunks sets the chunk shape (in the file's axes); nil picks
	// contiguous chunks of about ChunkBytes. A size of -1 (or 0) is the
	// whole axis.
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
	in, err := OpenInput(context.Background(), path, nil, FormatNPY)
	if err != nil {
		return nil, err
	}
	a, err := in.NPY(context.Background(), o)
	if err != nil {
		in.Close()
		return nil, err
	}
	a.closer = in.Close
	return a, nil
}

// NewNPY reads a .npy array from r (a regular file is mapped; anything
// else is streamed). The caller keeps ownership of r.
func NewNPY(r io.Reader, name string, o FileOptions) (*ArrayFile, error) {
	return newInput(name, r).NPY(context.Background(), o)
}

// OpenRaw opens a file of raw values of dtype (a descr such as "f8",
// "<i4", ">f4"; no prefix means little-endian). A nil shape means one
// dimension holding the whole file.
func OpenRaw(path, dtype string, shape []int, o FileOptions) (*ArrayFile, error) {
	in, err := OpenInput(context.Background(), path, nil, FormatRaw)
	if err != nil {
		return nil, err
	}
	a, err := in.Raw(dtype, shape, o)
	if err != nil {
		in.Close()
		return nil, err
	}
	a.closer = in.Close
	return a, nil
}

// NPY reads the input as a .npy array; a stream's header is read now, and
// waiting for it ends when ctx is done.
func (in *Input) NPY(ctx context.Context, o FileOptions) (*ArrayFile, error) {
	var hr io.Reader
	if in.regular {
		hr = io.NewSectionReader(in.file, in.base, in.size)
	} else {
		hr = in.sr.bind(ctx)
	}
	h, err := npy.ReadHeader(hr)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, npy.ErrFormat):
		return nil, inputErrWrap(err, "%s: %s", in.Name, inputMsg(err))
	default:
		return nil, fmt.Errorf("compute: reading %s: %w", in.Name, err)
	}
	return in.array(h.DType, h.Shape, h.Fortran, h.DataOffset, o, true)
}

// Raw reads the input as raw values of dtype; see OpenRaw. A stream needs
// a shape.
func (in *Input) Raw(dtype string, shape []int, o FileOptions) (*ArrayFile, error) {
	if dtype == "" {
		dtype = "f8"
	}
	d := dtype
	if d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '=' {
		d = "<" + d
	}
	t, err := npy.ParseDescr(d)
	if err != nil {
		return nil, inputErrWrap(err, "%s: %s", in.Name, inputMsg(err))
	}
	if shape == nil {
		if !in.regular {
			return nil, inputErr("%s: raw input from a stream needs a shape", in.Name)
		}
		if in.size%int64(t.Size) != 0 {
			return nil, inputErr("%s: %d bytes is not a whole number of %d-byte %s values", in.Name, in.size, t.Size, dtype)
		}
		shape = []int{int(in.size / int64(t.Size))}
	}
	return in.array(t, shape, false, 0, o, false)
}

func (in *Input) array(t npy.DType, shape []int, fortran bool, off int64, o FileOptions, isNPY bool) (*ArrayFile, error) {
	n, err := elements(shape)
	if err != nil {
		return nil, inputErr("%s: %s", in.Name, inputMsg(err))
	}
	if n > (1<<62)/t.Size {
		return nil, inputErr("%s: shape %s is too large", in.Name, FormatShape(shape))
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
	a := &ArrayFile{name: in.Name, dtype: t, decode: t.DecodeFunc(), shape: shape, fortran: fortran, g: g,
		path: in.path, size: in.base + in.size, isNPY: isNPY}
	if t.Integer() {
		a.decodeInt = t.DecodeIntFunc()
	}
	need := int64(n) * int64(t.Size)
	if in.regular {
		have := in.size - off
		if have < need {
			what := "raw file"
			if isNPY {
				what = fmt.Sprintf("header says shape (%s) of %s", FormatShape(shape), t)
			}
			return nil, inputErr("%s: truncated: %s needs %d bytes of data, the file has %d", in.Name, what, need, max(have, 0))
		}
		if !isNPY && have > need {
			return nil, inputErr("%s: %d bytes of data but shape %s of %s needs %d", in.Name, have, FormatShape(shape), t, need)
		}
		a.file, a.base = in.file, in.base+off
		if need > 0 {
			m, err := mapFile(in.file, a.base, need)
			switch {
			case err == nil:
				a.m, a.data = m, m.data()
			case !errors.Is(err, errNoMap):
				return nil, fmt.Errorf("compute: mapping %s: %w", in.Name, err)
			}
		}
		return a, nil
	}
	if !isContiguous(g.Shape, g.Chunks) {
		return nil, inputErr("%s: chunks %s do not follow the stream's order: a pipe needs contiguous chunks (leave the chunks unset)", in.Name, FormatShape(o.Chunks))
	}
	a.stream = &chunkStream{sr: in.sr, name: in.Name, need: need}
	a.stream.cond = sync.NewCond(&a.stream.mu)
	return a, nil
}

// Close unmaps the data and closes the file if the ArrayFile opened it.
func (a *ArrayFile) Close() error {
	var err error
	if a.m != nil {
		err = a.m.close()
		a.m, a.data = nil, nil
	}
	if a.closer != nil {
		if e := a.closer(); err == nil {
			err = e
		}
		a.closer = nil
	}
	return err
}

// Shape is the array's shape; DType its dtype.
func (a *ArrayFile) Shape() []int     { return a.shape }
func (a *ArrayFile) DType() npy.DType { return a.dtype }

func (a *ArrayFile) grid() Grid { return a.g }
func (a *ArrayFile) integer() (bool, bool) {
	return a.dtype.Integer(), a.dtype.Unsigned64()
}

// viewOptions maps o's axes onto the C-order view of a Fortran array.
func (a *ArrayFile) viewOptions(o *Options) (*Options, error) {
	oo := *o
	if len(o.Axis) == 0 || !a.fortran {
		return &oo, nil
	}
	rank := len(a.shape)
	if _, err := o.reduced(rank); err != nil {
		return nil, err
	}
	oo.Axis = make([]int, len(o.Axis))
	for i, ax := range o.Axis {
		if ax < 0 {
			ax += rank
		}
		oo.Axis[i] = rank - 1 - ax
	}
	return &oo, nil
}

func (a *ArrayFile) reduce(ctx context.Context, o *Options) (*Result, error) {
	oo, err := a.viewOptions(o)
	if err != nil {
		return nil, err
	}
	if a.stream != nil {
		a.stream.reset()
	}
	r, err := reduceArray(ctx, a, oo)
	if err != nil {
		return nil, err
	}
	a.finish(r)
	return r, nil
}

// finish turns a result computed over the C-order view into the result in
// the file's own axes.
func (a *ArrayFile) finish(r *Result) {
	r.Input = Grid{Shape: a.shape, Chunks: a.Chunks()}
	if a.fortran {
		r.transposeReversed()
	}
}

// Chunks is the chunk shape, in the file's axes.
func (a *ArrayFile) Chunks() []int {
	c := append([]int(nil), a.g.Chunks...)
	if a.fortran {
		reverse(c)
	}
	return c
}

func reverse(s []int) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func (a *ArrayFile) read(ctx context.Context, k int, w *workerState, fn func([]float64, []int64) error) error {
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
		return a.pieces(b, n, w, fn)
	}
	if isContiguous(a.g.Shape, size) {
		off := ravel(start, a.g.Shape) * isz
		b, err := a.bytes(off, n*isz, w)
		if err != nil {
			return err
		}
		err = a.pieces(b, n, w, fn)
		if a.m != nil {
			a.m.release(off, n*isz)
		}
		return err
	}
	// A general region: runs along the last axis, gathered into pieces.
	last := len(size) - 1
	rows := n / size[last]
	idx := make([]int, len(size))
	m := 0
	flush := func() error {
		var iv []int64
		if a.decodeInt != nil {
			iv = w.ints()[:m]
		}
		err := fn(w.buf[:m], iv)
		m = 0
		return err
	}
	for r := range rows {
		unravel(r*size[last], size, idx)
		for i := range idx {
			idx[i] += start[i]
		}
		row, err := a.bytes(ravel(idx, a.g.Shape)*isz, size[last]*isz, w)
		if err != nil {
			return err
		}
		for len(row) > 0 {
			c := min(len(row)/isz, npBlock-m)
			a.decodeInto(w, m, c, row[:c*isz])
			m += c
			row = row[c*isz:]
			if m == npBlock {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if m > 0 {
		return flush()
	}
	return nil
}

// view is chunk k's values in place: for a mapped, contiguous chunk of
// little-endian float64.
func (a *ArrayFile) view(k int) ([]float64, func(), bool) {
	if a.data == nil || !a.dtype.Native() {
		return nil, nil, false
	}
	start, size := a.g.Region(k)
	if !isContiguous(a.g.Shape, size) {
		return nil, nil, false
	}
	n := prod(size)
	off := ravel(start, a.g.Shape) * 8
	b := a.data[off : off+n*8]
	if !npy.Aligned8(b) {
		return nil, nil, false
	}
	return npy.AsFloat64s(b), func() { a.m.release(off, n*8) }, true
}

// bytes is n bytes of data at off: in the mapping, or read into the
// worker's buffer.
func (a *ArrayFile) bytes(off, n int, w *workerState) ([]byte, error) {
	if a.data != nil {
		return a.data[off : off+n], nil
	}
	if cap(w.raw) < n {
		w.raw = make([]byte, n)
	}
	b := w.raw[:n]
	if _, err := a.file.ReadAt(b, a.base+int64(off)); err != nil {
		return nil, fmt.Errorf("compute: reading %s: %w", a.name, err)
	}
	return b, nil
}

// decodeInto decodes c values from b into the worker's piece at m.
func (a *ArrayFile) decodeInto(w *workerState, m, c int, b []byte) {
	if a.decodeInt == nil {
		a.decode(w.buf[m:m+c], b)
		return
	}
	iv := w.ints()[m : m+c]
	a.decodeInt(iv, b)
	f := w.buf[m : m+c]
	if a.dtype.Unsigned64() {
		for i, v := range iv {
			f[i] = float64(uint64(v))
		}
		return
	}
	for i, v := range iv {
		f[i] = float64(v)
	}
}

// pieces hands the n values in b to fn in npBlock pieces: in place for
// aligned little-endian float64, decoded otherwise.
func (a *ArrayFile) pieces(b []byte, n int, w *workerState, fn func([]float64, []int64) error) error {
	isz := a.dtype.Size
	if a.dtype.Native() && npy.Aligned8(b) {
		vals := npy.AsFloat64s(b)
		for len(vals) > 0 {
			m := min(len(vals), npBlock)
			if err := fn(vals[:m], nil); err != nil {
				return err
			}
			vals = vals[m:]
		}
		return nil
	}
	for n > 0 {
		m := min(n, npBlock)
		a.decodeInto(w, 0, m, b[:m*isz])
		var iv []int64
		if a.decodeInt != nil {
			iv = w.ints()[:m]
		}
		if err := fn(w.buf[:m], iv); err != nil {
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
	sr   *streamReader
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
	got, err := s.sr.readFull(ctx, b)
	s.read += int64(got)
	if err != nil {
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			s.err = inputErr("%s: truncated: expected %d bytes of data, got %d", s.name, s.need, s.read)
		case ctx.Err() != nil:
			s.err = ctx.Err()
		default:
			s.err = fmt.Errorf("compute: reading %s: %w", s.name, err)
		}
		s.cond.Broadcast()
		return nil, nil, s.err
	}
	s.next++
	s.cond.Broadcast()
	return b, func() { s.pool.Put(bp) }, nil
}
