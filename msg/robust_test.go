package msg

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// greeting is a valid ZMTP 3.0 NULL greeting.
func nullGreeting() []byte {
	g := make([]byte, 64)
	g[0], g[9], g[10], g[11] = 0xFF, 0x7F, 3, 0
	copy(g[12:], "NULL")
	return g
}

func readyCommand(sockType string) []byte {
	var md []byte
	md = append(md, byte(len("Socket-Type")))
	md = append(md, "Socket-Type"...)
	md = binary.BigEndian.AppendUint32(md, uint32(len(sockType)))
	md = append(md, sockType...)
	return appendCommand(nil, "READY", md)
}

// serveOne checks that rep still answers a well-behaved client.
func serveOne(t *testing.T, rep *Socket, ep string) {
	t.Helper()
	req := newSocket(t, Req, Options{})
	connect(t, req, ep)
	mustSend(t, req, "still there?")
	if got := mustRecv(t, rep); !slices.Equal(got, []string{"still there?"}) {
		t.Fatalf("rep got %q", got)
	}
	mustSend(t, rep, "yes")
	if got := mustRecv(t, req); !slices.Equal(got, []string{"yes"}) {
		t.Fatalf("req got %q", got)
	}
	req.Close()
}

func TestRobustRandomBytes(t *testing.T) {
	rep := newSocket(t, Rep, Options{HandshakeTimeout: 100 * time.Millisecond})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	addr := strings.TrimPrefix(ep, "tcp://")
	rng := rand.New(rand.NewSource(1))
	payloads := [][]byte{
		{},
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append(nullGreeting(), 0xFF, 0xFF, 0xFF),                                                                         // reserved flag bits
		append(nullGreeting(), flagCommand|flagLong, 0x40, 0, 0, 0, 0, 0, 0, 0),                                          // 4 EiB command
		append(nullGreeting(), readyCommand("BOGUS")...),                                                                 // unknown socket type
		append(nullGreeting(), readyCommand("PUB")...),                                                                   // incompatible type
		append(append(nullGreeting(), readyCommand("REQ")...), flagLong, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), // huge message
		append(nullGreeting(), 4, 3, 9, 'R', 'E'),                                                                        // truncated command
	}
	for range 40 {
		b := make([]byte, rng.Intn(300))
		rng.Read(b)
		payloads = append(payloads, b)
		g := nullGreeting()
		payloads = append(payloads, append(g[:rng.Intn(64)], b...))
	}
	for i, p := range payloads {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(p)
		if i%2 == 0 {
			// Wait for the server to hang up on us (or the handshake
			// timeout), proving it noticed.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
		}
		c.Close()
	}
	serveOne(t, rep, ep)
}

func TestRobustHalfOpenConnections(t *testing.T) {
	rep := newSocket(t, Rep, Options{HandshakeTimeout: 200 * time.Millisecond})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	addr := strings.TrimPrefix(ep, "tcp://")
	// Connections that say nothing, or half a greeting, are dropped by
	// the server after the handshake timeout and do not block others.
	var conns []net.Conn
	for i := range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			c.Write(nullGreeting()[:30])
		}
		conns = append(conns, c)
	}
	serveOne(t, rep, ep)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server kept a silent connection open past its handshake timeout (read %d bytes)", n)
		}
		c.Close()
	}
}

func TestRobustPeerVanishesMidRequest(t *testing.T) {
	rep := newSocket(t, Rep, Options{})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	req := newSocket(t, Req, Options{})
	connect(t, req, ep)
	mustSend(t, req, "then I leave")
	if got := mustRecv(t, rep); got[0] != "then I leave" {
		t.Fatalf("got %q", got)
	}
	req.Close()
	// Wait for the server to notice, then reply: ErrPeerGone, not a hang,
	// and the REP is ready for the next request.
	if err := rep.waitCond(ctxT(t, 10*time.Second), func() bool { return rep.liveLocked() == 0 }); err != nil {
		t.Fatal(err)
	}
	if err := rep.Send(ctxT(t, time.Second), NewMsg([]byte("too late"))); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("reply to a vanished peer: %v", err)
	}
	serveOne(t, rep, ep)
}

// waitFor polls cond with a deadline, for state that has no channel to wait
// on (the goroutine count).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestRobustConnectDisconnectCycles(t *testing.T) {
	cycles := 2000
	if testing.Short() {
		cycles = 300
	}
	rep := newSocket(t, Rep, Options{})
	ep := bind(t, rep, "tcp://127.0.0.1:*")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				served <- err
				return
			}
			if err := rep.Send(ctx, m); err != nil && !errors.Is(err, ErrPeerGone) {
				served <- err
				return
			}
		}
	}()
	// Warm up so that lazily started runtime goroutines are counted.
	cycle := func(i int) {
		req, err := New(Req, Options{Logger: testLogger(t), ReconnectMin: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		if err := req.Connect(ep); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			return // connect and leave at once
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		defer rcancel()
		if err := req.Send(rctx, NewMsg([]byte(fmt.Sprint(i)))); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if i%3 == 1 {
			return // leave mid-request
		}
		if m, err := req.Recv(rctx); err != nil || string(m[0]) != fmt.Sprint(i) {
			t.Fatalf("cycle %d: %q %v", i, m, err)
		}
	}
	for i := range 20 {
		cycle(i)
	}
	if err := rep.waitCond(ctxT(t, 10*time.Second), func() bool { return rep.liveLocked() == 0 }); err != nil {
		t.Fatal(err)
	}
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	for i := range cycles {
		cycle(i)
	}
	if err := rep.waitCond(ctxT(t, 10*time.Second), func() bool { return rep.liveLocked() == 0 }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= g0+2 })
	if fd := openFDs(t); fd > fd0+2 {
		t.Fatalf("%d fds open after %d cycles, %d before", fd, cycles, fd0)
	}
	cancel()
	<-served
}

