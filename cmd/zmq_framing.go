package cmd

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/dsys-dev/dsys/msg"
)

// framing says how the zmq commands delimit messages on stdin and stdout.
type framing string

const (
	// framingLine: one message per line. On output the frames of a
	// multipart message are joined by a space.
	framingLine framing = "line"
	// framingNull: like line, delimited by NUL bytes.
	framingNull framing = "null"
	// framingRaw: all of the input is one message; output is the frames'
	// bytes, undelimited.
	framingRaw framing = "raw"
	// framingFrames: one frame per line; an empty line ends a message (so
	// frames cannot be empty).
	framingFrames framing = "frames"
	// framingJSON: one JSON object per line, the schema of -o json
	// (jsonMessage): any frames, empty ones and binary ones included.
	framingJSON framing = "json"
)

var framings = []string{string(framingLine), string(framingNull), string(framingRaw), string(framingFrames), string(framingJSON)}

func parseFraming(s string) (framing, error) {
	for _, f := range framings {
		if s == f {
			return framing(s), nil
		}
	}
	return "", usageErrorf("--framing: expected line, null, raw, frames or json, got %q", s)
}

// streamBufSize is the buffer of stream readers and writers: large, so that
// millions of short lines cost a few syscalls.
const streamBufSize = 1 << 20

// msgReader splits stdin into messages.
type msgReader struct {
	br      *bufio.Reader
	framing framing
	max     int64
	line    int // records read, for error messages
	done    bool
	frames  [][]byte
	buf     []byte
}

// newMsgReader reads messages framed by f from r. Messages larger than max
// bytes (if max > 0) are an error naming the message.
func newMsgReader(r io.Reader, f framing, max int64) *msgReader {
	return &msgReader{br: bufio.NewReaderSize(r, streamBufSize), framing: f, max: max}
}

// inMsg is one message of stdin: its frames and, in JSON input, the
// identity it is addressed to (ROUTER).
type inMsg struct {
	frames   msg.Msg
	identity []byte
}

// Next returns the next message, or io.EOF after the last. The frames may
// point into the reader's buffer and are valid until the next call (Send
// copies them). Errors name the message (and line) and are usage errors.
func (r *msgReader) Next() (inMsg, error) {
	if r.done {
		return inMsg{}, io.EOF
	}
	switch r.framing {
	case framingRaw:
		r.done = true
		var lr io.Reader = r.br
		if r.max > 0 {
			lr = io.LimitReader(r.br, r.max+1)
		}
		b, err := io.ReadAll(lr)
		if err != nil {
			return inMsg{}, err
		}
		if r.max > 0 && int64(len(b)) > r.max {
			return inMsg{}, tooLarge("stdin is larger than %d bytes", r.max)
		}
		return inMsg{frames: msg.Msg{b}}, nil
	case framingFrames:
		return r.nextFrames()
	case framingJSON:
		return r.nextJSON()
	}
	delim := byte('\n')
	if r.framing == framingNull {
		delim = 0
	}
	b, err := r.readUntil(delim)
	if err != nil {
		return inMsg{}, err
	}
	r.frames = append(r.frames[:0], b)
	return inMsg{frames: msg.Msg(r.frames)}, nil
}

func tooLarge(format string, args ...any) error {
	return withExitCode(ExitUsage, fmt.Errorf("%w: %s", msg.ErrTooLarge, fmt.Sprintf(format, args...)))
}

