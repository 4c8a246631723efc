package msg

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// Framing says how messages are delimited on a byte stream (stdin, stdout).
type Framing string

// The framings of the command-line tools.
const (
	// FramingLine: one message per line. On output the frames of a
	// multipart message are joined by a space.
	FramingLine Framing = "line"
	// FramingNull: like line, delimited by NUL bytes.
	FramingNull Framing = "null"
	// FramingRaw: all of the input is one message; output is the frames'
	// bytes, undelimited.
	FramingRaw Framing = "raw"
	// FramingFrames: one frame per line; an empty line ends a message (so
	// frames cannot be empty).
	FramingFrames Framing = "frames"
)

// ParseFraming checks a framing name.
func ParseFraming(s string) (Framing, error) {
	switch f := Framing(s); f {
	case FramingLine, FramingNull, FramingRaw, FramingFrames:
		return f, nil
	}
	return "", fmt.Errorf("msg: unknown framing %q (line, null, raw or frames)", s)
}

// streamBufSize is the buffer of stream readers and writers: large, so that
// millions of short lines cost a few syscalls.
const streamBufSize = 1 << 20

// Reader splits a byte stream into messages.
type Reader struct {
	br      *bufio.Reader
	framing Framing
	max     int64
	line    int // messages read, for error messages
	done    bool
	frames  [][]byte
	buf     []byte
}

// NewReader reads messages framed by f from r. Messages larger than max
// bytes (if max > 0) are an error naming the message number.
func NewReader(r io.Reader, f Framing, max int64) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, streamBufSize), framing: f, max: max}
}

// Next returns the next message, or io.EOF after the last. The frames may
// point into the reader's buffer and are valid until the next call (Send
// copies them).
func (r *Reader) Next() (Msg, error) {
	if r.done {
		return nil, io.EOF
	}
	switch r.framing {
	case FramingRaw:
		r.done = true
		var lr io.Reader = r.br
		if r.max > 0 {
			lr = io.LimitReader(r.br, r.max+1)
		}
		b, err := io.ReadAll(lr)
		if err != nil {
			return nil, err
		}
		if r.max > 0 && int64(len(b)) > r.max {
			return nil, fmt.Errorf("%w: input is larger than %d bytes", ErrTooLarge, r.max)
		}
		return Msg{b}, nil
	case FramingFrames:
		return r.nextFrames()
	}
	delim := byte('\n')
	if r.framing == FramingNull {
		delim = 0
	}
	b, err := r.readUntil(delim)
	if err != nil {
		return nil, err
	}
	r.frames = append(r.frames[:0], b)
	return Msg(r.frames), nil
}

// readUntil returns the next delim-terminated record without the delimiter
// (and, for lines, without a trailing \r). A final record without a
// delimiter counts; io.EOF ends.
func (r *Reader) readUntil(delim byte) ([]byte, error) {
	r.line++
	b, err := r.br.ReadSlice(delim)
	if err == bufio.ErrBufferFull {
		// A long record: gather it in our own buffer.
		r.buf = append(r.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			if r.max > 0 && int64(len(r.buf)) > r.max {
				return nil, fmt.Errorf("%w: message %d is larger than %d bytes", ErrTooLarge, r.line, r.max)
			}
			b, err = r.br.ReadSlice(delim)
			r.buf = append(r.buf, b...)
		}
		b = r.buf
	}
	if err == io.EOF {
		if len(b) == 0 {
			r.done = true
			return nil, io.EOF
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if n := len(b); n > 0 && b[n-1] == delim {
		b = b[:n-1]
		if delim == '\n' && len(b) > 0 && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
	}
	if r.max > 0 && int64(len(b)) > r.max {
		return nil, fmt.Errorf("%w: message %d is larger than %d bytes", ErrTooLarge, r.line, r.max)
	}
	return b, nil
}

func (r *Reader) nextFrames() (Msg, error) {
	var frames [][]byte
	var total int64
	for {
		b, err := r.readUntil('\n')
		if err == io.EOF {
			if len(frames) > 0 {
				return frames, nil
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			if len(frames) == 0 {
				continue // blank lines between messages
			}
			return frames, nil
		}
		total += int64(len(b))
		if r.max > 0 && total > r.max {
			return nil, fmt.Errorf("%w: message ending at line %d is larger than %d bytes", ErrTooLarge, r.line, r.max)
		}
		frames = append(frames, bytes.Clone(b))
	}
}

// Writer writes messages framed for a byte stream, or as JSON lines. It
// buffers: call Flush when no more messages are immediately due.
type Writer struct {
	bw      *bufio.Writer
	framing Framing
	json    bool
}

// NewWriter writes messages to w in framing f, or as JSON lines when asJSON.
func NewWriter(w io.Writer, f Framing, asJSON bool) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, streamBufSize), framing: f, json: asJSON}
}

