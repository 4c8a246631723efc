package msg

// DEALER sends round-robin like PUSH (balancer) and receives fair-queued
// like PULL, with no envelope of its own: what it sends and receives is
// what the application gives and gets (talking to a REP, the application
// adds the empty delimiter frame itself).
type dealerPattern struct {
	passive
	balancer
}

func newDealer(s *Socket) pattern { return &dealerPattern{balancer: balancer{s: s}} }

func (*dealerPattern) traits() traits {
	return traits{canSend: true, canRecv: true, early: true, keepQueue: true,
		peers: []string{"REP", "DEALER", "ROUTER"}}
}
