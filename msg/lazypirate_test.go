package msg

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRequesterLateReplyNeverTaken(t *testing.T) {
	// A ROUTER server holds the first attempt of request A until the client
	// has retried on a fresh socket, then answers both: the client must get
	// the answer to its retry, and for request B the answer to B — never
	// the late answer to A's first attempt.
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	r := &Requester{Connect: []string{ep}, Timeout: 300 * time.Millisecond, Retries: 2,
		Options: Options{Logger: testLogger(t), ReconnectMin: 10 * time.Millisecond}}
	defer r.Close()
	done := requestAsync(t, r, 10*time.Second, "A")
	first := mustRecv(t, router)  // [id1, "", "A"]
	second := mustRecv(t, router) // [id2, "", "A"]: the retry, on a new connection
	if first[2] != "A" || second[2] != "A" || first[0] == second[0] {
		t.Fatalf("attempts %q and %q", first, second)
	}
	// The late answer to the first attempt: its connection is gone or
	// going; either way it must not reach the caller.
	_ = router.Send(ctxT(t, time.Second), NewMsg([]byte(first[0]), nil, []byte("late A")))
	mustSend(t, router, second[0], "", "fresh A")
	got := <-done
	if got.err != nil || !slices.Equal(toStrings(got.m), []string{"fresh A"}) {
		t.Fatalf("request A: %q %v", got.m, got.err)
	}
	done = requestAsync(t, r, 10*time.Second, "B")
	b := mustRecv(t, router)
	mustSend(t, router, b[0], "", "answer B")
	got = <-done
	if got.err != nil || !slices.Equal(toStrings(got.m), []string{"answer B"}) {
		t.Fatalf("request B: %q %v", got.m, got.err)
	}
}

func TestRequesterGivesUp(t *testing.T) {
	r := &Requester{Connect: []string{"tcp://127.0.0.1:1"}, Timeout: 100 * time.Millisecond, Retries: 1,
		Options: Options{Logger: testLogger(t)}}
	defer r.Close()
	_, err := r.Request(ctxT(t, 5*time.Second), NewMsg([]byte("x")))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
}

// reply is what a Requester's Request returned.
type reply struct {
	m   Msg
	err error
}

// requestAsync sends body through r in the background; the reply arrives on
// the channel.
func requestAsync(t *testing.T, r *Requester, timeout time.Duration, body string) <-chan reply {
	done := make(chan reply, 1)
	ctx := ctxT(t, timeout)
	go func() {
		m, err := r.Request(ctx, NewMsg([]byte(body)))
		done <- reply{m, err}
	}()
	return done
}

func toStrings(m Msg) []string {
	out := make([]string, len(m))
	for i, f := range m {
		out[i] = string(f)
	}
	return out
}

func TestRequesterRetriesWhenServerVanishes(t *testing.T) {
	// The first server takes the request and dies without replying: the
	// REQ notices at once (no need to wait out the timeout) and the retry
	// reaches the second server.
	router := newSocket(t, Router, Options{})
	ep := bind(t, router, "tcp://127.0.0.1:*")
	r := &Requester{Connect: []string{ep}, Timeout: 10 * time.Second, Retries: 1,
		Options: Options{Logger: testLogger(t), ReconnectMin: 10 * time.Millisecond}}
	defer r.Close()
	start := time.Now()
	done := requestAsync(t, r, 20*time.Second, "A")
	mustRecv(t, router)
	router.Close()
	rep := newSocket(t, Rep, Options{})
	bind(t, rep, ep)
	if got := mustRecv(t, rep); got[0] != "A" {
		t.Fatalf("retry carried %q", got)
	}
	mustSend(t, rep, "from the second server")
	got := <-done
	if got.err != nil || string(got.m[0]) != "from the second server" {
		t.Fatalf("got %q %v", got.m, got.err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v: the vanished server was not noticed before the 10s timeout", d)
	}
}
