package msg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Semantics where dsys once differed from libzmq, each against pyzmq.

// freePort returns a tcp endpoint that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

func TestInteropConnectQueuesSpreadEvenly(t *testing.T) {
	// seq 200 | push --connect P1 --connect P2: each endpoint has its queue
	// from Connect on, so 100 go to each, as with libzmq (ZMQ_IMMEDIATE=0),
	// even though the messages are sent before either handshake is done.
	const n = 200
	w1 := startPy(t, "pull", "tcp://127.0.0.1:0", "--count", fmt.Sprint(n/2))
	w2 := startPy(t, "pull", "tcp://127.0.0.1:0", "--count", fmt.Sprint(n/2))
	push := newSocket(t, Push, Options{})
	connect(t, push, w1.Endpoint)
	connect(t, push, w2.Endpoint)
	for i := range n {
		mustSend(t, push, fmt.Sprint(i))
	}
	if err := push.Flush(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*pyPeer{w1, w2} {
		for range n / 2 {
			w.msg()
		}
		w.wait() // exactly n/2 each: a 101st would have been printed too
	}
}

func TestInteropQueueSurvivesPeerRestart(t *testing.T) {
	// Messages sent while the PULL is down wait in the endpoint's queue and
	// reach it when it comes back.
	ep := freePort(t)
	push := newSocket(t, Push, Options{ReconnectMax: 20 * time.Millisecond})
	connect(t, push, ep)
	for i := range 20 {
		mustSend(t, push, fmt.Sprint("early", i))
	}
	w := startPy(t, "pull", ep, "--bind", "--count", "20")
	for i := range 20 {
		if got := w.msg(); got[0] != fmt.Sprint("early", i) {
			t.Fatalf("got %q", got)
		}
	}
	w.wait()
	if err := push.waitCond(ctxT(t, 10*time.Second), func() bool { return push.liveLocked() == 0 }); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		mustSend(t, push, fmt.Sprint("late", i))
	}
	w = startPy(t, "pull", ep, "--bind", "--count", "20")
	for i := range 20 {
		if got := w.msg(); got[0] != fmt.Sprint("late", i) {
			t.Fatalf("after the restart got %q", got)
		}
	}
	w.wait()
}

func TestImmediateQueuesOnlyForConnectedPeers(t *testing.T) {
	push := newSocket(t, Push, Options{Immediate: true})
	connect(t, push, freePort(t))
	if ok, err := push.TrySend(NewMsg([]byte("x"))); ok || err != nil {
		t.Fatalf("with Immediate a send to an absent peer queued: %v %v", ok, err)
	}
	early := newSocket(t, Push, Options{})
	connect(t, early, freePort(t))
	if ok, err := early.TrySend(NewMsg([]byte("x"))); !ok || err != nil {
		t.Fatalf("without Immediate the endpoint's queue takes it: %v %v", ok, err)
	}
	err := early.Flush(ctxT(t, 100*time.Millisecond))
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "1 message(s) not delivered") {
		t.Fatalf("Flush with nobody to take it: %v", err)
	}
}

func TestInteropRouterDuplicateIdentityKeepsFirst(t *testing.T) {
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	first := startPy(t, "dealer", ep, "--identity", "same", "--msgs", msgsJSON([]string{"from first"}), "--count", "1")
	if got := mustRecv(t, router); !slices.Equal(got, []string{"same", "from first"}) {
		t.Fatalf("got %q", got)
	}
	startPy(t, "dealer", ep, "--identity", "same", "--msgs", msgsJSON([]string{"from second"}), "--timeout", "2000")
	if m, err := router.Recv(ctxT(t, 500*time.Millisecond)); err == nil {
		t.Fatalf("the second peer with the same identity got through: %q", m)
	}
	mustSend(t, router, "same", "to the first")
	if got := first.msg(); !slices.Equal(got, []string{"to the first"}) {
		t.Fatalf("first got %q", got)
	}
	first.wait()
}

func TestInteropIdentityToPyRouter(t *testing.T) {
	py := startPy(t, "router", "tcp://127.0.0.1:0", "--count", "1")
	d := newSocket(t, Dealer, Options{Identity: []byte("dealer-7")})
	connect(t, d, py.Endpoint)
	mustSend(t, d, "hi")
	if got := py.msg(); !slices.Equal(got, []string{"dealer-7", "hi"}) {
		t.Fatalf("libzmq ROUTER saw %q", got)
	}
	if got := mustRecv(t, d); !slices.Equal(got, []string{"World"}) {
		t.Fatalf("got %q", got)
	}
	py.wait()
}

