package msg

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// CURVE (ZeroMQ RFC 26, CurveZMQ): a Curve25519 key exchange in four
// commands — HELLO, WELCOME, INITIATE, READY — then every frame boxed
// (XSalsa20-Poly1305, golang.org/x/crypto's nacl/box) as a MESSAGE with a
// strictly increasing nonce. The handshake runs through zmq4.Open like the
// other mechanisms (its commands are plain ZMTP commands); the boxing runs
// in this package's own frame layer (curvebox.go), because the data phase
// never goes through zmq4 — and could not: zmq4 writes a frame's header
// with the plaintext size before it calls Encrypt.

// PublicKey is a CURVE public key. It prints as Z85.
type PublicKey [32]byte

// SecretKey is a CURVE secret key. It prints as "****"; Z85 gives its text.
type SecretKey [32]byte

func (k PublicKey) String() string { return z85Encode(k[:]) }
func (SecretKey) String() string   { return "****" }

// Z85 returns the key's text, for keygen and config files.
func (k SecretKey) Z85() string { return z85Encode(k[:]) }

// Public returns the public key of k.
func (k SecretKey) Public() PublicKey {
	pub, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		// Only a low-order point fails, and the base point is not one.
		panic(err)
	}
	return PublicKey(pub)
}

// GenerateKeyPair makes a fresh CURVE key pair.
func GenerateKeyPair() (PublicKey, SecretKey, error) {
	pub, sec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return PublicKey{}, SecretKey{}, fmt.Errorf("msg: generating a key pair: %w", err)
	}
	return PublicKey(*pub), SecretKey(*sec), nil
}

// ParsePublicKey reads a Z85 public key (40 characters).
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := parseKey(s)
	return PublicKey(b), err
}

// ParseSecretKey reads a Z85 secret key (40 characters). Its errors never
// quote the text.
func ParseSecretKey(s string) (SecretKey, error) {
	b, err := parseKey(s)
	return SecretKey(b), err
}

func parseKey(s string) ([32]byte, error) {
	var k [32]byte
	if len(s) != 40 {
		return k, fmt.Errorf("msg: a CURVE key is 40 characters of Z85, got %d", len(s))
	}
	b, err := z85Decode(s)
	if err != nil {
		return k, fmt.Errorf("msg: a CURVE key is 40 characters of Z85: %v", err)
	}
	copy(k[:], b)
	return k, nil
}

// CurveAuth configures ZMTP CURVE. A socket with Server set is a client:
// it checks that it talks to the holder of that key, and presents Secret's
// key pair (a fresh one per socket when Secret is nil). A socket without
// Server is a server, whatever it binds or connects: it needs Secret, and
// admits the clients whose public keys Allow lists — any client that knows
// its public key when Allow is empty. A refused client gets an ERROR
// command and the server logs it.
type CurveAuth struct {
	Secret *SecretKey
	Server *PublicKey
	Allow  []PublicKey
}

func (a *CurveAuth) check() error {
	if a.Server == nil && a.Secret == nil {
		return fmt.Errorf("msg: a CURVE server needs its secret key")
	}
	return nil
}

// curveMechanism runs one connection's CURVE handshake (a zmq4.Security)
// and keeps what it established: the data phase's box.
type curveMechanism struct {
	auth   *CurveAuth
	server bool
	box    *curveBox
	err    error  // the failure to report, as is
	step   string // the handshake step reached, for error messages
}

func newCurveMechanism(a *CurveAuth) *curveMechanism {
	return &curveMechanism{auth: a, server: a.Server == nil}
}

func (*curveMechanism) Type() zmq4.SecurityType { return zmq4.CurveSecurity }

// Encrypt and Decrypt pass through: zmq4 only carries the handshake's
// commands, which are plain ZMTP commands (their boxes are built here).
func (*curveMechanism) Encrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }
func (*curveMechanism) Decrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }

func (m *curveMechanism) Handshake(c *zmq4.Conn, server bool) error {
	if m.server {
		return m.serve(c)
	}
	return m.client(c)
}

