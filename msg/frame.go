package msg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// ZMTP 3.0 frame flags.
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
	flagReserve = 0xF8
)

const (
	readBufSize   = 64 << 10
	slabSize      = 32 << 10
	smallFrame    = 4 << 10  // frames up to this size may be copied into a shared slab (see releasing)
	maxCommandLen = 64 << 10 // commands are small: PING, PONG, SUBSCRIBE, ERROR
	// hardMaxMessage is a sanity bound even when MaxMessageSize is unlimited:
	// such a size is a corrupt stream, not a message.
	hardMaxMessage = 1 << 40
	// frameCost is what one received frame costs beyond its body (its slice
	// header). The size limit charges it for every frame after the first, so
	// that a message of millions of empty frames cannot hold memory that its
	// payload size does not show.
	frameCost = 24
)

// errDropped reports a message that exceeded the size limit and was skipped;
// the connection stays usable.
var errDropped = errors.New("msg: oversized message dropped")

// frameReader decodes ZMTP frames through a buffer of its own, so that many
// small frames cost one read syscall, the size limit is enforced before any
// body is buffered, and received bodies share a few large allocations.
type frameReader struct {
	r          io.Reader
	buf        []byte
	rpos, wpos int
	max        int64         // largest message accepted; < 0 means no limit
	reads      atomic.Uint64 // successful reads, for heartbeat liveness

	// slab[slabOff:] is free room for small frame bodies; frames handed out
	// share the rest. (An offset rather than append keeps the hot path free
	// of pointer writes, which cost a write barrier while the GC marks.)
	slab    []byte
	slabOff int
}

func newFrameReader(r io.Reader, max int64) *frameReader {
	return &frameReader{r: r, buf: make([]byte, readBufSize), max: max}
}

