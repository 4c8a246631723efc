// Package msg is dsys's ZeroMQ socket layer.
//
// It speaks ZMTP 3.0 and interoperates with libzmq (pyzmq, czmq, the C
// API). github.com/go-zeromq/zmq4 performs the greeting and the security
// handshake of each connection (zmq4.Open); everything after it — framing,
// routing, queueing, timeouts, reconnection, authentication policy — is
// implemented here, because zmq4's own socket layer fans PUSH messages out to
// every peer, cannot time out a Recv, drops sends silently, surfaces libzmq
// heartbeats as messages and accepts any PLAIN password.
//
// A Socket owns one goroutine per listener, one per connecting endpoint and
// two per live peer connection (a reader and a writer). Sends are encoded
// straight into the chosen peer's pending buffer; the peer's writer hands the
// whole buffer to the kernel in one write as soon as it is idle, so a lone
// message leaves at once and a burst is coalesced. Received messages are
// delivered in batches through one queue per socket, which all peers feed in
// turn (fair queueing).
//
// Shutdown order (Close): stop accepting and dialling, let writers drain
// their pending data for at most Options.Linger, close every connection,
// wait for every goroutine.
package msg
