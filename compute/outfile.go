package compute

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dsys-dev/dsys/compute/npy"
)

// WriteNPY writes res's values to path as a version 1.0 .npy file that
// NumPy loads: '<f8', or for integer results (counts; sums, minima and
// maxima of integers) '<i8' ('<u8' when a value needs it); integers beyond
// 64 bits have no .npy type and are refused. Stats results have several
// values per element and are refused too.
//
// It never destroys what it does not own:
//   - a regular file, or a path that does not exist yet, is replaced
//     atomically: written to a temporary file beside it, synced and
//     renamed over it. A symlink is followed to its target, which is
//     replaced; the link stays.
//   - anything else (a FIFO, a character device such as /dev/null, a
//     terminal, a socket) is opened and written in place, streamed, as is
//     a path through /dev/fd or /proc/*/fd (/dev/stdout), which is appended
//     to when it is a regular file.
//
// Errors name path as given. ctx cancels the wait for a FIFO's reader and
// a write to a stalled one.
func WriteNPY(ctx context.Context, path string, res *Result) error {
	if res.Op == Stats {
		return inputErr("%s: stats has several values per element: write mean, std, … one at a time", path)
	}
	dt, err := outDType(res)
	if err != nil {
		return inputErr("%s: %s", path, err.Error())
	}
	target, viaFD, err := resolveOut(path)
	if err != nil {
		return inputErrWrap(err, "%s", pathError(path, err))
	}
	st, err := os.Stat(target)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return inputErrWrap(err, "%s", pathError(path, err))
	}
	if viaFD || (exists && !st.Mode().IsRegular()) {
		flag := os.O_WRONLY
		if exists && st.Mode().IsRegular() {
			flag |= os.O_APPEND
		}
		return writeInPlace(ctx, path, flag, dt, res)
	}
	perm := os.FileMode(0o644)
	if exists {
		perm = st.Mode().Perm()
	}
	return writeReplace(target, path, perm, dt, res)
}

// resolveOut follows symlinks from path to the file they name; viaFD is set
// when a link leads into /proc or /dev/fd, whose targets are not paths to
// rename over.
func resolveOut(path string) (target string, viaFD bool, err error) {
	p := path
	for range 40 {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return p, false, nil
		}
		if err != nil {
			return "", false, err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return p, false, nil
		}
		t, err := os.Readlink(p)
		if err != nil {
			return "", false, err
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		if strings.HasPrefix(t, "/proc/") || strings.HasPrefix(t, "/dev/fd/") {
			return path, true, nil
		}
		p = t
	}
	return "", false, errors.New("too many levels of symbolic links")
}

// writeInPlace streams the file into an existing non-regular file.
func writeInPlace(ctx context.Context, path string, flag int, dt npy.DType, res *Result) error {
	f, err := openFile(ctx, path, flag, 0)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return inputErrWrap(err, "%s", pathError(path, err))
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Now()) })
	defer stop()
	if err := encodeNPY(f, dt, res, ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("compute: writing %s: %w", path, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("compute: writing %s: %w", path, unwrapPath(err))
	}
	return nil
}

// writeReplace writes a temporary file beside target and renames it over
// target; a failure leaves target as it was and no temporary file.
func writeReplace(target, path string, perm os.FileMode, dt npy.DType, res *Result) (err error) {
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return inputErrWrap(err, "%s", pathError(path, err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := encodeNPY(f, dt, res, context.Background()); err != nil {
		return fmt.Errorf("compute: writing %s: %w", path, unwrapPath(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("compute: writing %s: %w", path, unwrapPath(err))
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("compute: writing %s: %w", path, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("compute: writing %s: %w", path, unwrapPath(err))
	}
	if err := os.Rename(f.Name(), target); err != nil {
		return inputErrWrap(err, "%s", pathError(path, err))
	}
	return nil
}

// unwrapPath drops an *os.PathError's operation and (temporary) path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// outDType is the .npy dtype that holds res's values exactly.
func outDType(res *Result) (npy.DType, error) {
	n := res.Len()
	if res.fill != nil {
		n = min(n, 1)
	}
	signed, unsigned := n > 0, n > 0
	for i := range n {
		v := res.Elem(i)
		if !v.IsInt {
			return npy.Float64, nil
		}
		signed = signed && v.Int.isInt64()
		unsigned = unsigned && v.Int.fitsUint64()
	}
	switch {
	case n == 0:
		return npy.Float64, nil
	case signed:
		return npy.DType{Kind: 'i', Size: 8}, nil
	case unsigned:
		return npy.DType{Kind: 'u', Size: 8}, nil
	}
	return npy.DType{}, errors.New("integers beyond 64 bits have no .npy type: print them instead")
}

// encodeNPY writes the header and the values, checking ctx now and then.
func encodeNPY(w io.Writer, dt npy.DType, res *Result, ctx context.Context) error {
	b := npy.EncodeHeader(dt, false, res.Shape)
	for i := range res.Len() {
		v := res.Elem(i)
		u := v.Int.Lo
		if dt.Kind == 'f' {
			u = math.Float64bits(v.Float)
		}
		b = binary.LittleEndian.AppendUint64(b, u)
		if len(b) >= 1<<16 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}
