// Package msg is dsys's ZeroMQ socket layer.
//
// It speaks ZMTP 3.0 and interoperates with libzmq (pyzmq, czmq, the C
// API), with libzmq's semantics. github.com/go-zeromq/zmq4 performs the
// greeting and the security handshake of each connection (zmq4.Open);
// everything after it — framing, CURVE's message boxes, routing, queueing,
// timeouts, reconnection, authentication policy — is implemented here,
// because zmq4's own socket layer fans PUSH messages out to every peer,
// cannot time out a Recv, drops sends silently, surfaces libzmq heartbeats
// as messages, accepts any PLAIN password and has no CURVE.
//
// Each socket type's rules — where a message goes, what the application
// receives, what a peer's arrival and departure change — live in one
// pattern (req.go, rep.go, dealer.go, router.go, pub.go for PUB and XPUB,
// sub.go for SUB and XSUB, push.go, pull.go, pair.go). The Socket around a
// pattern owns the pipes (pipe.go: one queue per peer, and one per
// connecting endpoint from Connect on, kept across reconnections), the
// connections (conn.go: a reader and a writer goroutine each), one
// goroutine per listener and one per connecting endpoint. Sends are encoded
// straight into the chosen pipe's pending buffer; the connection's writer
// hands the whole buffer to the kernel in one write as soon as it is idle,
// so a lone message leaves at once and a burst is coalesced. Received
// messages are delivered in batches through one queue per socket, which
// all connections feed in turn (fair queueing).
//
// Server (REP semantics with workers) and Proxy (libzmq's zmq_proxy) are
// built on Sockets.
//
// Shutdown order (Close): stop accepting and dialling, let writers drain
// their pending data for at most Options.Linger, close every connection,
// wait for every goroutine.
package msg
