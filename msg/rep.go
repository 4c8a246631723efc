package msg

import (
	"context"
	"fmt"
)

// REP receives one request at a time, fair-queued, and keeps its envelope
// (the frames up to and including the empty delimiter) for the one reply
// Send makes next, which goes back on the connection the request came on.
// A request without an envelope is discarded, as libzmq does.
type repPattern struct {
	s   *Socket
	to  *conn    // where the reply goes; nil when no reply is owed
	env [][]byte // the request's envelope
}

func newRep(s *Socket) pattern { return &repPattern{s: s} }

func (*repPattern) traits() traits {
	return traits{canSend: true, canRecv: true, filters: true, peers: []string{"REQ", "DEALER"}}
}

func (pt *repPattern) accept(c *conn, m Msg) (Msg, bool) {
	i := 0
	for i < len(m) && len(m[i]) != 0 {
		i++
	}
	if i >= len(m)-1 {
		pt.s.log.Debug("discarding request without an envelope", "remote", c.remote)
		return nil, false
	}
	pt.s.mu.Lock()
	pt.to, pt.env = c, m[:i+1:i+1]
	pt.s.mu.Unlock()
	return m[i+1:], true
}

func (pt *repPattern) recvReady() (<-chan struct{}, error) {
	if pt.to != nil {
		return nil, fmt.Errorf("%w: REP must reply before receiving the next request", ErrState)
	}
	return nil, nil
}

func (pt *repPattern) send(ctx context.Context, m Msg) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, env := pt.to, pt.env
	if c == nil {
		return fmt.Errorf("%w: REP must receive a request before replying", ErrState)
	}
	for {
		if s.closed {
			return ErrClosed
		}
		if c.dead.Load() || c.p.c != c {
			pt.to, pt.env = nil, nil
			return fmt.Errorf("%w (%s): reply dropped", ErrPeerGone, c.remote)
		}
		if c.p.hasRoom(s.opts.HWM) {
			pt.to, pt.env = nil, nil
			c.p.enqueueDirect(env, m)
			return nil
		}
		if err := s.waitLocked(ctx); err != nil {
			if pt.to == c {
				pt.to, pt.env = nil, nil
			}
			return fmt.Errorf("msg: reply dropped, peer %s not reading: %w", c.remote, err)
		}
	}
}

func (*repPattern) attach(*pipe) error { return nil }
func (*repPattern) detach(*pipe)       {}
