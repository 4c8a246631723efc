package msg

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Bounds on what a peer may send before its handshake completes.
const (
	greetingLen       = 64
	maxHandshakeFrame = 64 << 10
	maxHandshakeBytes = 256 << 10
)

// hsConn is the net.Conn zmq4.Open runs the handshake on: writes go straight
// to the connection; reads come from our frameReader (so bytes the peer sent
// right after its handshake stay buffered for the data phase) through a guard
// that parses the stream and refuses oversized frames before zmq4 allocates
// them. It also records the mechanism the peer announced in its greeting.
type hsConn struct {
	net.Conn
	fr *frameReader

	total     int
	state     int // 0 greeting, 1 flags, 2 size, 3 body
	left      uint64
	sizeBytes int
	size      uint64
	greeting  [greetingLen]byte
	peerMech  string
	frame     []byte // body of the frame being read
	errReason string // reason of an ERROR command the peer sent
	sawError  bool
}

const (
	hsGreeting = iota
	hsFlags
	hsSize
	hsBody
)

var errHandshakeTooLarge = fmt.Errorf("%w: handshake frame too large", ErrProtocol)

func newHSConn(c net.Conn, fr *frameReader) *hsConn {
	return &hsConn{Conn: c, fr: fr, left: greetingLen}
}

func (h *hsConn) Read(p []byte) (int, error) {
	// Hand out at most what the guard may inspect in one go.
	n, err := h.fr.Read(p)
	for i := 0; i < n; i++ {
		if e := h.observe(p[i]); e != nil {
			return 0, e
		}
	}
	return n, err
}

func (h *hsConn) observe(b byte) error {
	h.total++
	if h.total > maxHandshakeBytes {
		return errHandshakeTooLarge
	}
	switch h.state {
	case hsGreeting:
		h.greeting[greetingLen-h.left] = b
		h.left--
		if h.left == 0 {
			h.peerMech = strings.TrimRight(string(h.greeting[12:32]), "\x00")
			h.state = hsFlags
		}
	case hsFlags:
		if b&flagReserve != 0 {
			return fmt.Errorf("%w: reserved frame flag bits set (0x%02x)", ErrProtocol, b)
		}
		h.sizeBytes = 1
		if b&flagLong != 0 {
			h.sizeBytes = 8
		}
		h.size = 0
		h.state = hsSize
	case hsSize:
		h.size = h.size<<8 | uint64(b)
		h.sizeBytes--
		if h.sizeBytes == 0 {
			if h.size > maxHandshakeFrame {
				return errHandshakeTooLarge
			}
			h.left = h.size
			h.state = hsBody
			h.frame = h.frame[:0]
			if h.left == 0 {
				h.state = hsFlags
			}
		}
	case hsBody:
		h.frame = append(h.frame, b)
		h.left--
		if h.left == 0 {
			h.state = hsFlags
			h.checkError()
		}
	}
	return nil
}

// checkError notes an ERROR command. libzmq 4.3 writes the command name of
// its ERROR as the byte 0x5E then "RROR" (a C string "\x5ERROR"), which zmq4
// rejects as malformed; both spellings are recognised here.
func (h *hsConn) checkError() {
	var rest []byte
	switch {
	case len(h.frame) >= 6 && string(h.frame[:6]) == "\x05ERROR":
		rest = h.frame[6:]
	case len(h.frame) >= 5 && string(h.frame[:5]) == "\x5eRROR":
		rest = h.frame[5:]
	default:
		return
	}
	h.sawError = true
	h.errReason = errorReason(rest)
}

// hsResult is what a handshake established.
type hsResult struct {
	peerType string
	peerID   []byte
	box      *curveBox // CURVE: the data phase's sealing; nil otherwise
}

// handshake runs the ZMTP greeting and security handshake on c with zmq4 and
// returns what the peer told. Any panic inside zmq4 on malformed input
// becomes an error.
func handshake(c net.Conn, fr *frameReader, sec securityMech, typ Type, tr traits, id []byte, server bool, timeout time.Duration) (res hsResult, err error) {
	h := newHSConn(c, fr)
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: malformed handshake (%v)", ErrProtocol, r)
		}
		if err != nil {
			err = classifyHandshakeErr(err, h, sec)
		}
		_ = c.SetDeadline(time.Time{})
	}()
	// zmq4 checks socket-type compatibility with a table that panics on
	// unknown peer types (recovered above); we check again with our own.
	zc, err := zmq4.Open(h, sec, zmq4.SocketType(typ), zmq4.SocketIdentity(id), server, nil)
	if err != nil {
		return hsResult{}, err
	}
	res.peerType = zc.Peer.Meta["Socket-Type"]
	if !tr.compatible(res.peerType) {
		return hsResult{}, fmt.Errorf("%w: peer socket type %q cannot talk to %s", ErrProtocol, res.peerType, typ)
	}
	if v, ok := zc.Peer.Meta["Identity"]; ok && v != "" {
		res.peerID = []byte(v)
	}
	if cm, ok := sec.(*curveMechanism); ok {
		res.box = cm.box
	}
	return res, nil
}

// mechanism returns the security mechanism of a new connection and whether
// we are its server: CURVE's and PLAIN's roles are set by the options, not
// by who connects (PLAIN: accepted connections are verified).
func (s *Socket) mechanism(accepted bool) (securityMech, bool) {
	switch {
	case s.opts.Curve != nil:
		m := newCurveMechanism(s.opts.Curve)
		return m, m.server
	case s.opts.Plain != nil:
		return &plainMechanism{auth: s.opts.Plain}, accepted
	}
	return nullMechanism{}, false
}

// classifyHandshakeErr turns zmq4's nested handshake errors into one clear
// error: ErrAuth when the peer refused us or uses another mechanism.
func classifyHandshakeErr(err error, h *hsConn, sec securityMech) error {
	switch m := sec.(type) {
	case *plainMechanism:
		if m.err != nil {
			return m.err
		}
	case *curveMechanism:
		return m.failure(err, h)
	}
	if h.sawError {
		return fmt.Errorf("%w: the peer refused the connection (ERROR %q)", ErrAuth, h.errReason)
	}
	if ours := string(sec.Type()); h.peerMech != "" && h.peerMech != ours {
		return fmt.Errorf("%w: the peer uses security mechanism %s, we use %s", ErrAuth, h.peerMech, ours)
	}
	if h.total < greetingLen && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		return fmt.Errorf("msg: handshake: the peer closed the connection during the greeting (does it use another security mechanism, e.g. PLAIN?)")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("msg: handshake: timed out")
	}
	return fmt.Errorf("msg: handshake: %w", err)
}

// securityMech is a ZMTP security mechanism as zmq4 runs it.
type securityMech = zmq4.Security
