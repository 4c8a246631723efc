package msg

import "context"

// PULL receives from every peer, fair-queued (the socket's receive queue,
// which the peers' readers feed in turn), and never sends.
type pullPattern struct{ passive }

func newPull(*Socket) pattern { return pullPattern{} }

func (pullPattern) traits() traits {
	return traits{canRecv: true, peers: []string{"PUSH"}}
}

// send is never called: Socket.Send refuses for a type that cannot send.
func (pullPattern) send(context.Context, Msg) error { return ErrState }
