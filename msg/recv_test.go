package msg

import (
	"fmt"
	"testing"
	"time"
)

// Received messages share the reader's frame chunks and slabs; each must
// still be the caller's alone: writing to one (or appending to it) never
// changes another, and the reader never touches what it handed out (-race
// checks that), whatever the frame counts and batch boundaries.
func TestReceivedMessagesBelongToTheCaller(t *testing.T) {
	for _, typ := range []Type{Pull, Router} {
		t.Run(string(typ), func(t *testing.T) {
			rcv := newSocket(t, typ, Options{})
			ep := bind(t, rcv, "tcp://127.0.0.1:*")
			sndType := Push
			if typ == Router {
				sndType = Dealer
			}
			snd := newSocket(t, sndType, Options{})
			connect(t, snd, ep)
			const n = 3000
			frames := func(i int) int { return 1 + i%(2*chunkMargin+3) }
			go func() {
				ctx := ctxT(t, 20*time.Second)
				for i := range n {
					m := make(Msg, frames(i))
					for j := range m {
						m[j] = fmt.Appendf(nil, "%d.%d", i, j)
					}
					if snd.Send(ctx, m) != nil {
						return
					}
				}
			}()
			skip := 0
			if typ == Router {
				skip = 1
			}
			var prev Msg
			for i := range n {
				m, err := rcv.Recv(ctxT(t, 10*time.Second))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if len(m)-skip != frames(i) {
					t.Fatalf("message %d: %d frames, want %d", i, len(m)-skip, frames(i))
				}
				for j, f := range m[skip:] {
					if want := fmt.Sprintf("%d.%d", i, j); string(f) != want {
						t.Fatalf("message %d frame %d: %q, want %q", i, j, f, want)
					}
				}
				// Scribble over the previous message: its frames, its slice
				// and what an append to either would reach.
				if prev != nil {
					prev = append(prev, []byte("x"))
					for j := range prev {
						prev[j] = append(prev[j], "garbage"...)
						prev[j] = nil
					}
				}
				prev = m
			}
		})
	}
}
