package amqp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/queue/broker"
)

// A little AMQP 0-9-1 writer for the tests: tables as py-amqp writes
// them, frames as RabbitMQ sends them.

func field(tag byte, v []byte) []byte { return append([]byte{tag}, v...) }

func long(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func sized(tag byte, content []byte) []byte {
	return append(append([]byte{tag}, long(len(content))...), content...)
}

func entry(key string, value []byte) []byte {
	return append(append([]byte{byte(len(key))}, key...), value...)
}

func table(entries ...[]byte) []byte { return sized('F', bytes.Join(entries, nil)) }

func array(items ...[]byte) []byte { return sized('A', bytes.Join(items, nil)) }

func int64Field(tag byte, n int64) []byte {
	return field(tag, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func str(s string) []byte { return sized('S', []byte(s)) }

// nested is a table nested n levels deep around a leaf.
func nested(n int) []byte {
	v := int64Field('L', 1)
	for range n {
		v = table(entry("d", v))
	}
	return v
}

// headerPayload is a basic content header: content type, headers (tab, a
// field table: 'F' and its length), delivery mode 2, correlation id.
func headerPayload(bodySize int, tab []byte) []byte {
	p := binary.BigEndian.AppendUint16(nil, classBasic)
	p = append(p, 0, 0)
	p = binary.BigEndian.AppendUint64(p, uint64(bodySize))
	p = binary.BigEndian.AppendUint16(p, flagContentType|flagHeaders|0x1000|0x0400)
	p = append(p, byte(len("application/json")))
	p = append(p, "application/json"...)
	p = append(p, tab[1:]...) // the table without its 'F'
	p = append(p, 2)
	p = append(p, 3, 'c', 'i', 'd')
	return p
}

func frame(typ byte, ch uint16, payload []byte) []byte {
	f := []byte{typ}
	f = binary.BigEndian.AppendUint16(f, ch)
	f = binary.BigEndian.AppendUint32(f, uint32(len(payload)))
	return append(append(f, payload...), frameEnd)
}

func method(class, id uint16, args ...[]byte) []byte {
	p := binary.BigEndian.AppendUint16(nil, class)
	p = binary.BigEndian.AppendUint16(p, id)
	return append(p, bytes.Join(args, nil)...)
}

func shortS(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// hostileTables are header tables amqp091-go v1.16 refuses (and one it
// reads), as a publisher may send them through RabbitMQ.
var hostileTables = map[string]struct {
	tab    []byte
	marker string // what the marker header says; "" = none
}{
	"plain":        {table(entry("id", str("t1")), entry("retries", field('I', long(0)))), ""},
	"L":            {table(entry("id", str("t1")), entry("x-big", int64Field('L', 1<<40))), ""},
	"L nested":     {table(entry("x", array(int64Field('L', -1<<40), table(entry("n", int64Field('L', 1<<62)))))), ""},
	"32 deep":      {table(entry("x-deep", nested(32))), ""},
	"33 deep":      {table(entry("id", str("t1")), entry("x-deep", nested(33)), entry("after", str("a"))), `header "x-deep": nested deeper than 32 levels`},
	"8192 items":   {table(entry("x-wide", sized('A', bytes.Repeat(field('V', nil), 8192)))), ""},
	"8193 items":   {table(entry("x-wide", sized('A', bytes.Repeat(field('V', nil), 8193))), entry("id", str("t1"))), `header "x-wide": more than 8192 items`},
	"wide nested":  {table(entry("x", table(entry("a", sized('A', bytes.Repeat(field('t', []byte{1}), 9000)))))), `header "x": more than 8192 items`},
	"unknown type": {table(entry("id", str("t1")), entry("x-odd", field('Q', []byte{1, 2})), entry("lost", str("l"))), `header "x-odd": unknown field type 'Q'`},
	"nested bad":   {table(entry("x", array(field('Q', nil))), entry("id", str("t1"))), `header "x": unknown field type 'Q'`},
	"past its end": {table(entry("id", str("t1")), entry("s", append([]byte{'S'}, long(1000)...))), `header "s": value runs past the table`},
	"name cut":     {table(entry("id", str("t1")), []byte{9, 'a'}), "a header name runs past the table"},
}

// fakeServer plays RabbitMQ's side of a connection on c: the handshake, a
// channel, a consumer, then one delivery with the given header payload,
// then a second, plain one. It reports what went wrong on errc.
func fakeServer(c net.Conn, header []byte, errc chan<- error) {
	body := []byte(`[[1, 2], {}, null]`)
	deliver := func(tag int64, header []byte) []byte {
		return bytes.Join([][]byte{frame(frameMethod, 1, method(60, 60, shortS("ct"), binary.BigEndian.AppendUint64(nil, uint64(tag)), []byte{0}, shortS(""), shortS("q"))),
			frame(frameHeader, 1, header), frame(frameBody, 1, body)}, nil)
	}
	scriptedServer(c, append(deliver(1, header), deliver(2, headerPayload(len(body), table(entry("id", str("t2")))))...), errc)
}

// scriptedServer plays RabbitMQ's side of a connection on c up to a
// consumer on channel 1, then sends frames and waits for the client to
// close.
func scriptedServer(c net.Conn, frames []byte, errc chan<- error) {
	defer c.Close()
	fail := func(err error) { errc <- err }
	proto := make([]byte, 8)
	if _, err := io.ReadFull(c, proto); err != nil {
		fail(err)
		return
	}
	expect := func(class, id uint16) bool {
		for {
			var h [7]byte
			if _, err := io.ReadFull(c, h[:]); err != nil {
				fail(err)
				return false
			}
			p := make([]byte, binary.BigEndian.Uint32(h[3:])+1)
			if _, err := io.ReadFull(c, p); err != nil {
				fail(err)
				return false
			}
			if h[0] == frameMethod && binary.BigEndian.Uint16(p) == class && binary.BigEndian.Uint16(p[2:]) == id {
				return true
			}
		}
	}
	send := func(f ...[]byte) bool {
		if _, err := c.Write(bytes.Join(f, nil)); err != nil {
			fail(err)
			return false
		}
		return true
	}
	_ = send(frame(frameMethod, 0, method(10, 10, []byte{0, 9}, long(0), long(5), []byte("PLAIN"), long(5), []byte("en_US")))) &&
		expect(10, 11) &&
		send(frame(frameMethod, 0, method(10, 30, []byte{0, 0}, long(131072), []byte{0, 0}))) &&
		expect(10, 31) && expect(10, 40) &&
		send(frame(frameMethod, 0, method(10, 41, shortS("")))) &&
		expect(20, 10) &&
		send(frame(frameMethod, 1, method(20, 11, long(0)))) &&
		expect(60, 20) &&
		send(frame(frameMethod, 1, method(60, 21, shortS("ct")))) &&
		send(frames) &&
		expect(10, 50) // the client closes
}

// readThrough delivers header (a basic content header payload) from a
// fake server through tableFixConn to amqp091-go, and returns the headers
// it read, or fails: amqp091-go must read every header table it gets.
func readThrough(t *testing.T, header []byte) amqp091.Table {
	t.Helper()
	h, err := deliverThrough(t, header, func(c net.Conn) net.Conn { return newTableFixConn(c) })
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// deliverThrough is readThrough with the client's connection wrapped by
// wrap; the error says why no delivery came.
func deliverThrough(t *testing.T, header []byte, wrap func(net.Conn) net.Conn) (amqp091.Table, error) {
	t.Helper()
	client, server := net.Pipe()
	errc := make(chan error, 1)
	go fakeServer(server, header, errc)
	conn, err := amqp091.Open(wrap(client), amqp091.Config{
		SASL: []amqp091.Authentication{&amqp091.PlainAuth{Username: "guest", Password: "guest"}}, Locale: "en_US"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	ds, err := ch.Consume("q", "ct", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	var got amqp091.Table
	for i := range 2 {
		select {
		case d, ok := <-ds:
			if !ok {
				return nil, fmt.Errorf("delivery %d: the connection closed (%v)", i+1, conn.IsClosed())
			}
			if i == 0 {
				got = d.Headers
				if d.ContentType != "application/json" || d.CorrelationId != "cid" || string(d.Body) != `[[1, 2], {}, null]` {
					t.Fatalf("delivery %+v", d)
				}
			}
		case err := <-errc:
			return nil, fmt.Errorf("server: %v", err)
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("no delivery %d within 10s", i+1)
		}
	}
	return got, nil
}

// The defect: without tableFixConn, amqp091-go v1.16 drops the connection
// on each of these tables (and RabbitMQ would redeliver the message to
// the next one).
func TestAmqp091AloneDropsTheConnection(t *testing.T) {
	for _, name := range []string{"L", "33 deep", "8193 items", "unknown type"} {
		if _, err := deliverThrough(t, headerPayload(18, hostileTables[name].tab), func(c net.Conn) net.Conn { return c }); err == nil {
			t.Errorf("%s: amqp091-go read it without tableFixConn; is the fix still needed?", name)
		}
	}
}

// amqp091-go reads, through tableFixConn, every header table a publisher
// may send: L as a signed 64-bit integer, limits up to amqp091-go's own
// as they are, and anything beyond them (or unreadable) with the marker
// header saying what, the headers before it kept; the connection stays up
// and the next delivery arrives.
func TestTableFixConnAmqp091ReadsEveryTable(t *testing.T) {
	for name, tc := range hostileTables {
		t.Run(name, func(t *testing.T) {
			h := readThrough(t, headerPayload(18, tc.tab))
			marker, _ := h[broker.HeaderUnreadable].(string)
			if tc.marker == "" && marker != "" || !strings.Contains(marker, tc.marker) {
				t.Fatalf("marker %q, want %q (headers %v)", marker, tc.marker, h)
			}
			if strings.Contains(name, "L") && tc.marker == "" {
				if v, ok := h["x-big"]; ok && v != int64(1<<40) {
					t.Fatalf("x-big = %#v", v)
				}
			}
			if tc.marker != "" && bytes.Contains(tc.tab, []byte("\x02id")) && h["id"] != "t1" && !strings.Contains(name, "past") {
				t.Fatalf("id header lost: %v", h)
			}
		})
	}
	h := readThrough(t, headerPayload(18, hostileTables["L nested"].tab))
	x, _ := h["x"].([]any)
	if len(x) != 2 || x[0] != int64(-1<<40) || x[1].(amqp091.Table)["n"] != int64(1<<62) {
		t.Fatalf("nested L: %#v", h)
	}
}

// oneByteConn returns at most one byte per Read.
type oneByteConn struct {
	net.Conn
	r io.Reader
}

func (c *oneByteConn) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), 1)]) }

// Frames split at any byte pass whole and in order, header frames
// rewritten, the rest unchanged; the server's connection.tune sets the
// size a rewritten frame may grow to.
func TestTableFixConnSplitReads(t *testing.T) {
	tab := hostileTables["33 deep"].tab
	var stream []byte
	stream = append(stream, frame(frameMethod, 0, method(10, 30, []byte{0, 0}, long(4096), []byte{0, 0}))...)
	stream = append(stream, frame(frameHeartbeat, 0, nil)...)
	stream = append(stream, frame(frameMethod, 1, method(60, 60, shortS("ct")))...)
	stream = append(stream, frame(frameHeader, 1, headerPayload(3, tab))...)
	stream = append(stream, frame(frameBody, 1, []byte("abc"))...)
	stream = append(stream, frame(frameHeader, 1, headerPayload(3, hostileTables["L"].tab))...)
	fixed, ok := fixHeaderFrame(headerPayload(3, tab), 4096-frameOverhead)
	if !ok {
		t.Fatal("not fixed")
	}
	lFixed := bytes.Replace(headerPayload(3, hostileTables["L"].tab), []byte("\x05x-bigL"), []byte("\x05x-bigl"), 1)
	var want []byte
	want = append(want, stream[:len(stream)-len(frame(frameHeader, 1, headerPayload(3, tab)))-len(frame(frameBody, 1, []byte("abc")))-len(frame(frameHeader, 1, headerPayload(3, hostileTables["L"].tab)))]...)
	want = append(want, frame(frameHeader, 1, fixed)...)
	want = append(want, frame(frameBody, 1, []byte("abc"))...)
	want = append(want, frame(frameHeader, 1, lFixed)...)
	c := newTableFixConn(&oneByteConn{r: bytes.NewReader(stream)})
	got, err := io.ReadAll(&oneByteConn{r: c})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %v:\n%q\nwant\n%q", err, got, want)
	}
	if c.frameMax != 4096 {
		t.Fatalf("frame-max %d", c.frameMax)
	}
}

// A server that refuses the protocol answers with its own protocol
// header: it passes unchanged, for amqp091-go to report.
func TestTableFixConnPassesProtocolHeader(t *testing.T) {
	in := []byte("AMQP\x00\x00\x09\x01")
	got, err := io.ReadAll(newTableFixConn(&oneByteConn{r: bytes.NewReader(in)}))
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("%q %v", got, err)
	}
}

// A rewritten frame never exceeds the frame-max: headers are dropped from
// the end, the marker kept.
func TestFixHeaderFrameBudget(t *testing.T) {
	big := strings.Repeat("v", 3000)
	tab := table(entry("id", str("t1")), entry("pad", str(big)), entry("x-odd", field('Q', nil)))
	p := headerPayload(3, tab)
	fixed, ok := fixHeaderFrame(p, len(p))
	if !ok || len(fixed) > len(p) {
		t.Fatalf("fixed %d bytes (ok %v), limit %d", len(fixed), ok, len(p))
	}
	if !bytes.Contains(fixed, []byte(broker.HeaderUnreadable)) || !bytes.Contains(fixed, []byte("\x02idS")) || bytes.Contains(fixed, []byte(big)) {
		t.Fatalf("fixed %q", fixed)
	}
}

// FuzzFixHeaderFrame: no header payload makes the rewrite panic, a
// rewritten table is one checkTable finds readable and within the limit,
// and a rewrite is idempotent.
func FuzzFixHeaderFrame(f *testing.F) {
	for _, tc := range hostileTables {
		f.Add(headerPayload(18, tc.tab), 131072)
	}
	f.Add(headerPayload(18, table(entry("pad", str(strings.Repeat("x", 200))), entry("q", field('Q', nil)))), 250)
	f.Add([]byte{0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 9, 1}, 4096)
	f.Fuzz(func(t *testing.T, p []byte, limit int) {
		if limit < 4096-frameOverhead || limit > maxFixFrame {
			limit = 4096 - frameOverhead
		}
		orig := bytes.Clone(p)
		fixed, ok := fixHeaderFrame(p, max(limit, len(p)))
		if !ok {
			return
		}
		if len(fixed) > max(limit, len(orig)) {
			t.Fatalf("grew to %d bytes past the limit %d", len(fixed), limit)
		}
		again := bytes.Clone(fixed)
		if _, changed := fixHeaderFrame(again, max(limit, len(fixed))); changed {
			t.Fatalf("a rewritten frame needs rewriting again: %q", fixed)
		}
		if !bytes.Equal(again, fixed) {
			t.Fatalf("a rewritten frame changed in place: %q", fixed)
		}
	})
}

// FuzzTableFixConnAmqp091: whatever header table arrives, amqp091-go
// reads it through tableFixConn and the connection stays up (a real
// amqp091-go client against a scripted server).
func FuzzTableFixConnAmqp091(f *testing.F) {
	for _, tc := range hostileTables {
		f.Add(tc.tab[5:])
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		if len(content) > 1<<16 {
			return
		}
		readThrough(t, headerPayload(18, sized('F', content)))
	})
}

