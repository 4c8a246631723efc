package msg

import "errors"

// Sentinel errors that callers branch on. They are wrapped with context, so
// test them with errors.Is.
var (
	// ErrTimeout reports that a Send or Recv did not complete before its
	// context's deadline (no peer, no reply, peer not reading).
	ErrTimeout = errors.New("msg: timed out")
	// ErrAuth reports that the peer refused our credentials, that we and
	// the peer do not use the same security mechanism, or that a CURVE
	// handshake failed (a wrong server key, a client not allowed).
	ErrAuth = errors.New("msg: authentication failed")
	// ErrClosed reports an operation on a closed socket.
	ErrClosed = errors.New("msg: socket closed")
	// ErrState reports an operation the socket type does not allow now:
	// a REQ Send before the previous reply was received, a REP Send with no
	// request, Recv on a PUSH socket.
	ErrState = errors.New("msg: operation not allowed in this socket state")
	// ErrUnknownPeer reports a ROUTER Send to an identity that is not
	// connected.
	ErrUnknownPeer = errors.New("msg: no peer with this identity")
	// ErrPeerGone reports that the peer a REP reply was for disconnected
	// before the reply could be queued, or that the peer a REQ request went
	// to disconnected without replying.
	ErrPeerGone = errors.New("msg: peer disconnected")
	// ErrEndpoint reports a malformed or unsupported endpoint.
	ErrEndpoint = errors.New("msg: invalid endpoint")
	// ErrTooLarge reports a message larger than Options.MaxMessageSize.
	ErrTooLarge = errors.New("msg: message too large")
	// ErrDuplicateIdentity reports a peer refused by a ROUTER because a
	// connected peer already has its identity.
	ErrDuplicateIdentity = errors.New("msg: duplicate identity")
	// ErrProtocol reports a peer that broke the ZMTP protocol.
	ErrProtocol = errors.New("msg: protocol error")
)
