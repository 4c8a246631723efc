package msg

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// Interop with real libzmq 4.3 through pyzmq subprocesses.

func TestInteropPyReqToRep(t *testing.T) {
	rep := newSocket(t, Rep, Options{})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	py := startPy(t, "req", ep, "--msgs", msgsJSON([]string{"Hello"}, []string{"multi", "part"}))
	if got := mustRecv(t, rep); !slices.Equal(got, []string{"Hello"}) {
		t.Fatalf("got %q", got)
	}
	mustSend(t, rep, "World")
	if got := mustRecv(t, rep); !slices.Equal(got, []string{"multi", "part"}) {
		t.Fatalf("got %q", got)
	}
	mustSend(t, rep, "World", "2")
	if got := py.msg(); !slices.Equal(got, []string{"World"}) {
		t.Fatalf("py got %q", got)
	}
	if got := py.msg(); !slices.Equal(got, []string{"World", "2"}) {
		t.Fatalf("py got %q", got)
	}
	py.wait()
}

func TestInteropReqToPyRep(t *testing.T) {
	py := startPy(t, "rep", "tcp://127.0.0.1:0", "--count", "2")
	req := newSocket(t, Req, Options{})
	connect(t, req, py.Endpoint)
	for _, m := range [][]string{{"Hello"}, {"a", "b", ""}} {
		mustSend(t, req, m...)
		if got := py.msg(); !slices.Equal(got, m) {
			t.Fatalf("py got %q, want %q", got, m)
		}
		if got := mustRecv(t, req); !slices.Equal(got, []string{"World"}) {
			t.Fatalf("got %q", got)
		}
	}
	py.wait()
}

