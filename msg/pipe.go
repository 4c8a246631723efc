package msg

// A pipe is the queue between the socket and one peer. An accepted peer's
// pipe lives as long as its connection. A connecting endpoint's pipe exists
// from Connect on (libzmq's default; with Options.Immediate only while
// connected) and outlives reconnections: what was queued and not yet
// written is sent on the next connection, so a restarted peer loses only
// what was in flight.
type pipe struct {
	s        *Socket
	endpoint string // the Connect endpoint it belongs to; "" for an accepted peer

	// Guarded by s.mu.
	c        *conn // the live connection; nil while (re)connecting
	addr     string
	routable bool   // patterns may queue on it (connected, or early)
	pending  []byte // encoded frames not yet handed to the writer
	npending int    // messages in pending
	id       []byte // ROUTER: the identity the peer is addressed by
	writes   uint64 // writes completed: progress, for a Server's slow clients

	wake chan struct{} // signalled when pending becomes non-empty
}

func newPipe(s *Socket, endpoint string) *pipe {
	return &pipe{s: s, endpoint: endpoint, addr: endpoint, wake: make(chan struct{}, 1)}
}

// live reports whether the pipe has a connection. s.mu held.
func (p *pipe) live() bool { return p.c != nil }

// remote names the peer: its address once connected, else the endpoint.
// s.mu held.
func (p *pipe) remote() string { return p.addr }

// hasRoom reports whether one more message may be queued. s.mu held.
func (p *pipe) hasRoom(hwm int) bool {
	return p.npending < hwm && len(p.pending) < maxPendingBytes
}

// enqueue encodes one message into the pending buffer. s.mu held.
func (p *pipe) enqueue(prefix, frames [][]byte) {
	wasEmpty := len(p.pending) == 0
	p.pending = appendMsg(p.pending, prefix, frames)
	p.npending++
	if wasEmpty {
		signal(p.wake)
	}
}

// enqueueControl queues a subscription message outside the HWM: a
// subscription is never dropped or blocked. s.mu held.
func (p *pipe) enqueueControl(body []byte) {
	wasEmpty := len(p.pending) == 0
	p.pending = appendMsg(p.pending, nil, [][]byte{body})
	if wasEmpty {
		signal(p.wake)
	}
}

// enqueueCommand queues a ZMTP command, bypassing the HWM. s.mu held.
func (p *pipe) enqueueCommand(name string, body []byte) {
	wasEmpty := len(p.pending) == 0
	p.pending = appendCommand(p.pending, name, body)
	if wasEmpty {
		signal(p.wake)
	}
}

// enqueueDirect queues one message and, when the connection is idle,
// writes it from the calling goroutine, saving the hand-off to the writer
// goroutine — the latency of REQ and REP, which have one message in flight
// by design. s.mu held; released during the write.
func (p *pipe) enqueueDirect(prefix, frames [][]byte) {
	wasEmpty := len(p.pending) == 0
	p.pending = appendMsg(p.pending, prefix, frames)
	p.npending++
	c := p.c
	if c == nil || c.writing.Load() || len(p.pending) > maxDirectWrite {
		if wasEmpty {
			signal(p.wake)
		}
		return
	}
	c.writeDirect()
}
