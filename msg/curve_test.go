package msg

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func keyPair(t testing.TB) (PublicKey, SecretKey) {
	t.Helper()
	pub, sec, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return pub, sec
}

func TestZ85KnownVector(t *testing.T) {
	// RFC 32's test vector.
	raw := []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}
	if got := z85Encode(raw); got != "HelloWorld" {
		t.Fatalf("z85 of the RFC vector: %q", got)
	}
	back, err := z85Decode("HelloWorld")
	if err != nil || !slices.Equal(back, raw) {
		t.Fatalf("decode: %x %v", back, err)
	}
	pub, sec := keyPair(t)
	if p, err := ParsePublicKey(pub.String()); err != nil || p != pub {
		t.Fatalf("public key round trip: %v", err)
	}
	if s, err := ParseSecretKey(sec.Z85()); err != nil || s != sec || s.Public() != pub {
		t.Fatalf("secret key round trip: %v", err)
	}
	if sec.String() != "****" {
		t.Fatalf("a secret key prints as %q", sec.String())
	}
	bad := strings.Repeat("~", 40)
	if _, err := ParseSecretKey(bad); err == nil || strings.Contains(err.Error(), bad) {
		t.Fatalf("a malformed key is an error that does not echo it: %v", err)
	}
}

func TestCurveGoToGo(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	for _, tr := range []string{"tcp://127.0.0.1:*", "inproc://curve"} {
		rep := newSocket(t, Rep, Options{Curve: &CurveAuth{Secret: &ssec, Allow: []PublicKey{cpub}}})
		ep := bind(t, rep, tr)
		req := newSocket(t, Req, Options{Curve: &CurveAuth{Secret: &csec, Server: &spub}, Heartbeat: 5 * time.Millisecond})
		connect(t, req, ep)
		for _, m := range [][]string{{"hello"}, {"multi", "", strings.Repeat("x", 70000)}} {
			mustSend(t, req, m...)
			if got := mustRecv(t, rep); !slices.Equal(got, m) {
				t.Fatalf("%s: rep got %d frames", tr, len(got))
			}
			mustSend(t, rep, "ok")
			if got := mustRecv(t, req); !slices.Equal(got, []string{"ok"}) {
				t.Fatalf("req got %q", got)
			}
		}
		// A client the server does not allow is refused, and says so.
		_, other := keyPair(t)
		bad := newSocket(t, Req, Options{Curve: &CurveAuth{Secret: &other, Server: &spub}})
		connect(t, bad, ep)
		mustSend(t, bad, "x")
		_, err := bad.Recv(ctxT(t, 5*time.Second))
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "CURVE handshake failed") {
			t.Fatalf("refused client: %v", err)
		}
		// A client given the wrong server key.
		wrongPub, _ := keyPair(t)
		wrong := newSocket(t, Req, Options{Curve: &CurveAuth{Server: &wrongPub}})
		connect(t, wrong, ep)
		mustSend(t, wrong, "x")
		_, err = wrong.Recv(ctxT(t, 5*time.Second))
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "CURVE handshake failed") {
			t.Fatalf("wrong server key: %v", err)
		}
	}
}

