package msg

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/salsa20"
)

// curveBox is the data phase of a CURVE connection: each ZMTP frame —
// message frames and commands (PING, SUBSCRIBE) alike — travels as a
// MESSAGE: "\x07MESSAGE", an 8-byte nonce that strictly increases, and
// Box[flags + body], where flags has 0x01 for more frames and 0x02 for a
// command (RFC 26, as libzmq 4.3 encodes commands). Sealing runs in the
// writer, under the connection's write ownership, so nonces follow the
// byte stream's order; opening runs in the reader (boxReader), below the
// frame reader, which sees plain frames.
type curveBox struct {
	key        [32]byte // box.Precompute of the transient keys
	send, recv string   // nonce prefixes: ours, the peer's
	next       uint64   // the next nonce we send
	last       uint64   // the last nonce received: the next must be larger
}

const messageName = "\x07MESSAGE"

// messageOverhead is what boxing adds to a frame body: the name, the nonce,
// the flags byte and the authenticator.
const messageOverhead = len(messageName) + 8 + 1 + box.Overhead

// seal appends to dst the MESSAGEs carrying the plain ZMTP frames of src
// (whole frames, as queued). It overwrites the last byte of each frame's
// header in src with the frame's flags byte, so that flags and body are
// sealed in place: src is the caller's to discard.
func (b *curveBox) seal(dst, src []byte) []byte {
	var nonce [24]byte
	copy(nonce[:], b.send)
	for len(src) > 0 {
		flags := src[0]
		var size uint64
		hl := 2
		if flags&flagLong != 0 {
			size, hl = binary.BigEndian.Uint64(src[1:9]), 9
		} else {
			size = uint64(src[1])
		}
		inner := flags & flagMore
		if flags&flagCommand != 0 {
			inner |= 0x02
		}
		plain := src[hl-1 : hl+int(size)] // the header's last byte, then the body
		plain[0] = inner
		src = src[hl+int(size):]
		binary.BigEndian.PutUint64(nonce[16:], b.next)
		outer := uint64(messageOverhead) + size
		if outer > 255 {
			dst = append(dst, flagLong)
			dst = binary.BigEndian.AppendUint64(dst, outer)
		} else {
			dst = append(dst, 0, byte(outer))
		}
		dst = append(dst, messageName...)
		dst = append(dst, nonce[16:]...)
		dst = box.SealAfterPrecomputation(dst, plain, &nonce, &b.key)
		b.next++
	}
	return dst
}

// reader returns the io.Reader a CURVE connection's frame reader reads: the
// plain frames that the MESSAGEs on r carry. A MESSAGE larger than max
// allows is not buffered: its flags byte is read (unauthenticated) and a
// frame of zeros of its size handed on, which the frame reader then drops
// as oversized without buffering it either.
func (b *curveBox) reader(r io.Reader, max int64) io.Reader {
	br := &boxReader{b: b, r: bufio.NewReaderSize(r, boxReadBuf), max: max, hdr: make([]byte, 0, 9)}
	copy(br.nonce[:], b.recv)
	return br
}

// boxReadBuf is the buffer of a CURVE connection's reads: whole MESSAGEs
// buffered in it are opened as one batch.
const boxReadBuf = 256 << 10

type boxReader struct {
	b     *curveBox
	r     *bufio.Reader
	max   int64
	nonce [24]byte

	hdr    []byte // a plain frame header waiting to be read
	out    []byte // a plain body waiting to be read (out[off:])
	off    int
	zeros  uint64 // zero bytes to hand on for a skipped MESSAGE
	inbuf  []byte
	plain  []byte
	header [9]byte
	items  []boxItem
	err    error // sticky: the stream is broken from here on
}

// boxItem is one MESSAGE of a batch: its box, its nonce, and where its
// plain frame goes.
type boxItem struct {
	box   []byte
	nonce uint64
	at    int // offset of the frame's header in the output
	hlen  int // 2 or 9
}

func (br *boxReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(br.hdr) > 0:
			k := copy(p[n:], br.hdr)
			br.hdr = br.hdr[k:]
			n += k
		case br.off < len(br.out):
			k := copy(p[n:], br.out[br.off:])
			br.off += k
			n += k
		case br.zeros > 0:
			k := min(uint64(len(p)-n), br.zeros)
			clear(p[n : n+int(k)])
			br.zeros -= k
			n += int(k)
		default:
			if n > 0 && !br.whole() {
				return n, nil // hand over what we have before reading on
			}
			if br.err == nil {
				br.err = br.next()
			}
			if br.err != nil {
				if n > 0 {
					return n, nil // the error comes with the next call
				}
				return 0, br.err
			}
		}
	}
	return n, nil
}

