package msg

import "context"

// PUSH hands each message to exactly one peer, round-robin over the queues
// with room — a connecting endpoint's queue included before its connection
// exists — and blocks (back-pressure) while every queue is full. It never
// receives.
type pushPattern struct {
	passive
	balancer
}

func newPush(s *Socket) pattern { return &pushPattern{balancer: balancer{s: s}} }

func (*pushPattern) traits() traits {
	return traits{canSend: true, early: true, keepQueue: true, peers: []string{"PULL"}}
}

// balancer is the sending half of PUSH and DEALER: round-robin over the
// routable queues with room (roundRobin), waiting while none has room.
type balancer struct {
	s  *Socket
	rr roundRobin
}

func (b *balancer) send(ctx context.Context, m Msg) error {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendRoundRobin(ctx, &b.rr, m)
}