func TestInteropCurve(t *testing.T) {
	spub, ssec := keyPair(t)
	cpub, csec := keyPair(t)
	t.Run("pyzmq client, dsys server", func(t *testing.T) {
		rep := newSocket(t, Rep, Options{Curve: &CurveAuth{Secret: &ssec}})
		ep := bind(t, rep, "tcp://127.0.0.1:*")
		big := strings.Repeat("y", 100000)
		py := startPy(t, "req", ep, "--curve-secret="+csec.Z85(), "--curve-server="+spub.String(), "--heartbeat", "10",
			"--msgs", msgsJSON([]string{"Hello"}, []string{"multi", "", big}))
		if got := mustRecv(t, rep); !slices.Equal(got, []string{"Hello"}) {
			t.Fatalf("got %q", got)
		}
		mustSend(t, rep, "World")
		if got := mustRecv(t, rep); !slices.Equal(got, []string{"multi", "", big}) {
			t.Fatalf("got %d frames", len(got))
		}
		mustSend(t, rep, "World", "2")
		if got := py.msg(); !slices.Equal(got, []string{"World"}) {
			t.Fatalf("py got %q", got)
		}
		if got := py.msg(); !slices.Equal(got, []string{"World", "2"}) {
			t.Fatalf("py got %q", got)
		}
		py.wait()
	})
	t.Run("dsys client, pyzmq server with allow list", func(t *testing.T) {
		py := startPy(t, "rep", "tcp://127.0.0.1:0", "--curve-secret="+ssec.Z85(), "--curve-allow="+cpub.String(), "--count", "2")
		req := newSocket(t, Req, Options{Curve: &CurveAuth{Secret: &csec, Server: &spub}, Heartbeat: 10 * time.Millisecond})
		connect(t, req, py.Endpoint)
		for _, m := range []string{"one", strings.Repeat("z", 5000)} {
			mustSend(t, req, m)
			if got := py.msg(); !slices.Equal(got, []string{m}) {
				t.Fatalf("py got %d bytes", len(got[0]))
			}
			if got := mustRecv(t, req); !slices.Equal(got, []string{"World"}) {
				t.Fatalf("got %q", got)
			}
		}
		py.wait()
	})
	t.Run("dsys client refused by pyzmq's ZAP", func(t *testing.T) {
		py := startPy(t, "rep", "tcp://127.0.0.1:0", "--curve-secret="+ssec.Z85(), "--curve-allow="+cpub.String(), "--count", "1", "--timeout", "3000")
		_, other := keyPair(t)
		req := newSocket(t, Req, Options{Curve: &CurveAuth{Secret: &other, Server: &spub}})
		connect(t, req, py.Endpoint)
		mustSend(t, req, "x")
		_, err := req.Recv(ctxT(t, 5*time.Second))
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "CURVE handshake failed") {
			t.Fatalf("refused by libzmq: %v", err)
		}
		_ = py
	})
	t.Run("dsys client, wrong server key for pyzmq", func(t *testing.T) {
		py := startPy(t, "rep", "tcp://127.0.0.1:0", "--curve-secret="+ssec.Z85(), "--count", "1", "--timeout", "3000")
		wrongPub, _ := keyPair(t)
		req := newSocket(t, Req, Options{Curve: &CurveAuth{Server: &wrongPub}})
		connect(t, req, py.Endpoint)
		mustSend(t, req, "x")
		_, err := req.Recv(ctxT(t, 5*time.Second))
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "CURVE handshake failed") {
			t.Fatalf("wrong server key against libzmq: %v", err)
		}
		_ = py
	})
	t.Run("pyzmq client refused by dsys", func(t *testing.T) {
		logs := &syncBuffer{}
		rep := newSocket(t, Rep, Options{Curve: &CurveAuth{Secret: &ssec, Allow: []PublicKey{cpub}}, Logger: testLoggerTo(logs)})
		ep := bind(t, rep, "tcp://127.0.0.1:*")
		_, other := keyPair(t)
		startPy(t, "req", ep, "--curve-secret="+other.Z85(), "--curve-server="+spub.String(), "--timeout", "2000", "--msgs", msgsJSON([]string{"x"}))
		if m, err := rep.Recv(ctxT(t, 700*time.Millisecond)); !errors.Is(err, ErrTimeout) {
			t.Fatalf("a refused client's request got through: %q %v", m, err)
		}
		if !strings.Contains(logs.String(), "not allowed") {
			t.Fatalf("no log of the refusal: %s", logs.String())
		}
	})
	t.Run("pub/sub both ways", func(t *testing.T) {
		pub := newSocket(t, Pub, Options{Curve: &CurveAuth{Secret: &ssec}})
		ep := bind(t, pub, "tcp://127.0.0.1:*")
		py := startPy(t, "sub", ep, "--curve-server="+spub.String(), "--topic", "news", "--count", "1")
		if err := pub.WaitPeers(ctxT(t, 10*time.Second), 1); err != nil {
			t.Fatal(err)
		}
		mustSend(t, pub, "weather", "x")
		mustSend(t, pub, "news", "y")
		if got := py.msg(); !slices.Equal(got, []string{"news", "y"}) {
			t.Fatalf("py sub got %q", got)
		}
		py.wait()

		pp := startPy(t, "pub", "tcp://127.0.0.1:0", "--curve-secret="+ssec.Z85(), "--msgs", msgsJSON([]string{"news", "z"}))
		sub := newSocket(t, Sub, Options{Curve: &CurveAuth{Server: &spub}})
		sub.Subscribe("news")
		connect(t, sub, pp.Endpoint)
		if l := pp.line(10 * time.Second); l != "SUBSCRIBED 016e657773" {
			t.Fatalf("pyzmq saw %q", l)
		}
		if got := mustRecv(t, sub); !slices.Equal(got, []string{"news", "z"}) {
			t.Fatalf("sub got %q", got)
		}
	})
}

