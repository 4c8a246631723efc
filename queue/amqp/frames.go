package amqp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/dsys-dev/dsys/queue/broker"
)

// amqp091-go drops the whole connection when it cannot read a message's
// header table, and RabbitMQ then redelivers that message to the next
// connection: one such message stalls its queue for good. Its reader knows
// no 'L' field (what py-amqp, Celery's client, writes for every integer
// beyond 32 bits; RabbitMQ reads it as 'l', a signed 64-bit integer, and
// passes it on as it came), and refuses tables and arrays nested deeper
// than 32 levels or holding more than 8192 items. tableFixConn sits under
// it and rewrites content header frames as they arrive, so that every
// header table it passes is one amqp091-go reads:
//
//   - an 'L' field becomes 'l' (the same eight bytes);
//   - a header whose value amqp091-go would refuse (too deep, too many
//     items) becomes void, and the header broker.HeaderUnreadable says
//     which and why, so the engine dead-letters the message and answers
//     its caller;
//   - a table it cannot parse at all (an unknown field type, a length past
//     its end) keeps the headers before the bad one, and the marker.
//
// Every other frame passes as it came, unparsed beyond its 7-byte header.
// Rewritten frames never grow past the frame-max of the server's
// connection.tune.

// AMQP 0-9-1 framing.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
	frameOverhead  = 8 // type, channel, size, frame end

	classBasic      = 60
	classConnection = 10
	methodTune      = 30

	flagContentType     = 0x8000
	flagContentEncoding = 0x4000
	flagHeaders         = 0x2000
	flagContinuation    = 0x0001

	// amqp091-go's limits on header tables.
	maxFieldDepth   = 32
	maxFieldEntries = 8192
	// maxFixFrame: larger header frames pass unread (amqp091-go refuses
	// any frame beyond the negotiated frame-max, 128 KiB on RabbitMQ).
	maxFixFrame = 1 << 20
	// maxMarker bounds the reason written in the marker header.
	maxMarker = 200
)

// tableFixConn is a net.Conn whose reads are AMQP frames with their header
// tables made readable (see above).
type tableFixConn struct {
	net.Conn
	r *bufio.Reader

	hdr      [7]byte // the frame header being read
	hdrN     int
	held     bool   // a frame is being read whole (a header frame, or perhaps connection.tune)
	payload  []byte // its payload and frame end
	payloadN int
	out      []byte // bytes ready for Read
	outBuf   []byte
	pass     int    // bytes of the current frame to pass on unread
	raw      bool   // not AMQP frames (the server refused our protocol): pass everything
	tuned    bool   // connection.tune was seen
	frameMax uint32 // from connection.tune; 0 = unknown or unlimited
}