func TestInteropPushToPyPull(t *testing.T) {
	push := newSocket(t, Push, Options{})
	ep := bind(t, push, "tcp://127.0.0.1:*")
	py := startPy(t, "pull", ep, "--count", "3")
	mustSend(t, push, "one")
	mustSend(t, push, "two", "parts")
	mustSend(t, push, strings.Repeat("x", 300)) // long frame
	for _, want := range [][]string{{"one"}, {"two", "parts"}, {strings.Repeat("x", 300)}} {
		if got := py.msg(); !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	py.wait()
}

func TestInteropPyPushToPull(t *testing.T) {
	pull := newSocket(t, Pull, Options{})
	ep := bind(t, pull, "tcp://127.0.0.1:*")
	startPy(t, "push", ep, "--msgs", msgsJSON([]string{"one"}, []string{"two", "parts"}))
	for _, want := range [][]string{{"one"}, {"two", "parts"}} {
		if got := mustRecv(t, pull); !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestInteropPubToPySub(t *testing.T) {
	pub := newSocket(t, Pub, Options{})
	ep := bind(t, pub, "tcp://127.0.0.1:*")
	py := startPy(t, "sub", ep, "--topic", "news", "--count", "2")
	if err := pub.WaitPeers(ctxT(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	mustSend(t, pub, "weather", "rain") // filtered out by the subscription
	mustSend(t, pub, "news", "one")
	mustSend(t, pub, "newsflash")
	for _, want := range [][]string{{"news", "one"}, {"newsflash"}} {
		if got := py.msg(); !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	py.wait()
}

func TestInteropPyPubToSub(t *testing.T) {
	py := startPy(t, "pub", "tcp://127.0.0.1:0", "--msgs", msgsJSON([]string{"other", "x"}, []string{"news", "one", "two"}))
	sub := newSocket(t, Sub, Options{})
	if err := sub.Subscribe("news"); err != nil {
		t.Fatal(err)
	}
	connect(t, sub, py.Endpoint)
	if l := py.line(10 * time.Second); l != "SUBSCRIBED 016e657773" {
		t.Fatalf("pyzmq saw subscription %q", l)
	}
	if got := mustRecv(t, sub); !slices.Equal(got, []string{"news", "one", "two"}) {
		t.Fatalf("got %q", got)
	}
}

func TestInteropHeartbeats(t *testing.T) {
	// A pyzmq REQ with ZMQ_HEARTBEAT_IVL=20ms pings our REP; the pings must
	// be answered and never surface, for the REP and for a PULL.
	rep := newSocket(t, Rep, Options{})
	pings := make(chan struct{}, 100)
	rep.pingHook = func() {
		select {
		case pings <- struct{}{}:
		default:
		}
	}
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	py := startPy(t, "req", ep, "--heartbeat", "20", "--msgs", msgsJSON([]string{"a"}, []string{"b"}))
	for _, want := range []string{"a", "b"} {
		if got := mustRecv(t, rep); !slices.Equal(got, []string{want}) {
			t.Fatalf("got %q", got)
		}
		// Hold the reply until PINGs have arrived and been answered.
		for range 3 {
			select {
			case <-pings:
			case <-time.After(5 * time.Second):
				t.Fatal("no PING from a peer with ZMQ_HEARTBEAT_IVL=20ms")
			}
		}
		mustSend(t, rep, "ok")
		if got := py.msg(); !slices.Equal(got, []string{"ok"}) {
			t.Fatalf("py got %q", got)
		}
	}
	py.wait()

	pull := newSocket(t, Pull, Options{})
	ep = bind(t, pull, "tcp://127.0.0.1:*")
	startPy(t, "push", ep, "--heartbeat", "10", "--msgs", msgsJSON([]string{"x"}))
	if got := mustRecv(t, pull); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("got %q", got)
	}
	if m, err := pull.Recv(ctxT(t, 100*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("heartbeat surfaced: %q %v", m, err)
	}
}

func TestInteropVentilatorRoundRobin(t *testing.T) {
	// A dsys PUSH round-robins over two libzmq PULL workers: every task
	// exactly once, spread evenly.
	const n = 200
	push := newSocket(t, Push, Options{})
	ep := bind(t, push, "tcp://127.0.0.1:*")
	w1 := startPy(t, "pull", ep, "--count", fmt.Sprint(n/2))
	w2 := startPy(t, "pull", ep, "--count", fmt.Sprint(n/2))
	if err := push.WaitPeers(ctxT(t, 10*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustSend(t, push, fmt.Sprint("task", i))
	}
	seen := map[string]int{}
	for _, w := range []*pyPeer{w1, w2} {
		for range n / 2 {
			seen[w.msg()[0]]++
		}
		w.wait()
	}
	if len(seen) != n {
		t.Fatalf("%d distinct tasks seen, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("task %s processed %d times", k, c)
		}
	}
}

func TestInteropRouterDealer(t *testing.T) {
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	py := startPy(t, "dealer", ep, "--msgs", msgsJSON([]string{"hi", "there"}), "--count", "1")
	got := mustRecv(t, router)
	if len(got) != 3 || got[1] != "hi" || got[2] != "there" {
		t.Fatalf("router got %q", got)
	}
	mustSend(t, router, got[0], "back")
	if m := py.msg(); !slices.Equal(m, []string{"back"}) {
		t.Fatalf("dealer got %q", m)
	}
	if err := router.Send(ctxT(t, time.Second), NewMsg([]byte("nobody"), []byte("x"))); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to unknown identity: %v", err)
	}
	py.wait()
}

func TestInteropPlain(t *testing.T) {
	auth := &PlainAuth{Users: map[string]string{"admin": "secret"}}

	t.Run("pyzmq client, right password", func(t *testing.T) {
		rep := newSocket(t, Rep, Options{Plain: auth})
		ep := bind(t, rep, "tcp://127.0.0.1:*")
		py := startPy(t, "req", ep, "--plain-user", "admin", "--plain-password", "secret", "--msgs", msgsJSON([]string{"hi"}))
		if got := mustRecv(t, rep); !slices.Equal(got, []string{"hi"}) {
			t.Fatalf("got %q", got)
		}
		mustSend(t, rep, "ok")
		if got := py.msg(); !slices.Equal(got, []string{"ok"}) {
			t.Fatalf("py got %q", got)
		}
		py.wait()
	})
	t.Run("pyzmq client, wrong password", func(t *testing.T) {
		logs := &syncBuffer{}
		rep := newSocket(t, Rep, Options{Plain: auth, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		ep := bind(t, rep, "tcp://127.0.0.1:*")
		startPy(t, "req", ep, "--plain-user", "admin", "--plain-password", "hunter2bad", "--timeout", "3000", "--msgs", msgsJSON([]string{"hi"}))
		if m, err := rep.Recv(ctxT(t, 500*time.Millisecond)); !errors.Is(err, ErrTimeout) {
			t.Fatalf("request with a wrong password got through: %q %v", m, err)
		}
		if !strings.Contains(logs.String(), "authentication failed") || !strings.Contains(logs.String(), "admin") {
			t.Fatalf("no log line for the refused client: %q", logs.String())
		}
		if strings.Contains(logs.String(), "hunter2bad") {
			t.Fatalf("the password was logged: %q", logs.String())
		}
	})
	t.Run("dsys client, pyzmq server", func(t *testing.T) {
		py := startPy(t, "rep", "tcp://127.0.0.1:0", "--plain-server", "admin:secret", "--count", "1")
		req := newSocket(t, Req, Options{Plain: &PlainAuth{User: "admin", Password: "secret"}})
		connect(t, req, py.Endpoint)
		mustSend(t, req, "hi")
		if got := mustRecv(t, req); !slices.Equal(got, []string{"World"}) {
			t.Fatalf("got %q", got)
		}
		py.wait()

		py = startPy(t, "rep", "tcp://127.0.0.1:0", "--plain-server", "admin:secret", "--count", "1", "--timeout", "3000")
		bad := newSocket(t, Req, Options{Plain: &PlainAuth{User: "admin", Password: "wrong"}})
		connect(t, bad, py.Endpoint)
		mustSend(t, bad, "hi") // queued for the endpoint
		_, err := bad.Recv(ctxT(t, 5*time.Second))
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("send with a wrong password: %v, want ErrAuth", err)
		}
	})
}

func TestInteropNullClientToPlainServer(t *testing.T) {
	py := startPy(t, "rep", "tcp://127.0.0.1:0", "--plain-server", "admin:secret", "--count", "1", "--timeout", "3000")
	req := newSocket(t, Req, Options{})
	connect(t, req, py.Endpoint)
	// libzmq closes the connection without a word when the mechanisms
	// differ: the send times out, and says why.
	mustSend(t, req, "hi") // queued for the endpoint
	_, err := req.Recv(ctxT(t, time.Second))
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "security mechanism") {
		t.Fatalf("NULL client to a PLAIN server: %v, want ErrTimeout with a hint", err)
	}
}

func TestInteropLibzmqAnswersOurHeartbeats(t *testing.T) {
	py := startPy(t, "rep", "tcp://127.0.0.1:0", "--count", "2")
	req := newSocket(t, Req, Options{Heartbeat: 10 * time.Millisecond})
	pongs := make(chan struct{}, 100)
	req.pongHook = func() {
		select {
		case pongs <- struct{}{}:
		default:
		}
	}
	connect(t, req, py.Endpoint)
	mustSend(t, req, "one")
	mustRecv(t, req)
	// Several heartbeat timeouts' worth of PONGs: libzmq answers, so the
	// connection stays.
	for range 10 {
		select {
		case <-pongs:
		case <-time.After(5 * time.Second):
			t.Fatal("libzmq did not answer our PING")
		}
	}
	if n := req.Peers(); n != 1 {
		t.Fatalf("%d peers after heartbeats, want 1", n)
	}
	mustSend(t, req, "two")
	if got := mustRecv(t, req); got[0] != "World" {
		t.Fatalf("got %q", got)
	}
	py.wait()
}

func TestInteropIPC(t *testing.T) {
	ep := "ipc://" + t.TempDir() + "/rep.sock"
	py := startPy(t, "rep", ep, "--bind", "--count", "1")
	req := newSocket(t, Req, Options{})
	connect(t, req, ep)
	mustSend(t, req, "over ipc")
	if got := py.msg(); !slices.Equal(got, []string{"over ipc"}) {
		t.Fatalf("py got %q", got)
	}
	if got := mustRecv(t, req); !slices.Equal(got, []string{"World"}) {
		t.Fatalf("got %q", got)
	}
	py.wait()
}