func TestCurveBoxOpensInOrderAndRejectsReplaysAndForgeries(t *testing.T) {
	var key [32]byte
	key[0] = 7
	send := &curveBox{key: key, send: nonceMsgC, next: 5}
	var plain []byte
	var want [][]byte
	for i := range 300 {
		body := []byte(strings.Repeat(string(rune('a'+i%26)), i*37%3000))
		want = append(want, body)
		fl := byte(0)
		if i%3 == 0 {
			fl = flagMore
		}
		plain = appendFrame(plain, fl, body)
	}
	plain = appendCommand(plain, "PING", []byte{0, 10})
	wire := send.seal(nil, plain)
	open := func(wire []byte) ([][]byte, error) {
		recv := &curveBox{key: key, recv: nonceMsgC, last: 4}
		fr := newFrameReader(recv.reader(bytes.NewReader(wire), 1<<20), 1<<20)
		var got [][]byte
		for {
			frames, _, cmd, err := fr.next(nil, 0)
			if err != nil {
				return got, err
			}
			if cmd {
				got = append(got, []byte("CMD"))
				continue
			}
			got = append(got, frames...)
		}
	}
	got, err := open(wire)
	if !errors.Is(err, io.EOF) || len(got) != 301 || string(got[300]) != "CMD" {
		t.Fatalf("%d frames, %v", len(got), err)
	}
	for i, w := range want {
		if !bytes.Equal(got[i], w) {
			t.Fatalf("frame %d differs", i)
		}
	}
	// A replayed MESSAGE (its nonce again) and a flipped bit both end the
	// connection with a protocol error.
	first := 2 + messageOverhead
	replay := append(append([]byte(nil), wire[:first]...), wire[:first]...)
	if _, err := open(replay); !errors.Is(err, ErrProtocol) {
		t.Fatalf("replay: %v", err)
	}
	forged := append([]byte(nil), wire...)
	forged[len(forged)-3] ^= 1
	if _, err := open(forged); !errors.Is(err, ErrProtocol) {
		t.Fatalf("forgery: %v", err)
	}
}

func TestCurveOversizedMessagesAreSkippedNotBuffered(t *testing.T) {
	spub, ssec := keyPair(t)
	logs := &syncBuffer{}
	pull := newSocket(t, Pull, Options{Curve: &CurveAuth{Secret: &ssec}, MaxMessageSize: 100 << 10, Logger: testLoggerTo(logs)})
	ep := bind(t, pull, "tcp://127.0.0.1:*")
	push := newSocket(t, Push, Options{Curve: &CurveAuth{Server: &spub}})
	connect(t, push, ep)
	mustSend(t, push, "before")
	mustSend(t, push, "head", strings.Repeat("x", 300<<10), "tail") // 300 KiB frame: skipped unread
	mustSend(t, push, strings.Repeat("y", 150<<10))                 // just over: buffered, then dropped
	mustSend(t, push, "after")
	for _, want := range []string{"before", "after"} {
		if got := mustRecv(t, pull); !slices.Equal(got, []string{want}) {
			t.Fatalf("got %d frames (first %.10q), want %q", len(got), got[0], want)
		}
	}
	if n := strings.Count(logs.String(), "dropped message over the size limit"); n != 2 {
		t.Fatalf("%d drop log lines, want 2: %s", n, logs.String())
	}
}

func TestPairRefusesASecondPeer(t *testing.T) {
	a := newSocket(t, Pair, Options{})
	ep := bind(t, a, "tcp://127.0.0.1:*")
	b := newSocket(t, Pair, Options{})
	connect(t, b, ep)
	mustSend(t, b, "first")
	if got := mustRecv(t, a); got[0] != "first" {
		t.Fatal(got)
	}
	c := newSocket(t, Pair, Options{})
	connect(t, c, ep)
	mustSend(t, c, "second") // queued for its endpoint: PAIR has its peer
	if m, err := a.Recv(ctxT(t, 300*time.Millisecond)); err == nil {
		t.Fatalf("a second PAIR peer got through: %q", m)
	}
	if n := a.Peers(); n != 1 {
		t.Fatalf("%d peers, want 1", n)
	}
}
