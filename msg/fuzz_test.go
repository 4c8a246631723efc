package msg

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzFrameReader feeds arbitrary bytes to the data-phase frame decoder: it
// must never panic, never return a message over the size limit, and end
// with an error when the input ends.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{0, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{1, 1, 'a', 0, 1, 'b'})
	f.Add(appendCommand(nil, "PING", []byte{0, 10, 'c', 't', 'x'}))
	f.Add([]byte{flagLong, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Add([]byte{flagLong, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 512
		// Short reads (1 to 7 bytes) split frames across reads.
		cr := &countingReader{r: bytes.NewReader(data), max: 1 + len(data)%7}
		fr := newFrameReader(cr, max)
		for i := 0; i < 10000; i++ {
			whole, reads := fr.wholeMessage(), cr.n
			frames, size, cmd, err := fr.next(nil, 1)
			if whole && cr.n != reads {
				t.Fatalf("next read more input after wholeMessage reported a whole message buffered")
			}
			if err != nil {
				if errors.Is(err, errDropped) {
					continue
				}
				return
			}
			total := 0
			for _, fb := range frames {
				total += len(fb)
			}
			if !cmd && total > max {
				t.Fatalf("message of %d bytes passed a %d limit", total, max)
			}
			if !cmd && (len(frames)-2)*frameCost > max {
				t.Fatalf("message of %d frames passed a %d limit", len(frames)-1, max)
			}
			if !cmd && total != size {
				t.Fatalf("next reported %d bytes for a message of %d", size, total)
			}
			if cmd {
				_, _, _ = parseCommand(frames[0])
			}
		}
		t.Fatal("no end after 10000 messages")
	})
}

// countingReader counts Read calls and returns at most max bytes each.
type countingReader struct {
	r   io.Reader
	n   int
	max int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.n++
	return c.r.Read(p[:min(len(p), c.max)])
}

// FuzzHandshake plays an arbitrary peer against the server-side handshake
// (NULL and PLAIN): it must end (error or success), never panic.
func FuzzHandshake(f *testing.F) {
	g := nullGreeting()
	f.Add(append(append([]byte(nil), g...), readyCommand("REQ")...), false)
	f.Add(append(append([]byte(nil), g...), readyCommand("BOGUS")...), false)
	f.Add(g[:20], false)
	pg := append([]byte(nil), g...)
	copy(pg[12:32], "PLAIN\x00\x00\x00\x00")
	hello := appendCommand(nil, "HELLO", []byte{5, 'a', 'd', 'm', 'i', 'n', 6, 's', 'e', 'c', 'r', 'e', 't'})
	f.Add(append(append(pg, hello...), appendCommand(nil, "INITIATE", nil)...), true)
	f.Add(append(append([]byte(nil), pg...), appendCommand(nil, "HELLO", []byte{200, 'x'})...), true)
	f.Fuzz(func(t *testing.T, data []byte, plain bool) {
		a, b := newInprocPair("fuzz")
		defer a.Close()
		defer b.Close()
		go func() {
			b.Write(data)
			io.Copy(io.Discard, b)
		}()
		var sec securityMech = nullMechanism{}
		if plain {
			sec = &plainMechanism{auth: &PlainAuth{Users: map[string]string{"admin": "secret"}}}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			fr := newFrameReader(a, 1<<20)
			_, _ = handshake(a, fr, sec, Rep, newRep(nil).traits(), nil, plain, 10*time.Millisecond)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("handshake did not end")
		}
	})
}

var _ net.Conn = (*inprocConn)(nil)

// TestManyEmptyFramesCountAgainstTheLimit: a message of empty frames holds
// memory (a slice header each) that its payload size does not show; the
// size limit counts it, so such a message is dropped and the next one read.
func TestManyEmptyFramesCountAgainstTheLimit(t *testing.T) {
	const max = 512
	var in []byte
	for range 1000 {
		in = append(in, flagMore, 0) // 1000 empty frames, 0 payload bytes
	}
	in = append(in, 0, 0)
	in = append(in, 0, 2, 'o', 'k')
	fr := newFrameReader(bytes.NewReader(in), max)
	if _, _, _, err := fr.next(nil, 0); !errors.Is(err, errDropped) {
		t.Fatalf("1001 empty frames under a %d-byte limit: err %v, want the message dropped", max, err)
	}
	frames, size, _, err := fr.next(nil, 0)
	if err != nil || size != 2 || len(frames) != 1 || string(frames[0]) != "ok" {
		t.Fatalf("next message: %q %d %v", frames, size, err)
	}
	// A message of few frames within the limit still passes.
	in = append([]byte{flagMore, 0, flagMore, 0}, 0, 1, 'x')
	fr = newFrameReader(bytes.NewReader(in), max)
	if frames, _, _, err := fr.next(nil, 0); err != nil || len(frames) != 3 {
		t.Fatalf("3 frames: %q %v", frames, err)
	}
}

// FuzzCurveHandshake plays an arbitrary peer against a CURVE server's
// handshake (and the data phase after it): it must end, never panic.
func FuzzCurveHandshake(f *testing.F) {
	g := nullGreeting()
	copy(g[12:32], "CURVE\x00\x00\x00\x00")
	f.Add(append(append([]byte(nil), g...), appendCommand(nil, "HELLO", make([]byte, helloBody))...))
	hello := make([]byte, helloBody)
	hello[0] = 1
	f.Add(append(append([]byte(nil), g...), appendCommand(nil, "HELLO", hello)...))
	f.Add(append(append([]byte(nil), g...), appendCommand(nil, "INITIATE", make([]byte, initiateMin))...))
	f.Add(g)
	_, sec, err := GenerateKeyPair()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := newInprocPair("fuzz-curve")
		defer a.Close()
		defer b.Close()
		go func() {
			b.Write(data)
			b.Close() // the peer says no more: the handshake ends at once
		}()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fr := newFrameReader(a, 1<<20)
			m := newCurveMechanism(&CurveAuth{Secret: &sec})
			_, _ = handshake(a, fr, m, Rep, newRep(nil).traits(), nil, true, 10*time.Millisecond)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("handshake did not end")
		}
	})
}
