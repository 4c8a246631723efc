package msg

import (
	"context"
	"errors"
	"fmt"
)

var reqPrefix = [][]byte{{}} // the empty delimiter frame of a REQ envelope

// Send queues m for the socket type's routing and returns once it is queued
// (copied) for a peer. It blocks while no peer can take it — no peer yet, or
// every peer at its HWM — until ctx ends (ErrTimeout on a deadline), and
// never drops a message silently:
//
//   - PUSH, DEALER: round-robin over peers with room (never fan-out).
//   - REQ: one request at a time, to the next peer; Recv must take the reply
//     before the next Send (ErrState otherwise).
//   - REP: the reply to the last request received (ErrState if none,
//     ErrPeerGone if its peer left).
//   - ROUTER: the first frame names the peer; an unknown one is
//     ErrUnknownPeer.
//   - PUB: to every subscribed peer; a peer at its HWM misses the message
//     (libzmq semantics) and Send never blocks.
//   - PAIR: to the one peer.
func (s *Socket) Send(ctx context.Context, m Msg) error {
	if len(m) == 0 {
		return fmt.Errorf("msg: send: empty message (a message has at least one frame)")
	}
	if !s.fastSend && !s.typ.canSend() {
		return fmt.Errorf("%w: %s sockets cannot send", ErrState, s.typ)
	}
	s.mu.Lock()
	if s.fastSend && !s.closed {
		// Fast path: a peer has room.
		if p := s.pickLocked(); p != nil {
			p.enqueue(nil, m)
			s.mu.Unlock()
			return nil
		}
	}
	err := s.sendLocked(ctx, m)
	s.mu.Unlock()
	return err
}

// sendLocked is Send's general path. s.mu held.
func (s *Socket) sendLocked(ctx context.Context, m Msg) error {
	switch s.typ {
	case Pub:
		return s.publishLocked(m)
	case Rep:
		return s.replyLocked(ctx, m)
	case Router:
		return s.routeLocked(ctx, m)
	case Req:
		if s.reqPeer != nil {
			return fmt.Errorf("%w: REQ must receive the reply before sending again", ErrState)
		}
	}
	for {
		if s.closed {
			return ErrClosed
		}
		if p := s.pickLocked(); p != nil {
			if s.typ != Req {
				p.enqueue(nil, m)
				return nil
			}
			s.reqPeer = p
			p.enqueueDirect(reqPrefix, m)
			return nil
		}
		if s.authErr != nil && len(s.peers) == 0 {
			return s.authErr
		}
		if err := s.waitLocked(ctx); err != nil {
			if len(s.peers) == 0 {
				return s.noPeerErrLocked("send", err)
			}
			return fmt.Errorf("msg: send: every peer is at its high-water mark: %w", err)
		}
	}
}

// pickLocked chooses the next peer in round-robin order that has room.
func (s *Socket) pickLocked() *peer {
	n := len(s.peers)
	if s.typ == Pair && n > 1 {
		n = 1
	}
	for i := 0; i < n; i++ {
		k := s.rr + i
		if k >= n {
			k -= n
		}
		if p := s.peers[k]; p.hasRoom(s.opts.HWM) && !p.closed() {
			s.rr = k + 1
			if s.rr >= n {
				s.rr = 0
			}
			return p
		}
	}
	return nil
}

func (s *Socket) publishLocked(m Msg) error {
	if s.closed {
		return ErrClosed
	}
	for _, p := range s.peers {
		if p.matches(m[0]) && p.hasRoom(s.opts.HWM) {
			p.enqueue(nil, m)
		}
	}
	return nil
}

func (s *Socket) replyLocked(ctx context.Context, m Msg) error {
	if !s.repPending {
		return fmt.Errorf("%w: REP must receive a request before replying", ErrState)
	}
	p, env := s.repPeer, s.repEnv
	for {
		if s.closed {
			return ErrClosed
		}
		if p.closed() {
			s.repPending, s.repPeer, s.repEnv = false, nil, nil
			return fmt.Errorf("%w (%s): reply dropped", ErrPeerGone, p.remote)
		}
		if p.hasRoom(s.opts.HWM) {
			s.repPending, s.repPeer, s.repEnv = false, nil, nil
			p.enqueueDirect(env, m)
			return nil
		}
		if err := s.waitLocked(ctx); err != nil {
			if s.repPeer == p {
				s.repPending, s.repPeer, s.repEnv = false, nil, nil
			}
			return fmt.Errorf("msg: reply dropped, peer not reading: %w", err)
		}
	}
}

func (s *Socket) routeLocked(ctx context.Context, m Msg) error {
	if len(m) < 2 {
		return fmt.Errorf("msg: send: ROUTER messages need an identity frame and a body")
	}
	id := m[0]
	for {
		if s.closed {
			return ErrClosed
		}
		p := s.byID[string(id)]
		if p == nil {
			return fmt.Errorf("%w: %q", ErrUnknownPeer, id)
		}
		if p.hasRoom(s.opts.HWM) {
			p.enqueue(nil, m[1:])
			return nil
		}
		if err := s.waitLocked(ctx); err != nil {
			return fmt.Errorf("msg: send to %q: peer not reading: %w", id, err)
		}
	}
}

// Subscribe adds a SUB topic prefix ("" means everything) and tells every
// peer.
func (s *Socket) Subscribe(topic string) error { return s.subscription(1, topic) }

// Unsubscribe removes one Subscribe of topic.
func (s *Socket) Unsubscribe(topic string) error { return s.subscription(0, topic) }

func (s *Socket) subscription(on byte, topic string) error {
	if s.typ != Sub {
		return fmt.Errorf("%w: only SUB sockets subscribe", ErrState)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if on == 1 {
		s.subs[topic]++
		if s.subs[topic] > 1 {
			return nil
		}
	} else {
		if s.subs[topic] == 0 {
			return nil
		}
		s.subs[topic]--
		if s.subs[topic] > 0 {
			return nil
		}
		delete(s.subs, topic)
	}
	_, all := s.subs[""]
	s.subAllLocal.Store(all)
	body := subscription(on, topic)
	for _, p := range s.peers {
		wasEmpty := len(p.pending) == 0
		p.pending = appendMsg(p.pending, nil, [][]byte{body})
		if wasEmpty {
			signal(p.wake)
		}
	}
	return nil
}

// doneCtx is an already-cancelled context: Send with it never waits.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// TrySend queues m if that needs no waiting (like ZMQ_DONTWAIT). It
// reports false, with no error, when Send would have to wait.
func (s *Socket) TrySend(m Msg) (bool, error) {
	err := s.Send(doneCtx, m)
	if err != nil && errors.Is(err, context.Canceled) {
		return false, nil
	}
	return err == nil, err
}
