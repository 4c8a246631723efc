package msg

import "context"

// PUSH hands each message to exactly one peer, round-robin over the queues
// with room — a connecting endpoint's queue included before its connection
// exists — and blocks (back-pressure) while every queue is full. It never
// receives.
type pushPattern struct {
	passive
	s  *Socket
	rr roundRobin
}

func newPush(s *Socket) pattern { return &pushPattern{s: s} }

func (*pushPattern) traits() traits {
	return traits{canSend: true, early: true, keepQueue: true, peers: []string{"PULL"}}
}

func (pt *pushPattern) send(ctx context.Context, m Msg) error {
	s := pt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendRoundRobin(ctx, &pt.rr, m)
}