// celeryFrames is n deliveries as RabbitMQ sends a Celery add task: the
// basic.deliver method, a header frame with protocol 2's 16 headers, the
// body.
func celeryFrames(n int) []byte {
	tab := table(entry("lang", str("py")), entry("task", str("tasks.add")), entry("id", str("0f5c7e9e-8a1c-4c55-9e4c-3a4c3f0b7e21")),
		entry("shadow", field('V', nil)), entry("eta", field('V', nil)), entry("expires", field('V', nil)), entry("group", field('V', nil)),
		entry("group_index", field('V', nil)), entry("retries", field('I', long(0))), entry("timelimit", array(field('V', nil), field('V', nil))),
		entry("root_id", str("0f5c7e9e-8a1c-4c55-9e4c-3a4c3f0b7e21")), entry("parent_id", field('V', nil)), entry("argsrepr", str("(4, 4)")),
		entry("kwargsrepr", str("{}")), entry("origin", str("gen1234@host")), entry("ignore_result", field('t', []byte{0})))
	body := []byte(`[[4, 4], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`)
	var out []byte
	for i := range n {
		out = append(out, frame(frameMethod, 1, method(60, 60, shortS("ct"), binary.BigEndian.AppendUint64(nil, uint64(i+1)), []byte{0}, shortS(""), shortS("celery")))...)
		out = append(out, frame(frameHeader, 1, headerPayload(len(body), tab))...)
		out = append(out, frame(frameBody, 1, body)...)
	}
	return out
}

