package msg

import (
	"context"
	"fmt"
)

var reqPrefix = [][]byte{{}} // the empty delimiter frame of a REQ envelope

// REQ is a strict state machine: Send one request (with the empty delimiter
// frame of its envelope) to the next peer in turn, then Recv takes only
// that peer's reply — anything else is discarded — before the next Send.
// Recv fails with ErrPeerGone when the connection the request went out on
// ends without a reply; a request still queued for a connecting endpoint
// waits for the connection.
type reqPattern struct {
	s    *Socket
	rr   roundRobin
	out  *pipe         // the pipe the outstanding request went to
	lost chan struct{} // closed when out's connection ended after taking the request
	// lostFrom names the connection that ended (lost is closed).
	lostFrom string
}

func newReq(s *Socket) pattern { return &reqPattern{s: s} }

func (*reqPattern) traits() traits {
	return traits{canSend: true, canRecv: true, filters: true, early: true, keepQueue: true,
		peers: []string{"REP", "ROUTER"}}
}

func (pt *reqPattern) send(ctx context.Context, m Msg) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if pt.out != nil {
		return fmt.Errorf("%w: REQ must receive the reply before sending again", ErrState)
	}
	for {
		if s.closed {
			return ErrClosed
		}
		if p := pt.rr.pick(s); p != nil {
			pt.out, pt.lost, pt.lostFrom = p, make(chan struct{}), ""
			p.enqueueDirect(reqPrefix, m)
			return nil
		}
		if err := s.waitSendLocked(ctx); err != nil {
			return err
		}
	}
}

func (pt *reqPattern) accept(c *conn, m Msg) (Msg, bool) {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if pt.out != c.p || len(m) < 2 || len(m[0]) != 0 {
		s.log.Debug("discarding unexpected message", "remote", c.remote)
		return nil, false
	}
	pt.out = nil
	return m[1:], true
}

func (pt *reqPattern) recvReady() (<-chan struct{}, error) {
	if pt.out == nil {
		return nil, fmt.Errorf("%w: REQ must send a request before receiving", ErrState)
	}
	return pt.lost, nil
}

func (pt *reqPattern) attach(*pipe) error { return nil }

func (pt *reqPattern) detach(p *pipe) {
	// The request is lost with the connection once it left the queue (a
	// REQ queue holds nothing but the one request).
	if p == pt.out && p.npending == 0 && pt.lostFrom == "" {
		pt.lostFrom = p.remote()
		close(pt.lost)
	}
}

// replyLost ends the wait for a reply whose connection ended: the socket may
// send again. s.mu held.
func (pt *reqPattern) replyLost() error {
	from := pt.lostFrom
	pt.out, pt.lostFrom = nil, ""
	return fmt.Errorf("%w (%s) before replying", ErrPeerGone, from)
}