// fill reads at least once more from r, compacting the buffer first.
func (fr *frameReader) fill() error {
	if fr.rpos == fr.wpos {
		fr.rpos, fr.wpos = 0, 0
	} else if fr.rpos > 0 && fr.wpos == len(fr.buf) {
		n := copy(fr.buf, fr.buf[fr.rpos:fr.wpos])
		fr.rpos, fr.wpos = 0, n
	}
	n, err := fr.r.Read(fr.buf[fr.wpos:])
	fr.wpos += n
	if n > 0 {
		fr.reads.Add(1)
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// need makes at least n (<= len(buf)) bytes available in the buffer.
func (fr *frameReader) need(n int) error {
	for fr.wpos-fr.rpos < n {
		if fr.rpos > 0 && len(fr.buf)-fr.rpos < n {
			c := copy(fr.buf, fr.buf[fr.rpos:fr.wpos])
			fr.rpos, fr.wpos = 0, c
		}
		if err := fr.fill(); err != nil {
			if err == io.EOF && fr.wpos > fr.rpos {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Read hands out buffered bytes, filling when empty (used by the handshake).
func (fr *frameReader) Read(p []byte) (int, error) {
	if fr.rpos == fr.wpos {
		if err := fr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, fr.buf[fr.rpos:fr.wpos])
	fr.rpos += n
	return n, nil
}

// header reads one frame header.
func (fr *frameReader) header() (flags byte, size uint64, err error) {
	if err := fr.need(2); err != nil {
		return 0, 0, err
	}
	flags = fr.buf[fr.rpos]
	if flags&flagReserve != 0 {
		return 0, 0, fmt.Errorf("%w: reserved frame flag bits set (0x%02x)", ErrProtocol, flags)
	}
	if flags&flagLong == 0 {
		size = uint64(fr.buf[fr.rpos+1])
		fr.rpos += 2
		return flags, size, nil
	}
	if err := fr.need(9); err != nil {
		return 0, 0, err
	}
	size = binary.BigEndian.Uint64(fr.buf[fr.rpos+1:])
	fr.rpos += 9
	return flags, size, nil
}

// discard skips n body bytes without buffering them.
func (fr *frameReader) discard(n uint64) error {
	for n > 0 {
		if fr.rpos == fr.wpos {
			if err := fr.fill(); err != nil {
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := uint64(fr.wpos - fr.rpos)
		if k > n {
			k = n
		}
		fr.rpos += int(k)
		n -= k
	}
	return nil
}

// body returns the next size bytes as a slice the caller may keep.
func (fr *frameReader) body(size int) ([]byte, error) {
	if size <= smallFrame && (size < 1<<minPooledShift || !releasing.Load()) {
		if err := fr.need(size); err != nil {
			return nil, err
		}
		b := fr.small(size)
		copy(b, fr.buf[fr.rpos:])
		fr.rpos += size
		return b, nil
	}
	b := allocFrame(size)
	n := copy(b, fr.buf[fr.rpos:fr.wpos])
	fr.rpos += n
	if n < size {
		fr.reads.Add(1)
		if _, err := io.ReadFull(fr.r, b[n:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// next reads one message and appends its frames to dst, after reserve nil
// slots for the caller, returning the extended slice and the message's
// payload size. A command (cmd true) is appended as its one frame instead.
// An oversized message is skipped and reported as errDropped (with its size
// so far); any other error ends the connection. On an error nothing is
// appended.
func (fr *frameReader) next(dst [][]byte, reserve int) (out [][]byte, size int, cmd bool, err error) {
	if out, size, ok := fr.nextShort(dst, reserve); ok {
		return out, size, false, nil
	}
	base := len(dst)
	for range reserve {
		dst = append(dst, nil)
	}
	var total, frames uint64
	dropping := false
	for {
		flags, size, err := fr.header()
		if err != nil {
			return truncate(dst, base), 0, false, err
		}
		if flags&flagCommand != 0 {
			if len(dst) > base+reserve || dropping || flags&flagMore != 0 {
				return truncate(dst, base), 0, false, fmt.Errorf("%w: command frame inside a message", ErrProtocol)
			}
			if size > maxCommandLen {
				return truncate(dst, base), 0, false, fmt.Errorf("%w: command of %d bytes", ErrProtocol, size)
			}
			b, err := fr.body(int(size))
			if err != nil {
				return truncate(dst, base), 0, false, err
			}
			return append(truncate(dst, base), b), int(size), true, nil
		}
		total += size
		frames++
		if total < size || total > hardMaxMessage {
			return truncate(dst, base), 0, false, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, size)
		}
		if !dropping && fr.max >= 0 && (total > uint64(fr.max) || (frames-1)*frameCost > uint64(fr.max)) {
			dropping = true
			dst = truncate(dst, base)
		}
		if dropping {
			if err := fr.discard(size); err != nil {
				return dst, 0, false, err
			}
		} else {
			b, err := fr.body(int(size))
			if err != nil {
				return truncate(dst, base), 0, false, err
			}
			dst = append(dst, b)
		}
		if flags&flagMore == 0 {
			break
		}
	}
	if dropping {
		return dst, 0, false, fmt.Errorf("%w (%d bytes in %d frames or more, limit %d)", errDropped, total, frames, fr.max)
	}
	return dst, int(total), false, nil
}

// truncate cuts dst back to n frames, clearing the rest so that the backing
// array does not keep dropped bodies alive.
func truncate(dst [][]byte, n int) [][]byte {
	clear(dst[n:])
	return dst[:n]
}

// nextShort is next's fast path for the common case: a whole single-frame
// message of at most 255 bytes already in the buffer. ok is false when the
// case does not apply.
func (fr *frameReader) nextShort(dst [][]byte, reserve int) (out [][]byte, size int, ok bool) {
	avail := fr.wpos - fr.rpos
	if avail < 2 || fr.buf[fr.rpos] != 0 {
		return dst, 0, false
	}
	size = int(fr.buf[fr.rpos+1])
	if avail < 2+size || (fr.max >= 0 && int64(size) > fr.max) {
		return dst, 0, false
	}
	b := fr.small(size)
	copy(b, fr.buf[fr.rpos+2:])
	fr.rpos += 2 + size
	if reserve > 0 {
		dst = append(dst, nil)
	}
	return append(dst, b), size, true
}

// small returns room for a small frame body of size bytes in the slab.
func (fr *frameReader) small(size int) []byte {
	k := fr.slabOff
	if k+size > len(fr.slab) {
		fr.slab = make([]byte, max(slabSize, size))
		k = 0
	}
	fr.slabOff = k + size
	return fr.slab[k : k+size : k+size]
}

// wholeMessage reports whether a whole message or command is buffered (or
// a frame header next rejects), so that next will not block reading.
func (fr *frameReader) wholeMessage() bool {
	i := fr.rpos
	for {
		if fr.wpos-i < 2 {
			return false
		}
		flags := fr.buf[i]
		if flags&flagReserve != 0 {
			return true
		}
		size := uint64(fr.buf[i+1])
		i += 2
		if flags&flagLong != 0 {
			if fr.wpos-i < 7 {
				return false
			}
			size = binary.BigEndian.Uint64(fr.buf[i-1:])
			i += 7
		}
		if size > uint64(fr.wpos-i) {
			return false
		}
		i += int(size)
		if flags&flagMore == 0 || flags&flagCommand != 0 {
			return true
		}
	}
}

// appendFrame appends one encoded ZMTP frame to dst.
func appendFrame(dst []byte, flags byte, body []byte) []byte {
	if len(body) > 255 {
		dst = append(dst, flags|flagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(len(body)))
	} else {
		dst = append(dst, flags, byte(len(body)))
	}
	return append(dst, body...)
}

// appendMsg appends the frames of one message (prefix frames first) to dst.
func appendMsg(dst []byte, prefix, frames [][]byte) []byte {
	if len(prefix) == 0 && len(frames) == 1 && len(frames[0]) <= 255 {
		f := frames[0]
		return append(append(dst, 0, byte(len(f))), f...)
	}
	n := len(prefix) + len(frames)
	i := 0
	for _, f := range prefix {
		i++
		var fl byte
		if i < n {
			fl = flagMore
		}
		dst = appendFrame(dst, fl, f)
	}
	for _, f := range frames {
		i++
		var fl byte
		if i < n {
			fl = flagMore
		}
		dst = appendFrame(dst, fl, f)
	}
	return dst
}

// appendCommand appends one ZMTP command frame to dst.
func appendCommand(dst []byte, name string, body []byte) []byte {
	n := 1 + len(name) + len(body)
	if n > 255 {
		dst = append(dst, flagCommand|flagLong)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	} else {
		dst = append(dst, flagCommand, byte(n))
	}
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	return append(dst, body...)
}

// parseCommand splits a command frame into name and body.
func parseCommand(b []byte) (name string, body []byte, err error) {
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return "", nil, fmt.Errorf("%w: malformed command frame", ErrProtocol)
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], nil
}
