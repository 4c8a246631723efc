package msg

import (
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
// (whole frames, as queued).
func (b *curveBox) seal(dst, src []byte) []byte {
	var plain []byte
	var nonce [24]byte
	copy(nonce[:], b.send)
	for len(src) > 0 {
		flags := src[0]
		var size uint64
		if flags&flagLong != 0 {
			size = binary.BigEndian.Uint64(src[1:9])
			src = src[9:]
		} else {
			size = uint64(src[1])
			src = src[2:]
		}
		body := src[:size]
		src = src[size:]
		inner := flags & flagMore
		if flags&flagCommand != 0 {
			inner |= 0x02
		}
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
		plain = append(append(plain[:0], inner), body...)
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
	return &boxReader{b: b, r: r, max: max, hdr: make([]byte, 0, 9)}
}

type boxReader struct {
	b   *curveBox
	r   io.Reader
	max int64

	hdr    []byte // a plain frame header waiting to be read
	out    []byte // a plain body waiting to be read (out[off:])
	off    int
	zeros  uint64 // zero bytes to hand on for a skipped MESSAGE
	inbuf  []byte
	plain  []byte
	header [9]byte
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
			if n > 0 {
				return n, nil // hand over what we have before reading on
			}
			if err := br.next(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// next reads and opens one MESSAGE.
func (br *boxReader) next() error {
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
	plain, ok := box.OpenAfterPrecomputation(br.plain[:0], in[16:], shortNonce(br.b.recv, n), &br.b.key)
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
	salsa20.XORKeyStream(ks[:], ks[:], shortNonce(br.b.recv, n)[:], &br.b.key)
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
