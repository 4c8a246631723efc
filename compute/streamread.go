package compute

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
)

// streamReader reads a stream (a pipe, a terminal, a socket) so that a
// cancelled context ends a read at once, even while the writer keeps the
// stream open and silent (`sleep 30 | dsys compute mean`): a read that may
// block runs in a goroutine, and the caller stops waiting when ctx is done.
// The abandoned read may still complete into the caller's buffer, so after
// a cancelled read the stream is unusable, and so is the buffer.
//
// Regular files and in-memory readers are read directly.
type streamReader struct {
	r      io.Reader
	prefix []byte // bytes already read (a sniffed magic) that come first
	async  bool
	err    error // sticky: the cancellation that abandoned a read
}

func newStreamReader(r io.Reader) *streamReader {
	if s, ok := r.(*streamReader); ok {
		return s
	}
	async := true
	switch f := r.(type) {
	case *bytes.Reader, *strings.Reader, *bytes.Buffer, *io.SectionReader:
		async = false
	case *os.File:
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			async = false
		}
	}
	return &streamReader{r: r, async: async}
}

// Read reads without a context (it blocks like any read).
func (s *streamReader) Read(p []byte) (int, error) { return s.read(context.Background(), p) }

// read is one Read that ends when ctx is done.
func (s *streamReader) read(ctx context.Context, p []byte) (int, error) {
	if len(s.prefix) > 0 {
		n := copy(p, s.prefix)
		s.prefix = s.prefix[n:]
		return n, nil
	}
	return s.do(ctx, func() (int, error) { return s.r.Read(p) })
}

// readFull is io.ReadFull that ends when ctx is done.
func (s *streamReader) readFull(ctx context.Context, p []byte) (int, error) {
	n := copy(p, s.prefix)
	s.prefix = s.prefix[n:]
	if n == len(p) {
		return n, nil
	}
	m, err := s.do(ctx, func() (int, error) { return io.ReadFull(s.r, p[n:]) })
	if n > 0 && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n + m, err
}

func (s *streamReader) do(ctx context.Context, f func() (int, error)) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !s.async {
		return f()
	}
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := f()
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-ctx.Done():
		s.err = ctx.Err()
		return 0, s.err
	}
}

// bind is s as an io.Reader whose reads end when ctx is done.
func (s *streamReader) bind(ctx context.Context) io.Reader { return ctxReader{ctx, s} }

type ctxReader struct {
	ctx context.Context
	s   *streamReader
}

func (c ctxReader) Read(p []byte) (int, error) { return c.s.read(c.ctx, p) }