func TestInteropXPubReceivesSubscriptions(t *testing.T) {
	xpub := newSocket(t, XPub, Options{})
	ep := bind(t, xpub, "tcp://127.0.0.1:*")
	py := startPy(t, "sub", ep, "--topic", "news", "--count", "1")
	if got := mustRecv(t, xpub); !slices.Equal(got, []string{"\x01news"}) {
		t.Fatalf("XPUB got %q, want the subscription", got)
	}
	mustSend(t, xpub, "sport", "1")
	mustSend(t, xpub, "news", "2")
	if got := py.msg(); !slices.Equal(got, []string{"news", "2"}) {
		t.Fatalf("py got %q", got)
	}
	py.wait()
	// The subscriber left: its subscription is cancelled.
	if got := mustRecv(t, xpub); !slices.Equal(got, []string{"\x00news"}) {
		t.Fatalf("XPUB got %q, want the cancellation", got)
	}
}

func TestInteropXSubSendsSubscriptions(t *testing.T) {
	py := startPy(t, "pub", "tcp://127.0.0.1:0", "--msgs", msgsJSON([]string{"news", "x"}))
	xsub := newSocket(t, XSub, Options{})
	connect(t, xsub, py.Endpoint)
	mustSend(t, xsub, "\x01news")
	if l := py.line(10 * time.Second); l != "SUBSCRIBED 016e657773" {
		t.Fatalf("libzmq XPUB saw %q", l)
	}
	if got := mustRecv(t, xsub); !slices.Equal(got, []string{"news", "x"}) {
		t.Fatalf("got %q", got)
	}
}

func TestInteropProxyForwarderAndBroker(t *testing.T) {
	// xsub/xpub: a pyzmq SUB's subscription travels through the proxy to
	// a pyzmq PUB, and the news comes back.
	pub := startPy(t, "pub", "tcp://127.0.0.1:0", "--msgs", msgsJSON([]string{"news", "via proxy"}))
	front := newSocket(t, XSub, Options{})
	connect(t, front, pub.Endpoint)
	back := newSocket(t, XPub, Options{})
	bep := bind(t, back, "tcp://127.0.0.1:*")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Proxy{Frontend: front, Backend: back}).Run(ctx) }()
	sub := startPy(t, "sub", bep, "--topic", "news", "--count", "1")
	if l := pub.line(10 * time.Second); l != "SUBSCRIBED 016e657773" {
		t.Fatalf("the publisher saw %q", l)
	}
	if got := sub.msg(); !slices.Equal(got, []string{"news", "via proxy"}) {
		t.Fatalf("subscriber got %q", got)
	}
	sub.wait()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("proxy: %v", err)
	}

	// router/dealer: pyzmq REQ clients through the proxy to a pyzmq REP.
	rep := startPy(t, "rep", "tcp://127.0.0.1:0", "--count", "2", "--reply", "brokered")
	rfront := newSocket(t, Router, Options{})
	rep1 := bind(t, rfront, "tcp://127.0.0.1:*")
	dback := newSocket(t, Dealer, Options{})
	connect(t, dback, rep.Endpoint)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- (&Proxy{Frontend: rfront, Backend: dback}).Run(ctx) }()
	for range 2 {
		c := startPy(t, "req", rep1, "--msgs", msgsJSON([]string{"q"}))
		if got := c.msg(); !slices.Equal(got, []string{"brokered"}) {
			t.Fatalf("client got %q", got)
		}
		c.wait()
	}
	rep.wait()
}

