package msg

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Type is a ZeroMQ socket type.
type Type string

// The socket types dsys implements.
const (
	Pair   Type = "PAIR"
	Pub    Type = "PUB"
	Sub    Type = "SUB"
	XPub   Type = "XPUB"
	XSub   Type = "XSUB"
	Req    Type = "REQ"
	Rep    Type = "REP"
	Dealer Type = "DEALER"
	Router Type = "ROUTER"
	Pull   Type = "PULL"
	Push   Type = "PUSH"
)

// ParseType returns the Type named by s (any case).
func ParseType(s string) (Type, error) {
	t := Type(strings.ToUpper(s))
	if _, ok := patterns[t]; ok {
		return t, nil
	}
	return "", fmt.Errorf("msg: unknown socket type %q", s)
}

// A pattern is everything one socket type decides: where a sent message
// goes, which received messages the application sees, and what happens
// when a peer arrives or leaves. Each type has one home (push.go, req.go,
// …); the Socket around it owns connections, queues and waiting.
//
// Methods other than send and accept are called with s.mu held.
type pattern interface {
	traits() traits
	// send routes m. It takes s.mu itself and may wait (s.waitLocked)
	// until ctx ends.
	send(ctx context.Context, m Msg) error
	// accept applies the type's receive rules to a message that arrived on
	// connection c; it is only called when traits().filters. s.rmu held,
	// s.mu not.
	accept(c *conn, m Msg) (Msg, bool)
	// recvReady reports whether Recv may wait now (REQ: a request is out;
	// REP: no reply owed) and the channel closed when the reply it waits
	// for can no longer come. s.mu held.
	recvReady() (lost <-chan struct{}, err error)
	// attach is called when p's connection has finished its handshake; an
	// error refuses the peer (its connection is closed).
	attach(p *pipe) error
	// detach is called when p's connection ended.
	detach(p *pipe)
}

// traits are the fixed facts of a socket type.
type traits struct {
	canSend, canRecv bool
	// filters: Recv passes every message through accept (no fast path).
	filters bool
	// identity: the reader puts the peer's identity before each message
	// (ROUTER).
	identity bool
	// inspect: the reader hands every data message to the pattern's
	// inspect method first (PUB and XPUB read subscriptions).
	inspect bool
	// early: a connecting endpoint's queue takes messages before the
	// connection exists (libzmq's default, ZMQ_IMMEDIATE=0). Types that
	// address peers by what the handshake tells (ROUTER) or that only
	// receive do not route to a queue without a peer.
	early bool
	// keepQueue: messages queued for a connecting endpoint survive a
	// reconnection (false where they make no sense on a new connection:
	// subscriptions, which are sent afresh, and identity-routed messages).
	keepQueue bool
	// peers are the socket types a peer may have (ZMTP 3.0's table).
	peers []string
}

// inspector is implemented by patterns with traits().inspect: the reader
// calls inspect for every data message from p and delivers it to Recv
// only when it returns true. s.mu not held.
type inspector interface {
	inspect(p *pipe, frames [][]byte) bool
}

// patterns makes the pattern of each type for a socket.
var patterns = map[Type]func(s *Socket) pattern{
	Pair:   newPair,
	Pub:    func(s *Socket) pattern { return newPub(s, false) },
	XPub:   func(s *Socket) pattern { return newPub(s, true) },
	Sub:    func(s *Socket) pattern { return newSub(s, false) },
	XSub:   func(s *Socket) pattern { return newSub(s, true) },
	Req:    newReq,
	Rep:    newRep,
	Dealer: newDealer,
	Router: newRouter,
	Pull:   newPull,
	Push:   newPush,
}

// compatible reports whether a peer of type peer may connect to a socket
// with these traits.
func (t traits) compatible(peer string) bool { return slices.Contains(t.peers, peer) }

// roundRobin is the load balancing of PUSH, DEALER and REQ: the next
// routable queue with room, in turn (never fan-out).
type roundRobin struct{ next int }

// pick returns the next pipe of s with room, or nil. s.mu held.
func (rr *roundRobin) pick(s *Socket) *pipe {
	n := len(s.pipes)
	if rr.next >= n {
		rr.next = 0 // pipes went away
	}
	for i := range n {
		k := rr.next + i
		if k >= n {
			k -= n
		}
		if p := s.pipes[k]; p.routable && p.hasRoom(s.opts.HWM) {
			rr.next = k + 1
			if rr.next >= n {
				rr.next = 0
			}
			return p
		}
	}
	return nil
}

// sendRoundRobin queues m on the next pipe with room, waiting while there is
// none. s.mu held.
func (s *Socket) sendRoundRobin(ctx context.Context, rr *roundRobin, m Msg) error {
	for {
		if s.closed {
			return ErrClosed
		}
		if p := rr.pick(s); p != nil {
			p.enqueue(nil, m)
			return nil
		}
		if err := s.waitSendLocked(ctx); err != nil {
			return err
		}
	}
}

// passive is embedded by patterns that need no hook.
type passive struct{}

func (passive) accept(_ *conn, m Msg) (Msg, bool)   { return m, true }
func (passive) recvReady() (<-chan struct{}, error) { return nil, nil }
func (passive) attach(*pipe) error                  { return nil }
func (passive) detach(*pipe)                        {}