func TestMaxMessageSizeDropsAndLogs(t *testing.T) {
	logs := &syncBuffer{}
	pull := newSocket(t, Pull, Options{MaxMessageSize: 1000, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ep := bind(t, pull, "tcp://127.0.0.1:*")
	push := newSocket(t, Push, Options{})
	connect(t, push, ep)
	mustSend(t, push, "small")
	mustSend(t, push, strings.Repeat("x", 600), strings.Repeat("y", 600)) // 1200 bytes in two frames
	mustSend(t, push, strings.Repeat("z", 5000))
	mustSend(t, push, "after")
	for _, want := range []string{"small", "after"} {
		if got := mustRecv(t, pull); !slices.Equal(got, []string{want}) {
			t.Fatalf("got %d frames (%d bytes), want %q", len(got), len(strings.Join(got, "")), want)
		}
	}
	if n := strings.Count(logs.String(), "dropped message over the size limit"); n != 2 {
		t.Fatalf("%d drop log lines, want 2: %s", n, logs.String())
	}
}

func TestHugeFrameHeaderIsNotBuffered(t *testing.T) {
	// A peer announcing a 1 TiB message then vanishing: the reader skips
	// (discards) instead of allocating, and the socket keeps working.
	pull := newSocket(t, Pull, Options{MaxMessageSize: 1 << 20})
	ep := bind(t, pull, "tcp://127.0.0.1:*")
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	c.Write(nullGreeting())
	c.Write(readyCommand("PUSH"))
	hdr := []byte{flagLong}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<39)
	c.Write(hdr)
	c.Write(bytes.Repeat([]byte{1}, 1<<16))
	c.Close()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 1<<30 {
		t.Fatalf("heap at %d bytes", ms.HeapAlloc)
	}
	push := newSocket(t, Push, Options{})
	connect(t, push, ep)
	mustSend(t, push, "ok")
	if got := mustRecv(t, pull); got[0] != "ok" {
		t.Fatalf("got %q", got)
	}
}

func TestPushRoundRobinAndBackPressure(t *testing.T) {
	// Three PULL peers, each message to exactly one, in turn; with no peer
	// reading, Send blocks at the HWM and times out instead of dropping.
	push := newSocket(t, Push, Options{HWM: 10})
	ep := bind(t, push, "inproc://rr")
	var pulls []*Socket
	for range 3 {
		p := newSocket(t, Pull, Options{})
		connect(t, p, ep)
		pulls = append(pulls, p)
	}
	if err := push.WaitPeers(ctxT(t, 5*time.Second), 3); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		mustSend(t, push, fmt.Sprint(i))
	}
	seen := map[string]bool{}
	for _, p := range pulls {
		for range 10 {
			m := mustRecv(t, p)
			if seen[m[0]] {
				t.Fatalf("message %s delivered twice", m[0])
			}
			seen[m[0]] = true
		}
		if m, err := p.Recv(ctxT(t, 50*time.Millisecond)); err == nil {
			t.Fatalf("a peer got an 11th message %q: not round-robin", m)
		}
	}

	// Back-pressure: a lone peer that never reads.
	lone := newSocket(t, Push, Options{HWM: 5})
	lep := bind(t, lone, "tcp://127.0.0.1:*")
	c, err := net.Dial("tcp", strings.TrimPrefix(lep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(nullGreeting())
	c.Write(readyCommand("PULL"))
	big := NewMsg(bytes.Repeat([]byte("x"), 1<<20))
	var sendErr error
	for i := 0; i < 1000 && sendErr == nil; i++ {
		sendErr = lone.Send(ctxT(t, 300*time.Millisecond), big)
	}
	if !errors.Is(sendErr, ErrTimeout) {
		t.Fatalf("sending to a peer that never reads: %v, want ErrTimeout", sendErr)
	}
}

func TestHeartbeatDropsSilentPeerKeepsLiveOnes(t *testing.T) {
	push := newSocket(t, Push, Options{Heartbeat: 20 * time.Millisecond})
	ep := bind(t, push, "tcp://127.0.0.1:*")
	// A peer that completes the handshake, then goes silent (a vanished
	// host): it is dropped. A real PULL (answering PINGs) stays.
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(nullGreeting())
	c.Write(readyCommand("PULL"))
	live := newSocket(t, Pull, Options{})
	connect(t, live, ep)
	if err := push.WaitPeers(ctxT(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	if err := push.waitCond(ctxT(t, 5*time.Second), func() bool { return push.liveLocked() == 1 }); err != nil {
		t.Fatal(err)
	}
	// The survivor is the live one: 10 messages all reach it.
	for i := range 10 {
		mustSend(t, push, fmt.Sprint(i))
	}
	for i := range 10 {
		if got := mustRecv(t, live); got[0] != fmt.Sprint(i) {
			t.Fatalf("got %q", got)
		}
	}
}
