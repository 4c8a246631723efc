//go:build unix

package compute

import (
	"context"
	"os"
)

// openRead opens path for reading. Opening a FIFO blocks until a writer
// opens it; when ctx is done first, the wait is released by opening the
// FIFO ourselves (read-write, which never blocks) and both ends are closed.
func openRead(ctx context.Context, path string) (*os.File, error) {
	return openFile(ctx, path, os.O_RDONLY, 0)
}

// openFile is os.OpenFile, cancellable while a FIFO waits for its other end.
func openFile(ctx context.Context, path string, flag int, perm os.FileMode) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return os.OpenFile(path, flag, perm)
	}
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(path, flag, perm)
		ch <- result{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
	}
	other, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, ctx.Err() // the pending open ends when someone opens the other end
	}
	r := <-ch
	if r.f != nil {
		r.f.Close()
	}
	other.Close()
	return nil, ctx.Err()
}
