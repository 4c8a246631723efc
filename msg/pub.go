package msg

import (
	"bytes"
	"context"
)

// PUB sends each message to every peer subscribed to a prefix of its first
// frame; a peer whose queue is full misses the message (libzmq's rule), so
// Send never blocks. Peers' subscriptions arrive as ZMTP 3.0 messages
// (\x01topic, \x00topic) or ZMTP 3.1 SUBSCRIBE/CANCEL commands.
//
// XPUB is a PUB that also receives: each subscription that is new to the
// socket (the first peer to want that topic) and each cancellation that
// leaves no peer wanting it — including those implied when a peer leaves —
// arrives as a message (\x01topic or \x00topic), as libzmq's XPUB delivers
// them without ZMQ_XPUB_VERBOSE. Other messages from peers (an XSUB's
// upstream messages) arrive as they are.
type pubPattern struct {
	passive
	s     *Socket
	x     bool                     // XPUB
	subs  map[*pipe]map[string]int // each peer's subscriptions
	total map[string]int           // XPUB: peers subscribed to each topic
}

func newPub(s *Socket, x bool) pattern {
	return &pubPattern{s: s, x: x, subs: map[*pipe]map[string]int{}, total: map[string]int{}}
}

func (pt *pubPattern) traits() traits {
	return traits{canSend: true, canRecv: pt.x, inspect: true, peers: []string{"SUB", "XSUB"}}
}

func (pt *pubPattern) send(_ context.Context, m Msg) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for p, subs := range pt.subs {
		if matches(subs, m[0]) && p.hasRoom(s.opts.HWM) {
			p.enqueue(nil, m)
		}
	}
	return nil
}

// matches reports whether a message with this first frame is wanted by a
// peer with these subscriptions.
func matches(subs map[string]int, first []byte) bool {
	if _, ok := subs[""]; ok {
		return true
	}
	for t := range subs {
		if bytes.HasPrefix(first, []byte(t)) {
			return true
		}
	}
	return false
}

// inspect reads a peer's subscription messages; XPUB delivers the ones
// that change what the socket as a whole is subscribed to, and other
// messages.
func (pt *pubPattern) inspect(p *pipe, frames [][]byte) bool {
	if len(frames) != 1 || len(frames[0]) == 0 || frames[0][0] > 1 {
		return pt.x // not a subscription: an upstream message
	}
	on, topic := frames[0][0] == 1, string(frames[0][1:])
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := pt.subs[p]
	if subs == nil {
		if !p.live() {
			return false // the peer has gone meanwhile
		}
		subs = map[string]int{}
		pt.subs[p] = subs
	}
	changed := false
	if on {
		subs[topic]++
		if subs[topic] == 1 {
			pt.total[topic]++
			changed = pt.total[topic] == 1
		}
	} else if subs[topic] > 0 {
		subs[topic]--
		if subs[topic] == 0 {
			delete(subs, topic)
			changed = pt.cancel(topic)
		}
	}
	s.broadcastLocked() // WaitPeers counts subscribed peers
	return pt.x && changed
}

// cancel drops one peer from topic and reports whether none is left. s.mu held.
func (pt *pubPattern) cancel(topic string) bool {
	pt.total[topic]--
	if pt.total[topic] > 0 {
		return false
	}
	delete(pt.total, topic)
	return true
}

// ready reports whether p counts for WaitPeers: it has subscribed. s.mu held.
func (pt *pubPattern) ready(p *pipe) bool { return len(pt.subs[p]) > 0 }

func (pt *pubPattern) detach(p *pipe) {
	subs := pt.subs[p]
	delete(pt.subs, p)
	if !pt.x {
		return
	}
	var gone [][]byte
	for topic := range subs {
		if pt.cancel(topic) {
			gone = append(gone, subscription(0, topic))
		}
	}
	pt.s.deliverLocked(gone)
}

// subscription encodes a ZMTP 3.0 subscribe (1) or cancel (0) message body.
func subscription(on byte, topic string) []byte {
	b := make([]byte, 0, 1+len(topic))
	b = append(b, on)
	return append(b, topic...)
}