func newTableFixConn(c net.Conn) *tableFixConn {
	return &tableFixConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// Read implements net.Conn. It fills p with as many frames as are at
// hand, and blocks only while it has nothing to return.
func (c *tableFixConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(c.out) > 0 {
			k := copy(p[n:], c.out)
			c.out = c.out[k:]
			n += k
			continue
		}
		if n > 0 && c.r.Buffered() == 0 {
			return n, nil
		}
		if c.raw || c.pass > 0 {
			q := p[n:]
			if !c.raw && len(q) > c.pass {
				q = q[:c.pass]
			}
			k, err := c.r.Read(q)
			c.pass -= k
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
		if c.held {
			if n > 0 && c.r.Buffered() < len(c.payload)-c.payloadN {
				return n, nil
			}
			if err := c.readHeld(); err != nil {
				return n, err
			}
			continue
		}
		if n > 0 && c.r.Buffered() < len(c.hdr)-c.hdrN {
			return n, nil
		}
		for c.hdrN < len(c.hdr) {
			k, err := c.r.Read(c.hdr[c.hdrN:])
			c.hdrN += k
			if err != nil && c.hdrN < len(c.hdr) {
				return n, err
			}
		}
		c.hdrN = 0
		c.startFrame()
	}
	return n, nil
}

// startFrame decides, from a frame's header, whether to read it whole.
func (c *tableFixConn) startFrame() {
	typ, ch := c.hdr[0], binary.BigEndian.Uint16(c.hdr[1:3])
	size := binary.BigEndian.Uint32(c.hdr[3:7])
	switch {
	case typ == frameHeader && size <= maxFixFrame,
		typ == frameMethod && ch == 0 && !c.tuned && size <= 64: // perhaps connection.tune
		c.held = true
		c.payload, c.payloadN = growTo(c.payload, int(size)+1), 0
	case typ == frameMethod || typ == frameBody || typ == frameHeader || typ == frameHeartbeat:
		c.out, c.pass = c.hdr[:], int(size)+1
	default:
		c.out, c.raw = c.hdr[:], true // e.g. "AMQP" and the version the server speaks
	}
}

// readHeld reads the rest of a frame held whole, then queues it for Read.
func (c *tableFixConn) readHeld() error {
	for c.payloadN < len(c.payload) {
		n, err := c.r.Read(c.payload[c.payloadN:])
		c.payloadN += n
		if err != nil && c.payloadN < len(c.payload) {
			return err
		}
	}
	c.held = false
	body, end := c.payload[:len(c.payload)-1], c.payload[len(c.payload)-1]
	switch {
	case c.hdr[0] == frameMethod:
		if m, ok := tuneFrameMax(body); ok {
			c.tuned, c.frameMax = true, m
		}
	case end == frameEnd:
		if fixed, ok := fixHeaderFrame(body, c.limit()); ok {
			body = fixed
			binary.BigEndian.PutUint32(c.hdr[3:7], uint32(len(body)))
		}
	}
	c.outBuf = append(append(append(c.outBuf[:0], c.hdr[:]...), body...), end)
	c.out = c.outBuf
	return nil
}

// limit is the largest payload a rewritten header frame may have.
func (c *tableFixConn) limit() int {
	if c.frameMax == 0 {
		return maxFixFrame
	}
	return int(c.frameMax) - frameOverhead
}

// tuneFrameMax reads frame-max from a connection.tune payload.
func tuneFrameMax(p []byte) (uint32, bool) {
	if len(p) >= 10 && binary.BigEndian.Uint16(p) == classConnection && binary.BigEndian.Uint16(p[2:]) == methodTune {
		return binary.BigEndian.Uint32(p[6:]), true
	}
	return 0, false
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}

// fixHeaderFrame makes the header table of a basic content header payload
// readable by amqp091-go: in place when only 'L' tags change (ok is then
// false: nothing else to do), else a new payload of at most limit bytes.
func fixHeaderFrame(p []byte, limit int) (fixed []byte, ok bool) {
	// class, weight, body size, property flags
	if len(p) < 14 || binary.BigEndian.Uint16(p) != classBasic {
		return nil, false
	}
	flags := binary.BigEndian.Uint16(p[12:])
	if flags&flagHeaders == 0 || flags&flagContinuation != 0 {
		return nil, false
	}
	off := 14
	for _, f := range []uint16{flagContentType, flagContentEncoding} {
		if flags&f != 0 {
			if off >= len(p) || off+1+int(p[off]) > len(p) {
				return nil, false // amqp091-go fails on the frame whatever we do
			}
			off += 1 + int(p[off])
		}
	}
	if off+4 > len(p) {
		return nil, false
	}
	n := int(binary.BigEndian.Uint32(p[off:]))
	start := off + 4
	rest := p[min(start+n, len(p)):]
	truncated := n > len(p)-start
	if truncated {
		// What follows the table is lost with it.
		n = len(p) - start
		rest = nil
		flags &= flagContentType | flagContentEncoding | flagHeaders
	}
	tab := p[start : start+n]
	v := checkTable(tab)
	if truncated {
		v.cutAt(len(tab), "the header table runs past its frame")
	}
	if v.ok() {
		return nil, false
	}
	out := make([]byte, 0, len(p)+maxMarker)
	out = append(out, p[:12]...)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = append(out, p[14:off]...)
	budget := limit - len(out) - 4 - len(rest)
	out = append(out, 0, 0, 0, 0)
	out = v.rewrite(out, tab, budget)
	binary.BigEndian.PutUint32(out[off:], uint32(len(out)-off-4))
	return append(out, rest...), true
}

// A tableCheck is what checkTable found in a top-level header table.
type tableCheck struct {
	entries int        // readable entries before cut
	voids   []voidSpan // values amqp091-go refuses, to make void
	cut     int        // offset where the table stops being readable; -1: never
	reasons []string
}

type voidSpan struct{ start, end int }

func (v *tableCheck) ok() bool { return len(v.voids) == 0 && v.cut < 0 }

func (v *tableCheck) cutAt(pos int, reason string) {
	if v.cut < 0 || pos < v.cut {
		v.cut = pos
	}
	v.reasons = append(v.reasons, reason)
}

// checkTable walks a header table: it turns 'L' into 'l' in place and
// notes what else amqp091-go would refuse. A readable table costs no
// allocation.
func checkTable(t []byte) tableCheck {
	v := tableCheck{cut: -1}
	pos := 0
	for pos < len(t) {
		if v.entries == maxFieldEntries-1 {
			v.cutAt(pos, fmt.Sprintf("more than %d headers", maxFieldEntries-1)) // room for the marker only
			return v
		}
		key, vstart, ok := shortstr(t, pos)
		if !ok {
			v.cutAt(pos, "a header name runs past the table")
			return v
		}
		end, why, fatal := checkField(t, vstart, 0)
		if fatal != "" {
			v.cutAt(pos, fmt.Sprintf("header %q: %s", key, fatal))
			return v
		}
		if why != "" {
			v.voids = append(v.voids, voidSpan{vstart, end})
			v.reasons = append(v.reasons, fmt.Sprintf("header %q: %s", key, why))
		}
		v.entries++
		pos = end
	}
	return v
}

// entryStarts are the offsets of the first n entries of a table.
func entryStarts(t []byte, n int) []int {
	out := make([]int, 0, n)
	for pos := 0; len(out) < n; {
		out = append(out, pos)
		_, vstart, _ := shortstr(t, pos)
		pos, _, _ = checkField(t, vstart, 0)
	}
	return out
}

// rewrite appends the readable table: the entries kept, refused values
// made void, and the marker; entries are dropped from the end while it
// exceeds budget bytes.
func (v *tableCheck) rewrite(out, t []byte, budget int) []byte {
	reason := "unreadable headers: " + strings.Join(v.reasons, "; ")
	if len(reason) > maxMarker {
		reason = reason[:maxMarker-3] + "..."
	}
	cut := len(t)
	if v.cut >= 0 {
		cut = v.cut
	}
	marker := 1 + len(broker.HeaderUnreadable) + 1 + 4 + len(reason)
	size := func() int {
		n := cut + marker
		for _, s := range v.voids {
			if s.end <= cut {
				n -= s.end - s.start - 1
			}
		}
		return n
	}
	if size() > budget {
		starts := entryStarts(t, v.entries)
		for len(starts) > 0 && size() > budget {
			cut = starts[len(starts)-1]
			starts = starts[:len(starts)-1]
		}
	}
	pos := 0
	for _, s := range v.voids {
		if s.end > cut {
			break
		}
		out = append(out, t[pos:s.start]...)
		out = append(out, 'V')
		pos = s.end
	}
	out = append(out, t[pos:cut]...)
	out = append(out, byte(len(broker.HeaderUnreadable)))
	out = append(out, broker.HeaderUnreadable...)
	out = append(out, 'S')
	out = binary.BigEndian.AppendUint32(out, uint32(len(reason)))
	return append(out, reason...)
}

// shortstr reads the short string at pos: its bytes and where it ends.
func shortstr(b []byte, pos int) ([]byte, int, bool) {
	if pos >= len(b) || pos+1+int(b[pos]) > len(b) {
		return nil, 0, false
	}
	n := int(b[pos])
	return b[pos+1 : pos+1+n], pos + 1 + n, true
}

// checkField checks the field at pos in a container at depth (the top
// table is 0) as amqp091-go reads it, turning 'L' into 'l'. It returns
// where the field ends and either why amqp091-go would refuse it though
// its extent is known (nested too deep, too many items, anything wrong
// inside a table or array), or, fatal, why its extent is unknown.
func checkField(b []byte, pos, depth int) (end int, why, fatal string) {
	if pos >= len(b) {
		return 0, "", "value missing"
	}
	tag := b[pos]
	pos++
	n := 0
	switch tag {
	case 'V':
	case 't', 'b', 'B':
		n = 1
	case 's', 'u':
		n = 2
	case 'I', 'i', 'f':
		n = 4
	case 'D':
		n = 5
	case 'L':
		b[pos-1] = 'l' // both are signed 64-bit integers
		n = 8
	case 'l', 'd', 'T':
		n = 8
	case 'S', 'x', 'A', 'F':
		if pos+4 > len(b) {
			return 0, "", "value runs past the table"
		}
		size := binary.BigEndian.Uint32(b[pos:])
		pos += 4
		if uint64(size) > uint64(len(b)-pos) {
			return 0, "", "value runs past the table"
		}
		n = int(size)
	default:
		return 0, "", fmt.Sprintf("unknown field type %q", tag)
	}
	if pos+n > len(b) {
		return 0, "", "value runs past the table"
	}
	end = pos + n
	if tag == 'A' || tag == 'F' {
		return end, checkContainer(b[pos:end], tag == 'F', depth+1), ""
	}
	return end, "", ""
}

// checkContainer checks the content of a table (named) or array at depth;
// it returns why amqp091-go would refuse it, or "".
func checkContainer(b []byte, named bool, depth int) string {
	if depth > maxFieldDepth {
		return fmt.Sprintf("nested deeper than %d levels", maxFieldDepth)
	}
	for at, items := 0, 0; at < len(b); items++ {
		if items == maxFieldEntries {
			return fmt.Sprintf("more than %d items in one table or array", maxFieldEntries)
		}
		if named {
			var ok bool
			if _, at, ok = shortstr(b, at); !ok {
				return "a nested name runs past its table"
			}
		}
		next, why, fatal := checkField(b, at, depth)
		if fatal != "" {
			return fatal
		}
		if why != "" {
			return why
		}
		at = next
	}
	return ""
}