// BenchmarkTableFixConn: reading Celery deliveries through tableFixConn
// against reading the same bytes straight from the connection (both
// through the 4 KiB buffer amqp091-go reads with).
func BenchmarkTableFixConn(b *testing.B) {
	const n = 1000
	stream := celeryFrames(n)
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) io.Reader
	}{
		{"direct", func(c net.Conn) io.Reader { return c }},
		{"tableFixConn", func(c net.Conn) io.Reader { return newTableFixConn(c) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			buf := make([]byte, 4096)
			for b.Loop() {
				r := tc.wrap(&readerConn{r: bytes.NewReader(stream)})
				for {
					if _, err := r.Read(buf); err != nil {
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// readerConn is a net.Conn reading from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// BenchmarkAmqp091Deliveries: amqp091-go receiving Celery deliveries from
// a scripted server over a pipe, through tableFixConn and straight.
func BenchmarkAmqp091Deliveries(b *testing.B) {
	const n = 2000
	stream := celeryFrames(n)
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"direct", func(c net.Conn) net.Conn { return c }},
		{"tableFixConn", func(c net.Conn) net.Conn { return newTableFixConn(c) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				client, server := net.Pipe()
				errc := make(chan error, 1)
				go scriptedServer(server, stream, errc)
				conn, err := amqp091.Open(tc.wrap(client), amqp091.Config{
					SASL: []amqp091.Authentication{&amqp091.PlainAuth{Username: "guest", Password: "guest"}}, Locale: "en_US"})
				if err != nil {
					b.Fatal(err)
				}
				ch, err := conn.Channel()
				if err != nil {
					b.Fatal(err)
				}
				ds, err := ch.Consume("q", "ct", true, false, false, false, nil)
				if err != nil {
					b.Fatal(err)
				}
				for range n {
					if _, ok := <-ds; !ok {
						b.Fatal("connection closed")
					}
				}
				conn.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
