package msg

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
)

// SUB receives what its publishers send to its subscriptions (topic
// prefixes of the first frame; "" is everything), and filters again itself.
// Subscribe and Unsubscribe tell every peer, and a new or reconnected peer
// gets every subscription when its handshake is done.
//
// XSUB is the same subscriber driven by messages: sending \x01topic
// subscribes and \x00topic cancels (passed upstream when they change what
// the socket wants), any other message is sent to every publisher, and it
// receives everything its publishers send (libzmq's XSUB does not filter).
type subPattern struct {
	passive
	s    *Socket
	x    bool           // XSUB
	subs map[string]int // our subscriptions, counted
	all  atomic.Bool    // subscribed to everything: no filtering
}

func newSub(s *Socket, x bool) pattern { return &subPattern{s: s, x: x, subs: map[string]int{}} }

func (pt *subPattern) traits() traits {
	return traits{canSend: pt.x, canRecv: true, filters: !pt.x, peers: []string{"PUB", "XPUB"}}
}

func (pt *subPattern) accept(_ *conn, m Msg) (Msg, bool) {
	if pt.all.Load() {
		return m, true
	}
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range pt.subs {
		if bytes.HasPrefix(m[0], []byte(t)) {
			return m, true
		}
	}
	return nil, false
}

func (pt *subPattern) attach(p *pipe) error {
	for t := range pt.subs {
		p.enqueueControl(subscription(1, t))
	}
	return nil
}

// send is XSUB's: subscriptions change ours, other messages go upstream.
func (pt *subPattern) send(_ context.Context, m Msg) error {
	if len(m) == 1 && len(m[0]) > 0 && m[0][0] <= 1 {
		return pt.subscription(m[0][0], string(m[0][1:]))
	}
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, p := range s.pipes {
		if p.live() && p.hasRoom(s.opts.HWM) {
			p.enqueue(nil, m)
		}
	}
	return nil
}

// subscription counts one subscribe (on 1) or cancel (on 0) of topic and
// tells every peer when it changes what the socket wants.
func (pt *subPattern) subscription(on byte, topic string) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if on == 1 {
		pt.subs[topic]++
		if pt.subs[topic] > 1 {
			return nil
		}
	} else {
		if pt.subs[topic] == 0 {
			return nil
		}
		pt.subs[topic]--
		if pt.subs[topic] > 0 {
			return nil
		}
		delete(pt.subs, topic)
	}
	_, all := pt.subs[""]
	pt.all.Store(all)
	body := subscription(on, topic)
	for _, p := range s.pipes {
		if p.live() {
			p.enqueueControl(body)
		}
	}
	return nil
}

// Subscribe adds a SUB or XSUB topic prefix ("" means everything) and tells
// every peer.
func (s *Socket) Subscribe(topic string) error { return s.subscribe(1, topic) }

// Unsubscribe removes one Subscribe of topic.
func (s *Socket) Unsubscribe(topic string) error { return s.subscribe(0, topic) }

func (s *Socket) subscribe(on byte, topic string) error {
	pt, ok := s.pat.(*subPattern)
	if !ok {
		return fmt.Errorf("%w: only SUB and XSUB sockets subscribe", ErrState)
	}
	return pt.subscription(on, topic)
}