// Nonce prefixes (RFC 26).
const (
	nonceHello    = "CurveZMQHELLO---"
	nonceWelcome  = "WELCOME-"
	nonceCookie   = "COOKIE--"
	nonceInitiate = "CurveZMQINITIATE"
	nonceVouch    = "VOUCH---"
	nonceReady    = "CurveZMQREADY---"
	nonceMsgC     = "CurveZMQMESSAGEC" // client to server
	nonceMsgS     = "CurveZMQMESSAGES"
)

// shortNonce is a 16-byte prefix and an 8-byte big-endian counter.
func shortNonce(prefix string, n uint64) *[24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	binary.BigEndian.PutUint64(nonce[16:], n)
	return &nonce
}

// longNonce is an 8-byte prefix and 16 bytes (random when sent).
func longNonce(prefix string, tail []byte) *[24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	copy(nonce[8:], tail)
	return &nonce
}

func randomTail() ([]byte, error) {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	return b, err
}

// Command sizes (bodies, without the name).
const (
	helloBody    = 2 + 72 + 32 + 8 + 80 // version, padding, C', nonce, Box[64 zeros]
	welcomeBody  = 16 + 144             // nonce, Box[S' + cookie]
	cookieLen    = 16 + 80              // nonce, secretbox[C' + s']
	vouchLen     = 16 + 80              // nonce, Box[C' + S]
	initiateMin  = cookieLen + 8 + box.Overhead + 32 + vouchLen
	readyMinBody = 8 + box.Overhead
)

func (m *curveMechanism) client(c *zmq4.Conn) error {
	a := m.auth
	serverPub := (*[32]byte)(a.Server)
	var permPub PublicKey
	var permSec SecretKey
	if a.Secret != nil {
		permSec = *a.Secret
		permPub = permSec.Public()
	} else {
		var err error
		if permPub, permSec, err = GenerateKeyPair(); err != nil {
			return err
		}
	}
	tPub, tSec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var nonce uint64 = 1
	hello := make([]byte, 0, helloBody)
	hello = append(hello, 1, 0)
	hello = append(hello, make([]byte, 72)...)
	hello = append(hello, tPub[:]...)
	n := shortNonce(nonceHello, nonce)
	hello = append(hello, n[16:]...)
	hello = box.Seal(hello, make([]byte, 64), n, serverPub, tSec)
	m.step = "HELLO"
	if err := c.SendCmd(zmq4.CmdHello, hello); err != nil {
		return err
	}

	cmd, err := m.recv(c, zmq4.CmdWelcome)
	if err != nil {
		return err
	}
	if len(cmd.Body) != welcomeBody {
		return m.protocol("WELCOME of %d bytes", len(cmd.Body))
	}
	plain, ok := box.Open(nil, cmd.Body[16:], longNonce(nonceWelcome, cmd.Body[:16]), serverPub, tSec)
	if !ok {
		return m.fail("the WELCOME does not open with the server key given (--curve-server): is it the server's public key?")
	}
	var sPrime [32]byte
	copy(sPrime[:], plain[:32])
	cookie := plain[32:]

	vtail, err := randomTail()
	if err != nil {
		return err
	}
	vn := longNonce(nonceVouch, vtail)
	vouch := box.Seal(vtail, append(tPub[:], serverPub[:]...), vn, &sPrime, (*[32]byte)(&permSec))
	meta, err := c.Meta.MarshalZMTP()
	if err != nil {
		return fmt.Errorf("curve: metadata: %w", err)
	}
	inner := make([]byte, 0, 32+len(vouch)+len(meta))
	inner = append(inner, permPub[:]...)
	inner = append(inner, vouch...)
	inner = append(inner, meta...)
	nonce++
	n = shortNonce(nonceInitiate, nonce)
	initiate := make([]byte, 0, len(cookie)+8+box.Overhead+len(inner))
	initiate = append(initiate, cookie...)
	initiate = append(initiate, n[16:]...)
	var shared [32]byte
	box.Precompute(&shared, &sPrime, tSec)
	initiate = box.SealAfterPrecomputation(initiate, inner, n, &shared)
	m.step = "INITIATE"
	if err := c.SendCmd(zmq4.CmdInitiate, initiate); err != nil {
		return err
	}

	cmd, err = m.recv(c, zmq4.CmdReady)
	if err != nil {
		return err
	}
	if len(cmd.Body) < readyMinBody {
		return m.protocol("READY of %d bytes", len(cmd.Body))
	}
	peerNonce := binary.BigEndian.Uint64(cmd.Body[:8])
	meta, ok = box.OpenAfterPrecomputation(nil, cmd.Body[8:], shortNonce(nonceReady, peerNonce), &shared)
	if !ok {
		return m.protocol("READY does not open")
	}
	if err := c.Peer.Meta.UnmarshalZMTP(meta); err != nil {
		return m.protocol("peer metadata: %v", err)
	}
	m.box = &curveBox{key: shared, send: nonceMsgC, recv: nonceMsgS, next: nonce + 1, last: peerNonce}
	return nil
}