// readUntil returns the next delim-terminated record without the delimiter
// (and, for lines, without a trailing \r). A final record without a
// delimiter counts; io.EOF ends.
func (r *msgReader) readUntil(delim byte) ([]byte, error) {
	r.line++
	b, err := r.br.ReadSlice(delim)
	if err == bufio.ErrBufferFull {
		// A long record: gather it in our own buffer.
		r.buf = append(r.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			if r.max > 0 && int64(len(r.buf)) > r.max {
				return nil, tooLarge("stdin message %d is larger than %d bytes", r.line, r.max)
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
		return nil, tooLarge("stdin message %d is larger than %d bytes", r.line, r.max)
	}
	return b, nil
}

func (r *msgReader) nextFrames() (inMsg, error) {
	var frames [][]byte
	var total int64
	for {
		b, err := r.readUntil('\n')
		if err == io.EOF {
			if len(frames) > 0 {
				return inMsg{frames: frames}, nil
			}
			return inMsg{}, io.EOF
		}
		if err != nil {
			return inMsg{}, err
		}
		if len(b) == 0 {
			if len(frames) == 0 {
				continue // blank lines between messages
			}
			return inMsg{frames: frames}, nil
		}
		total += int64(len(b))
		if r.max > 0 && total > r.max {
			return inMsg{}, tooLarge("stdin message ending at line %d is larger than %d bytes", r.line, r.max)
		}
		frames = append(frames, bytes.Clone(b))
	}
}

// nextJSON reads one JSON line (blank lines are skipped).
func (r *msgReader) nextJSON() (inMsg, error) {
	for {
		b, err := r.readUntil('\n')
		if err != nil {
			return inMsg{}, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var jm jsonMessage
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&jm); err != nil {
			return inMsg{}, usageErrorf("stdin line %d: not a message in the JSON schema ({\"frames\": [...], \"identity\": ...}): %v", r.line, jsonErr(err))
		}
		if len(jm.Frames) == 0 {
			return inMsg{}, usageErrorf("stdin line %d: a message needs at least one frame", r.line)
		}
		m := inMsg{frames: make(msg.Msg, len(jm.Frames))}
		var total int64
		for i, f := range jm.Frames {
			m.frames[i] = f
			total += int64(len(f))
		}
		if r.max > 0 && total > r.max {
			return inMsg{}, tooLarge("stdin line %d: the message is larger than %d bytes", r.line, r.max)
		}
		if jm.Identity != nil {
			m.identity = *jm.Identity
		}
		return m, nil
	}
}

// msgWriter writes messages framed for stdout, or as JSON lines. It
// buffers: call Flush when no more messages are immediately due.
type msgWriter struct {
	bw      *bufio.Writer
	framing framing
	json    bool
}

// newMsgWriter writes messages to w in framing f, or as JSON lines when
// asJSON (-o json) or f is json.
func newMsgWriter(w io.Writer, f framing, asJSON bool) *msgWriter {
	return &msgWriter{bw: bufio.NewWriterSize(w, streamBufSize), framing: f, json: asJSON || f == framingJSON}
}

// Write writes one message. identity, when not nil, is the ROUTER peer the
// message came from: it leads the line (text framings, tab-separated, see
// formatIdentity) or is the "identity" field (JSON).
func (w *msgWriter) Write(m msg.Msg, identity []byte) error {
	if w.json {
		return w.writeJSON(m, identity)
	}
	if identity != nil {
		w.bw.WriteString(formatIdentity(identity))
		if w.framing == framingFrames {
			w.bw.WriteByte('\n')
		} else {
			w.bw.WriteByte('\t')
		}
	}
	switch w.framing {
	case framingRaw:
		for _, f := range m {
			w.bw.Write(f)
		}
	case framingFrames:
		for _, f := range m {
			w.bw.Write(f)
			w.bw.WriteByte('\n')
		}
		w.bw.WriteByte('\n')
	default:
		delim := byte('\n')
		if w.framing == framingNull {
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
func (w *msgWriter) Flush() error { return w.bw.Flush() }

func (w *msgWriter) writeJSON(m msg.Msg, identity []byte) error {
	jm := jsonMessage{Frames: make([]jsonFrame, len(m))}
	if identity != nil {
		id := jsonFrame(identity)
		jm.Identity = &id
	}
	for i, f := range m {
		jm.Frames[i] = f
	}
	b, err := json.Marshal(jm)
	if err != nil {
		return err
	}
	w.bw.Write(b)
	return w.bw.WriteByte('\n')
}

// formatIdentity shows a ROUTER identity in text output: as is when it is
// printable UTF-8 without tabs, else "0x" and hex (as libzmq's generated
// identities are). parseIdentity reverses it.
func formatIdentity(id []byte) string {
	if utf8.Valid(id) && len(id) > 0 && id[0] != 0 && !bytes.ContainsAny(id, "\t\n\x00") && !bytes.HasPrefix(id, []byte("0x")) {
		return string(id)
	}
	return fmt.Sprintf("0x%x", id)
}

// parseIdentity reads an identity written by formatIdentity.
func parseIdentity(s []byte) ([]byte, error) {
	if bytes.HasPrefix(s, []byte("0x")) {
		out, err := hex.DecodeString(string(s[2:]))
		if err != nil {
			return nil, fmt.Errorf("bad hex identity %q", s)
		}
		return out, nil
	}
	return bytes.Clone(s), nil
}
