package msg

import (
	"sync"
	"time"
)

// EventKind names a connection event, as libzmq's socket monitor does.
type EventKind string

// The events a socket reports to Options.Monitor.
const (
	EventListening          EventKind = "listening"           // Bind succeeded
	EventAccepted           EventKind = "accepted"            // a listener took a connection
	EventConnected          EventKind = "connected"           // a dialled connection is up (handshake next)
	EventConnectRetried     EventKind = "connect_retried"     // a connecting endpoint tries again
	EventHandshakeSucceeded EventKind = "handshake_succeeded" // the peer is ready for messages
	EventHandshakeFailed    EventKind = "handshake_failed"    // Reason says why; reported at a bounded rate
	EventDisconnected       EventKind = "disconnected"        // a peer's connection ended
	EventClosed             EventKind = "closed"              // the socket is closed
)

// Event is one connection event.
type Event struct {
	Kind      EventKind
	Endpoint  string // the endpoint bound or connected to
	Remote    string // the peer's address
	PeerType  string // the peer's socket type (handshake_succeeded)
	Mechanism string // the security mechanism (handshake_succeeded)
	Reason    string // why (handshake_failed, disconnected, connect_retried)
	// Suppressed counts the handshake failures not reported since the
	// previous report (the rate bound).
	Suppressed int
}

// event reports ev to the monitor, if any.
func (s *Socket) event(ev Event) {
	if m := s.opts.Monitor; m != nil {
		m(ev)
	}
}

// rateLimit lets burst reports through, then one per every; it counts
// those it holds back.
type rateLimit struct {
	burst int
	every time.Duration

	mu         sync.Mutex
	tokens     int
	last       time.Time
	suppressed int
	started    bool
	calls      int
}

// allow reports whether to report now and how many were held back since the
// last report.
func (r *rateLimit) allow(now time.Time) (suppressed int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if !r.started {
		r.started, r.tokens, r.last = true, r.burst, now
	}
	if gained := int(now.Sub(r.last) / r.every); gained > 0 {
		r.tokens = min(r.burst, r.tokens+gained)
		r.last = r.last.Add(time.Duration(gained) * r.every)
	}
	if r.tokens == 0 {
		r.suppressed++
		return 0, false
	}
	r.tokens--
	suppressed, r.suppressed = r.suppressed, 0
	return suppressed, true
}

// seen counts every allow call (tests).
func (r *rateLimit) seen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}