// whole reports whether a whole MESSAGE is buffered, so that opening it
// does not block.
func (br *boxReader) whole() bool {
	h, _ := br.r.Peek(min(9, br.r.Buffered())) // never blocks
	if len(h) < 2 {
		return false
	}
	size, hl := uint64(h[1]), 2
	if h[0]&flagLong != 0 {
		if len(h) < 9 {
			return false
		}
		size, hl = binary.BigEndian.Uint64(h[1:9]), 9
	}
	return uint64(br.r.Buffered()-hl) >= size
}

// parallelBatch is the batch size (bytes) from which a batch of messages
// of 512 bytes or more is opened in two halves at once: CURVE is bound by
// XSalsa20-Poly1305, and a reader that opens alone cannot keep up with a
// sender that seals alone. (Smaller messages cost more in per-message
// work than in cryptography: splitting them does not pay.)
const parallelBatch = 32 << 10

// batch opens the MESSAGEs wholly buffered (at least the next one) into
// br.out as plain frames, without copying their boxes: in two halves on
// two goroutines when there is enough. It reports false, having done
// nothing, when the next MESSAGE is not wholly buffered or needs the
// careful path of next (too large, malformed).
func (br *boxReader) batch() (bool, error) {
	buf, _ := br.r.Peek(br.r.Buffered())
	items := br.items[:0]
	pos, outLen := 0, 0
	last := br.b.last
	limit := uint64(hardMaxMessage)
	if br.max >= 0 {
		limit = uint64(br.max) + maxCommandLen
	}
	for len(items) < 1024 && len(buf)-pos >= 2 {
		flags := buf[pos]
		if flags&(flagReserve|flagMore) != 0 {
			break
		}
		size, hl := uint64(buf[pos+1]), 2
		if flags&flagLong != 0 {
			if len(buf)-pos < 9 {
				break
			}
			size, hl = binary.BigEndian.Uint64(buf[pos+1:pos+9]), 9
		}
		if size < uint64(messageOverhead) || size-uint64(messageOverhead) > limit || uint64(len(buf)-pos-hl) < size {
			break
		}
		body := buf[pos+hl : pos+hl+int(size)]
		n := binary.BigEndian.Uint64(body[8:16])
		if string(body[:8]) != messageName || n <= last {
			break
		}
		last = n
		payload := int(size) - messageOverhead
		hlen := 2
		if payload > 255 {
			hlen = 9
		}
		items = append(items, boxItem{box: body[16:], nonce: n, at: outLen, hlen: hlen})
		outLen += hlen + payload
		pos += hl + int(size)
	}
	br.items = items
	if len(items) == 0 {
		return false, nil
	}
	if cap(br.plain) < outLen {
		br.plain = make([]byte, outLen)
	}
	out := br.plain[:outLen]
	ok := true
	if pos >= parallelBatch && len(items) >= 4 && pos/len(items) >= 512 {
		half := 0
		for half < len(items) && items[half].at < outLen/2 {
			half++
		}
		done := make(chan bool, 1)
		go func() { done <- br.open(out, items[half:]) }()
		ok = br.open(out, items[:half])
		ok = <-done && ok
	} else {
		ok = br.open(out, items)
	}
	if !ok {
		return false, fmt.Errorf("%w: CURVE: a MESSAGE does not open (corrupted or forged)", ErrProtocol)
	}
	_, _ = br.r.Discard(pos)
	br.b.last = last
	br.out, br.off = out, 0
	return true, nil
}

// open opens items into out, each plain frame (header, body) at its
// offset: the box opens so that its flags byte lands on the header's last
// byte, which the header then overwrites.
func (br *boxReader) open(out []byte, items []boxItem) bool {
	var nonce [24]byte
	copy(nonce[:], br.b.recv)
	for _, it := range items {
		binary.BigEndian.PutUint64(nonce[16:], it.nonce)
		dst := out[it.at+it.hlen-1 : it.at+it.hlen-1]
		plain, ok := box.OpenAfterPrecomputation(dst, it.box, &nonce, &br.b.key)
		if !ok {
			return false
		}
		inner, size := plain[0], uint64(len(plain)-1)
		flags := inner & flagMore
		if inner&0x02 != 0 {
			flags |= flagCommand
		}
		if it.hlen == 9 {
			out[it.at] = flags | flagLong
			binary.BigEndian.PutUint64(out[it.at+1:], size)
		} else {
			out[it.at], out[it.at+1] = flags, byte(size)
		}
	}
	return true
}

