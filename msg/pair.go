package msg

import (
	"context"
	"fmt"
)

// PAIR talks to exactly one peer. Like libzmq's, it refuses a second
// connection while it has a peer, and a connecting PAIR queues messages for
// its endpoint before the connection exists.
type pairPattern struct {
	passive
	s *Socket
}

func newPair(s *Socket) pattern { return &pairPattern{s: s} }

func (*pairPattern) traits() traits {
	return traits{canSend: true, canRecv: true, early: true, keepQueue: true, peers: []string{"PAIR"}}
}

// the returns the one pipe messages go to: the live one, else the first
// connecting endpoint's queue. s.mu held.
func (pt *pairPattern) the() *pipe {
	var first *pipe
	for _, p := range pt.s.pipes {
		if !p.routable {
			continue
		}
		if p.live() {
			return p
		}
		if first == nil {
			first = p
		}
	}
	return first
}

func (pt *pairPattern) send(ctx context.Context, m Msg) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return ErrClosed
		}
		if p := pt.the(); p != nil && p.hasRoom(s.opts.HWM) {
			p.enqueue(nil, m)
			return nil
		}
		if err := s.waitSendLocked(ctx); err != nil {
			return err
		}
	}
}

func (pt *pairPattern) attach(p *pipe) error {
	for _, q := range pt.s.pipes {
		if q != p && q.live() {
			return fmt.Errorf("%w: PAIR already has a peer", ErrProtocol)
		}
	}
	return nil
}
