package msg

import "context"

// DEALER sends round-robin like PUSH and receives fair-queued like PULL,
// with no envelope of its own: what it sends and receives is what the
// application gives and gets (talking to a REP, the application adds the
// empty delimiter frame itself).
type dealerPattern struct {
	passive
	s  *Socket
	rr roundRobin
}

func newDealer(s *Socket) pattern { return &dealerPattern{s: s} }

func (*dealerPattern) traits() traits {
	return traits{canSend: true, canRecv: true, early: true, keepQueue: true,
		peers: []string{"REP", "DEALER", "ROUTER"}}
}

func (pt *dealerPattern) send(ctx context.Context, m Msg) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendRoundRobin(ctx, &pt.rr, m)
}