// next reads and opens the next MESSAGEs: a batch of those buffered when
// it can, else one, carefully.
func (br *boxReader) next() error {
	if br.whole() {
		if ok, err := br.batch(); ok || err != nil {
			return err
		}
	}
	return br.nextOne()
}

// nextOne reads and opens one MESSAGE.
func (br *boxReader) nextOne() error {
	h := br.header[:2]
	if _, err := io.ReadFull(br.r, h); err != nil {
		return err
	}
	flags := h[0]
	if flags&flagReserve != 0 || flags&flagMore != 0 {
		return fmt.Errorf("%w: CURVE: malformed MESSAGE frame (flags 0x%02x)", ErrProtocol, flags)
	}
	size := uint64(h[1])
	if flags&flagLong != 0 {
		h = br.header[:9]
		if _, err := io.ReadFull(br.r, h[2:]); err != nil {
			return unexpected(err)
		}
		size = binary.BigEndian.Uint64(h[1:9])
	}
	if size < uint64(messageOverhead) || size > hardMaxMessage {
		return fmt.Errorf("%w: CURVE: MESSAGE of %d bytes", ErrProtocol, size)
	}
	body := size - uint64(messageOverhead)
	if br.max >= 0 && body > uint64(br.max)+maxCommandLen {
		return br.skip(size, body)
	}
	if cap(br.inbuf) < int(size) {
		br.inbuf = make([]byte, size)
	}
	in := br.inbuf[:size]
	if _, err := io.ReadFull(br.r, in); err != nil {
		return unexpected(err)
	}
	if string(in[:8]) != messageName {
		return fmt.Errorf("%w: CURVE: expected MESSAGE, got another command", ErrProtocol)
	}
	n := binary.BigEndian.Uint64(in[8:16])
	if n <= br.b.last {
		return fmt.Errorf("%w: CURVE: nonce %d not above %d (a replayed or reordered MESSAGE)", ErrProtocol, n, br.b.last)
	}
	binary.BigEndian.PutUint64(br.nonce[16:], n)
	plain, ok := box.OpenAfterPrecomputation(br.plain[:0], in[16:], &br.nonce, &br.b.key)
	if !ok {
		return fmt.Errorf("%w: CURVE: a MESSAGE does not open (corrupted or forged)", ErrProtocol)
	}
	br.b.last = n
	br.plain = plain
	br.setHeader(plain[0], uint64(len(plain)-1))
	br.out, br.off = plain[1:], 0
	if cap(br.inbuf) > maxKeptBuffer {
		br.inbuf, br.plain = nil, nil
	}
	return nil
}

// setHeader makes the plain frame header for a body of size bytes.
func (br *boxReader) setHeader(inner byte, size uint64) {
	flags := inner & flagMore
	if inner&0x02 != 0 {
		flags |= flagCommand
	}
	if size > 255 {
		br.hdr = binary.BigEndian.AppendUint64(append(br.hdr[:0], flags|flagLong), size)
	} else {
		br.hdr = append(br.hdr[:0], flags, byte(size))
	}
}

// skip passes an oversized MESSAGE on as zeros of its size, discarding it
// without buffering: only its flags byte is decrypted (so that the frame
// reader knows whether more frames follow), unauthenticated, since
// authenticating needs the whole box.
func (br *boxReader) skip(size, body uint64) error {
	var pre [8 + 8 + box.Overhead + 1]byte
	if _, err := io.ReadFull(br.r, pre[:]); err != nil {
		return unexpected(err)
	}
	n := binary.BigEndian.Uint64(pre[8:16])
	if string(pre[:8]) != messageName || n <= br.b.last {
		return fmt.Errorf("%w: CURVE: malformed MESSAGE", ErrProtocol)
	}
	// The flags byte is the first byte after the authenticator's 32 bytes
	// of key stream: the 33rd byte of XSalsa20's stream under the
	// connection's subkey.
	var ks [33]byte
	binary.BigEndian.PutUint64(br.nonce[16:], n)
	salsa20.XORKeyStream(ks[:], ks[:], br.nonce[:], &br.b.key)
	inner := pre[8+8+box.Overhead] ^ ks[32]
	if _, err := io.CopyN(io.Discard, br.r, int64(size)-int64(len(pre))); err != nil {
		return unexpected(err)
	}
	br.b.last = n
	br.setHeader(inner, body)
	br.zeros = body
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
