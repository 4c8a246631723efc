package msg

import (
	"context"
	"encoding/binary"
	"fmt"
)

// ROUTER addresses peers by identity: Recv puts the sender's identity
// before each message, Send takes the first frame as the identity to route
// to (ErrUnknownPeer when no such peer is connected). A peer that gave
// none gets one assigned, as libzmq's (a zero byte, then a counter); a peer
// presenting an identity that a connected peer already has is refused and
// the first keeps it, as with libzmq (without ZMQ_ROUTER_HANDOVER).
type routerPattern struct {
	s      *Socket
	byID   map[string]*pipe
	nextID uint32
}

func newRouter(s *Socket) pattern {
	return &routerPattern{s: s, byID: map[string]*pipe{}, nextID: 0x6b8b4567}
}

func (*routerPattern) traits() traits {
	return traits{canSend: true, canRecv: true, identity: true, peers: []string{"REQ", "DEALER", "ROUTER"}}
}

func (pt *routerPattern) accept(_ *conn, m Msg) (Msg, bool)   { return m, true }
func (pt *routerPattern) recvReady() (<-chan struct{}, error) { return nil, nil }

func (pt *routerPattern) attach(p *pipe) error {
	id := p.c.peerID
	if len(id) == 0 {
		pt.nextID++
		id = binary.BigEndian.AppendUint32([]byte{0}, pt.nextID)
	} else if q := pt.byID[string(id)]; q != nil && q.live() {
		return fmt.Errorf("%w: identity %s is already connected (the first peer keeps it)", ErrDuplicateIdentity, quoteID(id))
	}
	pt.byID[string(id)] = p
	p.id = id
	return nil
}

func (pt *routerPattern) detach(p *pipe) {
	if pt.byID[string(p.id)] == p {
		delete(pt.byID, string(p.id))
	}
}

func (pt *routerPattern) send(ctx context.Context, m Msg) error {
	if len(m) < 2 {
		return fmt.Errorf("msg: send: ROUTER messages need an identity frame and a body")
	}
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := m[0]
	for {
		if s.closed {
			return ErrClosed
		}
		p := pt.byID[string(id)]
		if p == nil {
			return fmt.Errorf("%w: %s", ErrUnknownPeer, quoteID(id))
		}
		if p.hasRoom(s.opts.HWM) {
			p.enqueue(nil, m[1:])
			return nil
		}
		if err := s.waitLocked(ctx); err != nil {
			return fmt.Errorf("msg: send to %s: peer not reading: %w", quoteID(id), err)
		}
	}
}

// quoteID shows an identity in an error: quoted text, or hex.
func quoteID(id []byte) string {
	for _, b := range id {
		if b < 0x20 || b > 0x7e {
			return fmt.Sprintf("0x%x", id)
		}
	}
	return fmt.Sprintf("%q", id)
}
