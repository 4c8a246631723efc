package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Magic starts every .npy file.
const Magic = "\x93NUMPY"

// MaxHeaderLen bounds the header a reader accepts (NumPy's own limit is
// 10000 bytes by default; shapes of high rank need a little more).
const MaxHeaderLen = 1 << 20

// Header is a parsed .npy header.
type Header struct {
	Major, Minor int
	DType        DType
	Descr        string // as written in the file
	Fortran      bool
	Shape        []int
	DataOffset   int64 // where the data starts
}

// ErrFormat marks malformed or unsupported files.
var ErrFormat = errors.New("npy: bad file")

// FormatError says what is wrong with a file; Msg is the message without
// the package prefix, for callers that name the file themselves.
type FormatError struct{ Msg string }

func (e *FormatError) Error() string        { return "npy: " + e.Msg }
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

func errorf(format string, args ...any) error {
	return &FormatError{Msg: fmt.Sprintf(format, args...)}
}

// ReadHeader reads the magic, version and header of a .npy stream, leaving
// r at the start of the data. A short stream is a FormatError; another
// read error (a cancelled read, an I/O error) is returned as it is.
func ReadHeader(r io.Reader) (*Header, error) {
	var pre [10]byte
	if n, err := io.ReadFull(r, pre[:8]); err != nil {
		if !isShort(err) {
			return nil, err
		}
		if n == 0 {
			return nil, errorf("empty file, not a .npy file")
		}
		return nil, errorf("truncated: %d bytes, too short for a .npy file", n)
	}
	if string(pre[:6]) != Magic {
		return nil, errorf("not a .npy file: missing the \\x93NUMPY magic")
	}
	major, minor := int(pre[6]), int(pre[7])
	var hlen, off int
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			if !isShort(err) {
				return nil, err
			}
			return nil, errorf("truncated in the header length")
		}
		hlen, off = int(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if !isShort(err) {
				return nil, err
			}
			return nil, errorf("truncated in the header length")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, errorf("unsupported format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if hlen > MaxHeaderLen {
		return nil, errorf("header length %d exceeds the %d-byte limit", hlen, MaxHeaderLen)
	}
	hdr := make([]byte, hlen)
	if n, err := io.ReadFull(r, hdr); err != nil {
		if !isShort(err) {
			return nil, err
		}
		return nil, errorf("truncated header: expected %d bytes, got %d", hlen, n)
	}
	h, err := ParseHeader(hdr, major)
	if err != nil {
		return nil, err
	}
	h.Major, h.Minor = major, minor
	h.DataOffset = int64(off + hlen)
	return h, nil
}

func isShort(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }

// ParseHeader parses the dict literal of a header (the bytes after the
// length field). major selects the text encoding: latin-1 for 1.0 and 2.0,
// UTF-8 for 3.0.
func ParseHeader(b []byte, major int) (*Header, error) {
	if major >= 3 && !utf8.Valid(b) {
		return nil, errorf("header is not valid UTF-8")
	}
	p := &litParser{s: string(b)}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, errorf("header: unexpected %q after the dict", trunc(p.s[p.i:]))
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("header is not a dict")
	}
	h := &Header{}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := d[k]; !ok {
			return nil, errorf("header: missing key %q", k)
		}
	}
	if len(d) != 3 {
		var extra []string
		for k := range d {
			if k != "descr" && k != "fortran_order" && k != "shape" {
				extra = append(extra, strconv.Quote(k))
			}
		}
		return nil, errorf("header: unexpected keys %s", strings.Join(extra, ", "))
	}
	switch descr := d["descr"].(type) {
	case string:
		h.Descr = descr
		t, err := ParseDescr(descr)
		if err != nil {
			return nil, err
		}
		h.DType = t
	case []any:
		return nil, errorf("structured dtype %s is not supported: want one of %s", trunc(fmt.Sprint(descr)), Supported)
	default:
		return nil, errorf("header: descr is not a string")
	}
	fo, ok := d["fortran_order"].(bool)
	if !ok {
		return nil, errorf("header: fortran_order is not True or False")
	}
	h.Fortran = fo
	shape, ok := d["shape"].([]any)
	if !ok {
		return nil, errorf("header: shape is not a tuple")
	}
	for _, s := range shape {
		n, ok := s.(int64)
		if !ok || n < 0 {
			return nil, errorf("header: shape %v holds a non-integer or negative size", trunc(fmt.Sprint(shape)))
		}
		h.Shape = append(h.Shape, int(n))
	}
	if h.Shape == nil {
		h.Shape = []int{}
	}
	return h, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// litParser parses the subset of Python literals headers use: dicts,
// tuples and lists, quoted strings, integers, True, False and None.
type litParser struct {
	s     string
	i     int
	depth int
}

func (p *litParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *litParser) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errorf("header: unexpected end")
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 32 {
		return nil, errorf("header: nested too deeply")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict()
	case c == '(' || c == '[':
		return p.seq()
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.integer()
	default:
		for _, w := range []struct {
			word string
			v    any
		}{{"True", true}, {"False", false}, {"None", nil}} {
			if strings.HasPrefix(p.s[p.i:], w.word) {
				p.i += len(w.word)
				return w.v, nil
			}
		}
		return nil, errorf("header: unexpected %q at byte %d", trunc(p.s[p.i:]), p.i)
	}
}

func (p *litParser) dict() (any, error) {
	p.i++ // {
	d := map[string]any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, errorf("header: dict key is not a string")
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, errorf("header: expected ':' after key %q", ks)
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := d[ks]; dup {
			return nil, errorf("header: duplicate key %q", ks)
		}
		d[ks] = v
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return d, nil
		}
		return nil, errorf("header: expected ',' or '}' in the dict")
	}
}

func (p *litParser) seq() (any, error) {
	closer := byte(')')
	if p.s[p.i] == '[' {
		closer = ']'
	}
	p.i++
	out := []any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			return out, nil
		}
		return nil, errorf("header: expected ',' or %q in a sequence", closer)
	}
}

func (p *litParser) str() (any, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return nil, errorf("header: unterminated string")
}

func (p *litParser) integer() (any, error) {
	j := p.i
	if p.s[j] == '-' {
		j++
	}
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
	if err != nil {
		return nil, errorf("header: bad integer %q", trunc(p.s[p.i:j]))
	}
	if j < len(p.s) && (p.s[j] == 'L' || p.s[j] == 'l') { // Python 2 longs
		j++
	}
	p.i = j
	return n, nil
}

// EncodeHeader returns the magic, version and padded header of a version
// 1.0 file (2.0 when the header needs more than 65535 bytes), so that the
// data starts on a 64-byte boundary, as numpy.lib.format writes it.
func EncodeHeader(t DType, fortran bool, shape []int) []byte {
	var d bytes.Buffer
	fo := "False"
	if fortran {
		fo = "True"
	}
	fmt.Fprintf(&d, "{'descr': '%s', 'fortran_order': %s, 'shape': (", t, fo)
	for i, s := range shape {
		if i > 0 {
			d.WriteString(", ")
		}
		d.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		d.WriteByte(',')
	}
	d.WriteString("), }")
	major, pre := 1, 10
	if d.Len()+1+pre > 65535 {
		major, pre = 2, 12
	}
	pad := 64 - (pre+d.Len()+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr := append(d.Bytes(), bytes.Repeat([]byte{' '}, pad)...)
	hdr = append(hdr, '\n')
	out := []byte(Magic)
	out = append(out, byte(major), 0)
	if major == 1 {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(hdr)))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(hdr)))
	}
	return append(out, hdr...)
}
