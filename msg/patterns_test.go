package msg

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPubSubTopics(t *testing.T) {
	pub := newSocket(t, Pub, Options{})
	ep := bind(t, pub, "tcp://127.0.0.1:*")
	news := newSocket(t, Sub, Options{})
	news.Subscribe("news")
	connect(t, news, ep)
	all := newSocket(t, Sub, Options{})
	all.Subscribe("")
	connect(t, all, ep)
	if err := pub.WaitPeers(ctxT(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	mustSend(t, pub, "sport", "1")
	mustSend(t, pub, "news", "2")
	if got := mustRecv(t, news); !slices.Equal(got, []string{"news", "2"}) {
		t.Fatalf("news got %q", got)
	}
	for _, want := range []string{"sport", "news"} {
		if got := mustRecv(t, all); got[0] != want {
			t.Fatalf("all got %q, want %s", got, want)
		}
	}
	// Unsubscribing reaches the publisher: once it has, "news" stops.
	news.Unsubscribe("news")
	news.Subscribe("stop")
	if err := pub.waitCond(ctxT(t, 5*time.Second), func() bool {
		for _, subs := range pub.pat.(*pubPattern).subs {
			if _, ok := subs["stop"]; ok {
				_, still := subs["news"]
				return !still
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, pub, "news", "3")
	mustSend(t, pub, "stop")
	if got := mustRecv(t, news); got[0] != "stop" {
		t.Fatalf("after unsubscribe got %q", got)
	}
}

func TestPubNeverBlocks(t *testing.T) {
	pub := newSocket(t, Pub, Options{HWM: 2})
	ep := bind(t, pub, "inproc://pub-hwm")
	sub := newSocket(t, Sub, Options{})
	sub.Subscribe("")
	connect(t, sub, ep)
	if err := pub.WaitPeers(ctxT(t, 5*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	big := NewMsg(make([]byte, 1<<20))
	for i := range 50 {
		ok, err := pub.TrySend(big)
		if !ok || err != nil {
			t.Fatalf("publish %d: %v %v", i, ok, err)
		}
	}
}

func TestPairAndDealerRouterInproc(t *testing.T) {
	a := newSocket(t, Pair, Options{})
	ep := bind(t, a, "inproc://pair")
	b := newSocket(t, Pair, Options{})
	connect(t, b, ep)
	mustSend(t, b, "ping")
	if got := mustRecv(t, a); got[0] != "ping" {
		t.Fatal(got)
	}
	mustSend(t, a, "pong")
	if got := mustRecv(t, b); got[0] != "pong" {
		t.Fatal(got)
	}

	router := newSocket(t, Router, Options{})
	rep := bind(t, router, "inproc://router")
	var dealers []*Socket
	for i := range 3 {
		d := newSocket(t, Dealer, Options{Identity: []byte(fmt.Sprint("d", i))})
		connect(t, d, rep)
		dealers = append(dealers, d)
	}
	for i, d := range dealers {
		mustSend(t, d, fmt.Sprint("from ", i))
	}
	for range dealers {
		got := mustRecv(t, router)
		mustSend(t, router, got[0], "to "+got[0])
	}
	for i, d := range dealers {
		if got := mustRecv(t, d); !slices.Equal(got, []string{fmt.Sprint("to d", i)}) {
			t.Fatalf("dealer %d got %q", i, got)
		}
	}
}

func TestRecvTimesOutAndClosedSocket(t *testing.T) {
	pull := newSocket(t, Pull, Options{})
	bind(t, pull, "tcp://127.0.0.1:*")
	if _, err := pull.Recv(ctxT(t, 50*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pull.Recv(ctxT(t, 10*time.Second))
		done <- err
	}()
	pull.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("recv on close: %v", err)
	}
	if err := pull.Connect("tcp://127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("connect after close: %v", err)
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	rep := newSocket(t, Rep, Options{})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	push := newSocket(t, Req, Options{ReconnectMax: 50 * time.Millisecond})
	connect(t, push, ep)
	mustSend(t, push, "one")
	mustRecv(t, rep)
	mustSend(t, rep, "1")
	mustRecv(t, push)
	rep.Close()
	// A request sent before the client notices the old server is gone would
	// be lost with it (as with libzmq: that is what Requester's retries
	// are for); wait for the disconnect, then expect a reconnect.
	if err := push.waitCond(ctxT(t, 5*time.Second), func() bool { return push.liveLocked() == 0 }); err != nil {
		t.Fatal(err)
	}
	rep2 := newSocket(t, Rep, Options{})
	bind(t, rep2, ep)
	mustSend(t, push, "two")
	if got := mustRecv(t, rep2); got[0] != "two" {
		t.Fatal(got)
	}
}

func TestReleaseReusesLargeFramesSafely(t *testing.T) {
	// 1000 bytes: slab frames until Release has been seen, pooled ones
	// after; 100 KiB: always pooled.
	for _, size := range []int{1000, 100 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			pull := newSocket(t, Pull, Options{})
			ep := bind(t, pull, fmt.Sprintf("inproc://release-%d", size))
			push := newSocket(t, Push, Options{})
			connect(t, push, ep)
			n := 40 // sent before any is received: within the HWM and byte bounds
			if size > 10<<10 {
				n = 6
			}
			body := func(i int) string { return strings.Repeat(string(rune('a'+i%26)), size) }
			// Round 1 releases everything; round 2 keeps every other
			// message while the released ones' buffers are reused.
			for round := range 2 {
				for i := range n {
					mustSend(t, push, body(i), "small")
				}
				var kept []Msg
				for i := range n {
					m, err := pull.Recv(ctxT(t, 5*time.Second))
					if err != nil {
						t.Fatal(err)
					}
					if string(m[0]) != body(i) || string(m[1]) != "small" {
						t.Fatalf("round %d: message %d corrupted", round, i)
					}
					if round == 1 && cap(m[0])&(cap(m[0])-1) != 0 {
						t.Fatalf("round %d: message %d: a %d-byte frame not from a pool after Release (cap %d)", round, i, size, cap(m[0]))
					}
					if round == 0 || i%2 == 0 {
						Release(m) // its buffer may back a later message
					} else {
						kept = append(kept, m)
					}
				}
				// Messages not released are untouched by the reuse.
				for j, m := range kept {
					if i := 2*j + 1; string(m[0]) != body(i) {
						t.Fatalf("kept message %d overwritten", i)
					}
				}
			}
		})
	}
}

// Release sits on the hot receive path of every message; for the small
// frames it skips it must not allocate (it once did, one allocation per
// frame, and cost a third of 16-byte throughput).
func TestReleaseSmallFramesDoesNotAllocate(t *testing.T) {
	m := NewMsg(make([]byte, 16), make([]byte, 300))
	if n := testing.AllocsPerRun(100, func() { Release(m) }); n != 0 {
		t.Fatalf("Release of small frames: %v allocations per call, want 0", n)
	}
}
