package msg

import (
	"bytes"
	"context"
	"fmt"
)

// Recv returns the next message, fair-queued across peers, blocking until
// one arrives or ctx ends (ErrTimeout on a deadline). Heartbeats and
// subscriptions never surface. Per type:
//
//   - REQ: only the reply to the outstanding request, from the peer it went
//     to; anything else is discarded. ErrState without a request.
//   - REP: the request body; its envelope is kept for the next Send.
//   - ROUTER: the sender's identity is the first frame.
//   - SUB: messages matching a subscription.
func (s *Socket) Recv(ctx context.Context) (Msg, error) {
	if s.fastRecv {
		// Fast path: a message of a batch already taken off the queue,
		// without the waiting machinery (or a deferred unlock).
		s.rmu.Lock()
		if m, ok := s.take(); ok {
			s.rmu.Unlock()
			return m, nil
		}
		s.rmu.Unlock()
	} else if !s.typ.canRecv() {
		return nil, fmt.Errorf("%w: %s sockets cannot receive", ErrState, s.typ)
	}
	s.rmu.Lock()
	m, err := s.recvLocked(ctx)
	s.rmu.Unlock()
	return m, err
}

// recvLocked is Recv's general path. s.rmu held.
func (s *Socket) recvLocked(ctx context.Context) (Msg, error) {
	var reqPeer *peer
	var peerGone <-chan struct{}
	switch s.typ {
	case Req:
		s.mu.Lock()
		reqPeer = s.reqPeer
		s.mu.Unlock()
		if reqPeer == nil {
			return nil, fmt.Errorf("%w: REQ must send a request before receiving", ErrState)
		}
		peerGone = reqPeer.done
	case Rep:
		s.mu.Lock()
		pending := s.repPending
		s.mu.Unlock()
		if pending {
			return nil, fmt.Errorf("%w: REP must reply before receiving the next request", ErrState)
		}
	}
	authCh := s.authFailed
	for {
		if m, ok := s.takeAccepted(); ok {
			return m, nil
		}
		select {
		case in := <-s.recvq:
			s.cur = in
		case <-ctx.Done():
			return nil, fmt.Errorf("msg: recv: %w", ctxErr(ctx))
		case <-s.closing:
			return nil, ErrClosed
		case <-peerGone:
			// The peer's reader hands over everything it read before the
			// connection ended, so a reply, if any, is queued by now.
			if m, ok := s.drainLocked(); ok {
				return m, nil
			}
			s.mu.Lock()
			if s.reqPeer == reqPeer {
				s.reqPeer = nil // no reply can come: the socket may send again
			}
			s.mu.Unlock()
			return nil, fmt.Errorf("%w (%s) before replying", ErrPeerGone, reqPeer.remote)
		case <-authCh:
			s.mu.Lock()
			err := s.authErr
			n := len(s.peers)
			s.mu.Unlock()
			if err != nil && n == 0 {
				return nil, err
			}
			authCh = nil // a later connection succeeded, or peers remain
		}
	}
}

// takeAccepted returns the next message of the current batch that the
// socket accepts (see accept), if any. s.rmu held.
func (s *Socket) takeAccepted() (Msg, bool) {
	for {
		p := s.cur.p
		m, ok := s.take()
		if !ok {
			return nil, false
		}
		if m, ok := s.accept(p, m); ok {
			return m, true
		}
	}
}

// take returns the next message of the current batch, if any, and recycles
// the batch once it is used up. s.rmu held.
func (s *Socket) take() (Msg, bool) {
	if s.curPos >= len(s.cur.ends) {
		return nil, false
	}
	start, end := s.curFrame, int(s.cur.ends[s.curPos])
	m := Msg(s.cur.frames[start:end:end])
	s.curPos++
	s.curFrame = end
	if s.curPos == len(s.cur.ends) {
		select {
		case s.freeEnds <- s.cur.ends[:0]:
		default:
		}
		s.cur, s.curPos, s.curFrame = inbound{}, 0, 0
	}
	return m, true
}

// drainLocked looks through every batch already queued for an acceptable
// message, without waiting. s.rmu held.
func (s *Socket) drainLocked() (Msg, bool) {
	for {
		if m, ok := s.takeAccepted(); ok {
			return m, true
		}
		select {
		case in := <-s.recvq:
			s.cur = in
		default:
			return nil, false
		}
	}
}

// accept applies the socket type's receive rules to a message from p.
func (s *Socket) accept(p *peer, m Msg) (Msg, bool) {
	switch s.typ {
	case Req:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.reqPeer != p || len(m) < 2 || len(m[0]) != 0 {
			s.log.Debug("discarding unexpected message", "remote", p.remote)
			return nil, false
		}
		s.reqPeer = nil
		return m[1:], true
	case Rep:
		i := 0
		for i < len(m) && len(m[i]) != 0 {
			i++
		}
		if i >= len(m)-1 {
			s.log.Debug("discarding request without an envelope", "remote", p.remote)
			return nil, false
		}
		s.mu.Lock()
		s.repPeer, s.repEnv, s.repPending = p, m[:i+1:i+1], true
		s.mu.Unlock()
		return m[i+1:], true
	case Sub:
		if s.subAllLocal.Load() {
			return m, true
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for t := range s.subs {
			if bytes.HasPrefix(m[0], []byte(t)) {
				return m, true
			}
		}
		return nil, false
	}
	return m, true
}

// Buffered reports whether a message has already arrived, so Recv would not
// wait (except for messages Recv then discards). Output loops use it to
// flush only when no more messages are due.
func (s *Socket) Buffered() bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.curPos < len(s.cur.ends) || len(s.recvq) > 0
}
