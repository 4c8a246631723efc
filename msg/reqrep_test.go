package msg

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var transports = []string{"tcp://127.0.0.1:*", "inproc://", "ipc://"}

func endpointFor(t *testing.T, tr string) string {
	switch tr {
	case "inproc://":
		return "inproc://" + t.Name()
	case "ipc://":
		return "ipc://" + t.TempDir() + "/s.sock"
	}
	return tr
}

func TestReqRep(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr[:3], func(t *testing.T) {
			rep := newSocket(t, Rep, Options{})
			ep := bind(t, rep, endpointFor(t, tr))
			req := newSocket(t, Req, Options{})
			connect(t, req, ep)
			for i := range 3 {
				mustSend(t, req, fmt.Sprint("Hello", i), "part2")
				if got := mustRecv(t, rep); !slices.Equal(got, []string{fmt.Sprint("Hello", i), "part2"}) {
					t.Fatalf("rep got %q", got)
				}
				mustSend(t, rep, "World")
				if got := mustRecv(t, req); !slices.Equal(got, []string{"World"}) {
					t.Fatalf("req got %q", got)
				}
			}
		})
	}
}

func TestReqStateMachine(t *testing.T) {
	rep := newSocket(t, Rep, Options{})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	req := newSocket(t, Req, Options{})
	connect(t, req, ep)
	if _, err := req.Recv(ctxT(t, time.Second)); !errors.Is(err, ErrState) {
		t.Fatalf("recv before send: %v, want ErrState", err)
	}
	mustSend(t, req, "a")
	if err := req.Send(ctxT(t, time.Second), NewMsg([]byte("b"))); !errors.Is(err, ErrState) {
		t.Fatalf("second send: %v, want ErrState", err)
	}
	if err := rep.Send(ctxT(t, time.Second), NewMsg([]byte("x"))); !errors.Is(err, ErrState) {
		t.Fatalf("rep send before recv: %v, want ErrState", err)
	}
}

func TestReqTimesOutWithoutPeer(t *testing.T) {
	// The request waits in the endpoint's queue (libzmq's default); the
	// reply that cannot come times out, saying why.
	req := newSocket(t, Req, Options{})
	connect(t, req, "tcp://127.0.0.1:1")
	start := time.Now()
	mustSend(t, req, "x")
	_, err := req.Recv(ctxT(t, 200*time.Millisecond))
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "no peer connected") {
		t.Fatalf("got %v, want ErrTimeout saying no peer is connected", err)
	}
	if strings.Contains(err.Error(), "context deadline") {
		t.Fatalf("Go internals in %q", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}