func TestServerWorkersRunConcurrently(t *testing.T) {
	const workers = 4
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	var inFlight atomic.Int32
	barrier := make(chan struct{})
	sv := &Server{Socket: router, Workers: workers, Count: workers, Handler: func(ctx context.Context, req Msg) Msg {
		if inFlight.Add(1) == workers {
			close(barrier) // all four at once: they were not run one by one
		}
		select {
		case <-barrier:
		case <-ctx.Done():
		}
		return NewMsg([]byte("done " + string(req[0])))
	}}
	done := make(chan error, 1)
	go func() { done <- sv.Run(context.Background()) }()
	replies := make(chan string, workers)
	for i := range workers {
		go func() {
			req := newSocket(t, Req, Options{})
			connect(t, req, ep)
			mustSend(t, req, fmt.Sprint(i))
			m, err := req.Recv(ctxT(t, 10*time.Second))
			if err != nil {
				replies <- err.Error()
				return
			}
			replies <- string(m[0])
		}()
	}
	for range workers {
		if r := <-replies; !strings.HasPrefix(r, "done ") {
			t.Fatal(r)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Count replies: %v", err)
	}
}

func TestServerSkipsRequestsOfClientsThatLeft(t *testing.T) {
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	var runs atomic.Int32
	hold := make(chan struct{})
	sv := &Server{Socket: router, Handler: func(ctx context.Context, req Msg) Msg {
		runs.Add(1)
		if string(req[0]) == "slow" {
			<-hold
		}
		return req
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sv.Run(ctx) }()
	slow := newSocket(t, Req, Options{})
	connect(t, slow, ep)
	mustSend(t, slow, "slow")
	waitFor(t, func() bool { return runs.Load() == 1 })
	// A client that gives up (closes) while its request waits its turn.
	quitter := newSocket(t, Req, Options{})
	connect(t, quitter, ep)
	mustSend(t, quitter, "abandoned")
	waitFor(t, func() bool { sv.mu.Lock(); defer sv.mu.Unlock(); return sv.queued == 1 })
	quitter.Close()
	waitFor(t, func() bool { return !router.peerConnected(quitter.opts.Identity) && router.Peers() == 1 })
	close(hold)
	if got := mustRecv(t, slow); got[0] != "slow" {
		t.Fatal(got)
	}
	// A third client is served next; the abandoned request never ran.
	third := newSocket(t, Req, Options{})
	connect(t, third, ep)
	mustSend(t, third, "third")
	if got := mustRecv(t, third); got[0] != "third" {
		t.Fatal(got)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d handler runs, want 2 (the abandoned request must not run)", n)
	}
	cancel()
	<-done
}

func TestServerSlowClientGetsEveryLargeReplyAndBlocksNobody(t *testing.T) {
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	big := strings.Repeat("r", 600_000)
	sv := &Server{Socket: router, ReplyTimeout: 2 * time.Second, Handler: func(ctx context.Context, req Msg) Msg {
		if string(req[0]) == "big" {
			return NewMsg([]byte(big))
		}
		return NewMsg([]byte("small"))
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// A peer that sends 50 requests and never reads: the others are still
	// answered.
	hog, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	hog.Write(nullGreeting())
	hog.Write(readyCommand("DEALER"))
	for range 50 {
		hog.Write(appendMsg(nil, nil, [][]byte{{}, []byte("big")}))
	}
	other := newSocket(t, Req, Options{})
	connect(t, other, ep)
	for range 3 {
		mustSend(t, other, "x")
		if got := mustRecv(t, other); got[0] != "small" {
			t.Fatal(got)
		}
	}

	// A DEALER that pipelines 200 requests for 600 KB replies and reads
	// them at its own pace gets all 200.
	d := newSocket(t, Dealer, Options{})
	connect(t, d, ep)
	for range 200 {
		mustSend(t, d, "", "big")
	}
	for i := range 200 {
		m, err := d.Recv(ctxT(t, 20*time.Second))
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if len(m) != 2 || len(m[1]) != len(big) {
			t.Fatalf("reply %d: %d frames", i, len(m))
		}
		Release(m)
	}
}

func TestHandshakeFailuresAreRateBounded(t *testing.T) {
	var failed, suppressed atomic.Int32
	pull := newSocket(t, Pull, Options{Monitor: func(ev Event) {
		if ev.Kind == EventHandshakeFailed {
			failed.Add(1)
			suppressed.Add(int32(ev.Suppressed))
		}
	}})
	ep := bind(t, pull, "tcp://127.0.0.1:*")
	for range 40 {
		c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n" + strings.Repeat("x", 64)))
		c.Close()
	}
	waitFor(t, func() bool { return pull.hsf.seen() >= 40 })
	if n := failed.Load(); n < 1 || n > 10 {
		t.Fatalf("%d handshake failures reported for 40, want at most the burst of 10", n)
	}
}

func TestProxyStreamerWithCapture(t *testing.T) {
	front := newSocket(t, Pull, Options{})
	fep := bind(t, front, "inproc://px-front")
	back := newSocket(t, Push, Options{})
	bep := bind(t, back, "inproc://px-back")
	capture := newSocket(t, Push, Options{})
	cep := bind(t, capture, "inproc://px-capture")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Proxy{Frontend: front, Backend: back, Capture: capture}).Run(ctx) }()
	worker := newSocket(t, Pull, Options{})
	connect(t, worker, bep)
	tap := newSocket(t, Pull, Options{})
	connect(t, tap, cep)
	if err := capture.WaitPeers(ctxT(t, 5*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	src := newSocket(t, Push, Options{})
	connect(t, src, fep)
	for i := range 10 {
		mustSend(t, src, fmt.Sprint("task", i), "part")
	}
	for i := range 10 {
		want := []string{fmt.Sprint("task", i), "part"}
		if got := mustRecv(t, worker); !slices.Equal(got, want) {
			t.Fatalf("worker got %q, want %q", got, want)
		}
		if got := mustRecv(t, tap); !slices.Equal(got, want) {
			t.Fatalf("capture got %q, want %q", got, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