// Write writes one message. identity, when not nil, is the ROUTER peer the
// message came from: it leads the line (text framings, tab-separated, see
// FormatIdentity) or is the "identity" field (JSON).
func (w *Writer) Write(m Msg, identity []byte) error {
	if w.json {
		return w.writeJSON(m, identity)
	}
	if identity != nil {
		w.bw.WriteString(FormatIdentity(identity))
		if w.framing == FramingFrames {
			w.bw.WriteByte('\n')
		} else {
			w.bw.WriteByte('\t')
		}
	}
	switch w.framing {
	case FramingRaw:
		for _, f := range m {
			w.bw.Write(f)
		}
	case FramingFrames:
		for _, f := range m {
			w.bw.Write(f)
			w.bw.WriteByte('\n')
		}
		w.bw.WriteByte('\n')
	default:
		delim := byte('\n')
		if w.framing == FramingNull {
			delim = 0
		}
		for i, f := range m {
			if i > 0 {
				w.bw.WriteByte(' ')
			}
			w.bw.Write(f)
		}
		w.bw.WriteByte(delim)
	}
	return nil
}

// Flush writes out everything buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }

// JSONFrame is how -o json shows a frame: a string when the frame is valid
// UTF-8, else an object {"base64": "..."}.
func JSONFrame(f []byte) any {
	if utf8.Valid(f) {
		return string(f)
	}
	return map[string]string{"base64": base64.StdEncoding.EncodeToString(f)}
}

type jsonMsg struct {
	Identity any   `json:"identity,omitempty"`
	Frames   []any `json:"frames"`
}

func (w *Writer) writeJSON(m Msg, identity []byte) error {
	jm := jsonMsg{Frames: make([]any, len(m))}
	if identity != nil {
		jm.Identity = JSONFrame(identity)
	}
	for i, f := range m {
		jm.Frames[i] = JSONFrame(f)
	}
	b, err := json.Marshal(jm)
	if err != nil {
		return err
	}
	w.bw.Write(b)
	return w.bw.WriteByte('\n')
}

// FormatIdentity shows a ROUTER identity in text output: as is when it is
// printable UTF-8 without tabs, else "0x" and hex (as libzmq's generated
// identities are). ParseIdentity reverses it.
func FormatIdentity(id []byte) string {
	if utf8.Valid(id) && len(id) > 0 && id[0] != 0 && !bytes.ContainsAny(id, "\t\n\x00") && !bytes.HasPrefix(id, []byte("0x")) {
		return string(id)
	}
	return fmt.Sprintf("0x%x", id)
}

// ParseIdentity reads an identity written by FormatIdentity.
func ParseIdentity(s []byte) ([]byte, error) {
	if bytes.HasPrefix(s, []byte("0x")) {
		out, err := hex.DecodeString(string(s[2:]))
		if err != nil {
			return nil, fmt.Errorf("msg: bad hex identity %q", s)
		}
		return out, nil
	}
	return bytes.Clone(s), nil
}
