package compute

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dsys-dev/dsys/compute/npy"
)

// Format is the format of an input.
type Format int

// The formats. FormatAuto decides from the name's extension (.npy, .csv,
// .tsv or .tab), else from the content (the .npy magic), else text.
const (
	FormatAuto Format = iota
	FormatText
	FormatCSV
	FormatTSV
	FormatNPY
	FormatRaw
)

var formatNames = [...]string{"auto", "text", "csv", "tsv", "npy", "raw"}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "auto"
}

// FormatNames lists the formats an input may be given as.
func FormatNames() []string { return append([]string(nil), formatNames[1:]...) }

// ParseFormat reads a format name ("" is FormatAuto).
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatAuto, nil
	}
	for i, n := range formatNames {
		if n == s && i > 0 {
			return Format(i), nil
		}
	}
	return 0, inputErr("unknown format %q (want %s)", s, strings.Join(FormatNames(), ", "))
}

// Input is a data file or stream, opened, with its format decided. Build
// the Source to reduce with NPY, Raw, Text or CSV; Close releases it.
type Input struct {
	Name   string // as given: a path, or "-" for stdin
	Format Format

	file    *os.File // the file (stdin's too), when there is one
	regular bool     // file is a regular file: mapped or read at offsets
	base    int64    // regular: where the data starts in file
	size    int64    // regular: bytes from base to the end
	sr      *streamReader
	owned   bool   // Close closes file
	path    string // absolute path of a regular file opened by name (what other processes open)
}

// OpenInput opens path ("-" for stdin, read from stdin) and decides its
// format. Opening a FIFO waits for a writer, and reading the first bytes of
// a stream (to find a .npy magic) waits for data: both end when ctx is
// done. Errors name the path as given.
func OpenInput(ctx context.Context, path string, stdin io.Reader, format Format) (*Input, error) {
	var in *Input
	if path == "-" {
		in = newInput("-", stdin)
	} else {
		f, err := openRead(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, inputErrWrap(err, "%s", pathError(path, err))
		}
		in = newInput(path, f)
		in.owned = true
		if in.regular {
			if abs, err := filepath.Abs(path); err == nil {
				in.path = abs
			}
		}
	}
	if err := in.decide(ctx, format); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// newInput wraps an opened reader. A regular file's data starts where its
// offset stands (a redirected stdin may have been read from already).
func newInput(name string, r io.Reader) *Input {
	in := &Input{Name: name}
	if f, ok := r.(*os.File); ok {
		in.file = f
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				off = 0
			}
			in.regular, in.base, in.size = true, off, st.Size()-off
			return in
		}
	}
	if r == nil {
		r = strings.NewReader("")
	}
	in.sr = newStreamReader(r)
	return in
}

// decide settles the format.
func (in *Input) decide(ctx context.Context, format Format) error {
	if format != FormatAuto {
		in.Format = format
		return nil
	}
	switch strings.ToLower(filepath.Ext(in.Name)) {
	case ".npy":
		in.Format = FormatNPY
		return nil
	case ".csv":
		in.Format = FormatCSV
		return nil
	case ".tsv", ".tab":
		in.Format = FormatTSV
		return nil
	}
	magic := make([]byte, len(npy.Magic))
	var n int
	var err error
	if in.regular {
		n, err = in.file.ReadAt(magic, in.base)
	} else {
		n, err = in.sr.readFull(ctx, magic)
		in.sr.prefix = magic[:n] // read again by whoever reads the stream
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return inputErrWrap(err, "%s", pathError(in.Name, err))
	}
	in.Format = FormatText
	if string(magic[:n]) == npy.Magic {
		in.Format = FormatNPY
	}
	return nil
}

// reader is the input as a stream of bytes from the data's start.
func (in *Input) reader() io.Reader {
	if in.regular {
		return io.NewSectionReader(in.file, in.base, in.size)
	}
	return in.sr
}

// Text is the input as whitespace-separated numbers; column, if not empty,
// selects one 0-based field of each line.
func (in *Input) Text(column string, blockBytes int) *Text {
	return &Text{R: in.reader(), Name: in.Name, Column: column, BlockBytes: blockBytes, in: in}
}

// CSV is the input as delimited text (0: ',', or a tab for FormatTSV).
func (in *Input) CSV(delim byte, column string, blockBytes int) *CSV {
	if delim == 0 && in.Format == FormatTSV {
		delim = '\t'
	}
	return &CSV{R: in.reader(), Name: in.Name, Delimiter: delim, Column: column, BlockBytes: blockBytes, in: in}
}

// SameFile reports whether path names the input's own file (so writing to
// it would destroy the data being read).
func (in *Input) SameFile(path string) bool {
	if in.file == nil {
		return false
	}
	a, err := in.file.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// Close closes the file if OpenInput opened it.
func (in *Input) Close() error {
	if in.owned && in.file != nil {
		err := in.file.Close()
		in.file = nil
		return err
	}
	return nil
}

// pathError is err's description for the user's path: "PATH: no such file
// or directory", without the operation and a second copy of the path.
func pathError(path string, err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return path + ": " + pe.Err.Error()
	}
	return path + ": " + err.Error()
}