func (m *curveMechanism) serve(c *zmq4.Conn) error {
	a := m.auth
	sec := (*[32]byte)(a.Secret)
	pub := a.Secret.Public()
	m.step = "HELLO"
	cmd, err := m.recv(c, zmq4.CmdHello)
	if err != nil {
		return err
	}
	b := cmd.Body
	if len(b) != helloBody || b[0] != 1 {
		return m.protocol("HELLO of %d bytes, version %d", len(b), b[0])
	}
	var cPrime [32]byte
	copy(cPrime[:], b[74:106])
	helloNonce := binary.BigEndian.Uint64(b[106:114])
	if _, ok := box.Open(nil, b[114:], shortNonce(nonceHello, helloNonce), &cPrime, sec); !ok {
		_ = c.SendCmd(zmq4.CmdError, errorBody("wrong server key"))
		return m.fail("a client's HELLO does not open with our key: it was given another server key")
	}

	sPrime, sPrimeSec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var cookieKey [32]byte
	if _, err := rand.Read(cookieKey[:]); err != nil {
		return err
	}
	ctail, err := randomTail()
	if err != nil {
		return err
	}
	cookie := secretbox.Seal(ctail, append(cPrime[:], sPrimeSec[:]...), longNonce(nonceCookie, ctail), &cookieKey)
	wtail, err := randomTail()
	if err != nil {
		return err
	}
	welcome := box.Seal(wtail, append(sPrime[:], cookie...), longNonce(nonceWelcome, wtail), &cPrime, sec)
	m.step = "WELCOME"
	if err := c.SendCmd(zmq4.CmdWelcome, welcome); err != nil {
		return err
	}

	cmd, err = m.recv(c, zmq4.CmdInitiate)
	if err != nil {
		return err
	}
	b = cmd.Body
	if len(b) < initiateMin {
		return m.protocol("INITIATE of %d bytes", len(b))
	}
	kept, ok := secretbox.Open(nil, b[16:cookieLen], longNonce(nonceCookie, b[:16]), &cookieKey)
	if !ok || !bytes.Equal(kept[:32], cPrime[:]) {
		return m.protocol("INITIATE carries a cookie we did not give")
	}
	var shared [32]byte
	box.Precompute(&shared, &cPrime, sPrimeSec)
	initNonce := binary.BigEndian.Uint64(b[cookieLen : cookieLen+8])
	inner, ok := box.OpenAfterPrecomputation(nil, b[cookieLen+8:], shortNonce(nonceInitiate, initNonce), &shared)
	if !ok || len(inner) < 32+vouchLen {
		return m.protocol("INITIATE does not open")
	}
	var client PublicKey
	copy(client[:], inner[:32])
	vouch := inner[32 : 32+vouchLen]
	vouched, ok := box.Open(nil, vouch[16:], longNonce(nonceVouch, vouch[:16]), (*[32]byte)(&client), sPrimeSec)
	if !ok || len(vouched) != 64 || !bytes.Equal(vouched[:32], cPrime[:]) || subtle.ConstantTimeCompare(vouched[32:], pub[:]) != 1 {
		return m.protocol("INITIATE's vouch does not hold")
	}
	if !a.allows(client) {
		_ = c.SendCmd(zmq4.CmdError, errorBody("400"))
		m.err = fmt.Errorf("%w: CURVE client key %s is not allowed (--curve-allow)", ErrAuth, client)
		return m.err
	}
	if err := c.Peer.Meta.UnmarshalZMTP(inner[32+vouchLen:]); err != nil {
		return m.protocol("peer metadata: %v", err)
	}
	meta, err := c.Meta.MarshalZMTP()
	if err != nil {
		return fmt.Errorf("curve: metadata: %w", err)
	}
	var nonce uint64 = 1
	n := shortNonce(nonceReady, nonce)
	ready := box.SealAfterPrecomputation(append([]byte(nil), n[16:]...), meta, n, &shared)
	m.step = "READY"
	if err := c.SendCmd(zmq4.CmdReady, ready); err != nil {
		return err
	}
	m.box = &curveBox{key: shared, send: nonceMsgS, recv: nonceMsgC, next: nonce + 1, last: initNonce}
	return nil
}

func (a *CurveAuth) allows(k PublicKey) bool {
	if len(a.Allow) == 0 {
		return true
	}
	for _, ok := range a.Allow {
		if ok == k {
			return true
		}
	}
	return false
}

// recv reads the next handshake command, which must be want (an ERROR is
// the peer refusing us).
func (m *curveMechanism) recv(c *zmq4.Conn, want string) (zmq4.Cmd, error) {
	cmd, err := c.RecvCmd()
	if err != nil {
		return cmd, err
	}
	switch cmd.Name {
	case want:
		return cmd, nil
	case zmq4.CmdError:
		return cmd, m.refused(errorReason(cmd.Body))
	}
	return cmd, m.protocol("expected %s, got %q", want, cmd.Name)
}

func (m *curveMechanism) refused(reason string) error {
	m.err = fmt.Errorf("%w: CURVE handshake failed: the peer refused us (ERROR %q)%s", ErrAuth, reason, m.hint(reason))
	return m.err
}

// hint says what a refusal usually means.
func (m *curveMechanism) hint(reason string) string {
	switch {
	case m.server:
		return ""
	case reason == "wrong server key":
		return ": --curve-server is not the server's public key"
	case reason == "400" || reason == "no reason given":
		return ": the server does not allow our key (its --curve-allow)"
	}
	return ""
}

func (m *curveMechanism) fail(why string) error {
	m.err = fmt.Errorf("%w: CURVE handshake failed: %s", ErrAuth, why)
	return m.err
}

func (m *curveMechanism) protocol(format string, args ...any) error {
	m.err = fmt.Errorf("%w: CURVE handshake failed: %s", ErrProtocol, fmt.Sprintf(format, args...))
	return m.err
}

// failure explains why the handshake ended: our own finding, a refusal
// (libzmq's ERROR, which zmq4 cannot parse, is seen by the guard), or the
// peer closing the connection — which is how libzmq answers a HELLO that
// does not open with its key.
func (m *curveMechanism) failure(err error, h *hsConn) error {
	switch {
	case m.err != nil:
		return m.err
	case h.sawError:
		return m.refused(h.errReason)
	case h.peerMech != "" && h.peerMech != "CURVE":
		return fmt.Errorf("%w: CURVE handshake failed: the peer uses %s security", ErrAuth, h.peerMech)
	case h.total < greetingLen:
		return fmt.Errorf("%w: CURVE handshake failed: the peer closed the connection during the greeting (does it use CURVE?)", ErrAuth)
	case !m.server && m.step == "HELLO" && isClosedErr(err):
		return fmt.Errorf("%w: CURVE handshake failed: the server closed the connection after our HELLO (is --curve-server its public key?)", ErrAuth)
	case !m.server && m.step == "INITIATE" && isClosedErr(err):
		return fmt.Errorf("%w: CURVE handshake failed: the server closed the connection after our INITIATE (does it allow our key?)", ErrAuth)
	}
	return fmt.Errorf("msg: CURVE handshake failed after %s: %w", m.step, err)
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zmq4.ErrClosedConn) ||
		errors.Is(err, syscall.ECONNRESET)
}
