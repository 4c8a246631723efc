package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// pyPeerScript is msg's libzmq peer, found before a test changes directory.
var pyPeerScript = func() string {
	p, _ := filepath.Abs("../msg/testdata/pyzmq_peer.py")
	return p
}()

// cmdPy is a pyzmq peer subprocess (msg/testdata/pyzmq_peer.py).
type cmdPy struct {
	t     *testing.T
	ep    string
	lines chan string
	done  chan error
}

func startPyPeer(t *testing.T, args ...string) *cmdPy {
	t.Helper()
	py := testenv.Python(t, "zmq")
	cmd := exec.Command(py, append([]string{pyPeerScript}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr zmqOutput
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cmdPy{t: t, lines: make(chan string, 1024), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range p.lines {
		}
	})
	select {
	case l := <-p.lines:
		if !strings.HasPrefix(l, "READY") {
			t.Fatalf("pyzmq peer: %q; stderr %s", l, stderr.String())
		}
		p.ep = strings.TrimSpace(strings.TrimPrefix(l, "READY"))
	case <-time.After(20 * time.Second):
		t.Fatalf("pyzmq peer not ready; stderr %s", stderr.String())
	}
	return p
}

// msgs collects every message the peer printed until it exited.
func (p *cmdPy) msgs() [][]string {
	p.t.Helper()
	var out [][]string
	for l := range p.lines {
		var hx []string
		if json.Unmarshal([]byte(l), &hx) != nil {
			continue
		}
		m := make([]string, len(hx))
		for i, h := range hx {
			b, _ := hex.DecodeString(h)
			m[i] = string(b)
		}
		out = append(out, m)
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("pyzmq peer failed: %v", err)
		}
	case <-time.After(20 * time.Second):
		p.t.Fatal("pyzmq peer did not exit")
	}
	return out
}

// zmqOutput is a bytes.Buffer safe for a writer and a poller.
type zmqOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *zmqOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *zmqOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitOutput waits (bounded) until buf contains want.
func waitOutput(t *testing.T, buf *zmqOutput, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestZmqPushConnectSpreadsOverEndpoints(t *testing.T) {
	isolateConfig(t)
	w1 := startPyPeer(t, "pull", "tcp://127.0.0.1:0", "--count", "100")
	w2 := startPyPeer(t, "pull", "tcp://127.0.0.1:0", "--count", "100", "--timeout", "5000")
	_, errOut, code := runDsys(t, seqLines(200), "zmq", "push", "--connect", w1.ep, "--connect", w2.ep)
	if code != 0 {
		t.Fatalf("push: %d %q", code, errOut)
	}
	if n1, n2 := len(w1.msgs()), len(w2.msgs()); n1 != 100 || n2 != 100 {
		t.Fatalf("%d and %d messages, want 100 each (libzmq's per-endpoint queues)", n1, n2)
	}
	if _, errOut, code := runDsys(t, "", "zmq", "push", "--connect", w1.ep, "--peers", "2"); code != 2 || !strings.Contains(errOut, "--peers 2") {
		t.Fatalf("--peers beyond the endpoints: %d %q", code, errOut)
	}
}

func TestZmqUndeliveredExits3(t *testing.T) {
	isolateConfig(t)
	nobody := freeEndpoint(t)
	for _, typ := range []string{"dealer", "pair", "push"} {
		_, errOut, code := runDsys(t, "hi\n", "zmq", typ, "--connect", nobody, "--timeout", "300ms")
		if code != 3 || !strings.Contains(errOut, "1 message(s) not delivered") || !strings.Contains(errOut, "connection refused") {
			t.Errorf("%s to nobody: exit %d, stderr %q; want 3 saying the message was not delivered and why", typ, code, errOut)
		}
		for _, internal := range []string{"context deadline exceeded", "zmq4:", "dsys: dsys", "dial tcp"} {
			if strings.Contains(errOut, internal) {
				t.Errorf("%s: %q in %q", typ, internal, errOut)
			}
		}
	}
	// dealer --count 2 with one reply coming: exit 3, not 0.
	py := startPyPeer(t, "router", "tcp://127.0.0.1:0", "--count", "1")
	out, errOut, code := runDsys(t, "one\n", "zmq", "dealer", "--connect", py.ep, "--count", "2", "--timeout", "500ms")
	if code != 3 || out != "World\n" || !strings.Contains(errOut, "received 1 of 2") {
		t.Fatalf("dealer --count 2, one reply: exit %d, out %q, stderr %q", code, out, errOut)
	}
}

func TestZmqJSONFramingTalksToLibzmqRep(t *testing.T) {
	isolateConfig(t)
	py := startPyPeer(t, "rep", "tcp://127.0.0.1:0", "--count", "1")
	out, errOut, code := runDsys(t, `{"frames": ["", "Hello"]}`+"\n", "zmq", "dealer", "--connect", py.ep, "--framing", "json", "--count", "1")
	if code != 0 || out != `{"frames":["","World"]}`+"\n" {
		t.Fatalf("dealer -> libzmq REP: %d %q %q", code, out, errOut)
	}
	if got := py.msgs(); len(got) != 1 || got[0][0] != "Hello" {
		t.Fatalf("REP got %q", got)
	}
	if _, errOut, code := runDsys(t, `{"frames": ["x"], "identity": "p"}`+"\n", "zmq", "push", "--connect", py.ep, "--framing", "json"); code != 2 || !strings.Contains(errOut, "identity") {
		t.Fatalf("identity on a PUSH: %d %q", code, errOut)
	}
}

func TestZmqRouterAnswersLibzmqReqLineByLine(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	in, feed := io.Pipe()
	var out, errOut zmqOutput
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- Run(ctx, []string{"zmq", "router", "--bind", ep, "--timeout", "500ms"}, IOStreams{In: in, Out: &out, ErrOut: &errOut})
	}()
	py := startPyPeer(t, "req", ep, "--identity", "client1", "--msgs", `[["Hello"]]`)
	waitOutput(t, &out, "client1\tHello\n") // the empty delimiter is not shown
	fmt.Fprintln(feed, "client1\tWorld")    // and comes back with the reply
	feed.Close()
	if got := py.msgs(); len(got) != 1 || len(got[0]) != 1 || got[0][0] != "World" {
		t.Fatalf("libzmq REQ got %q", got)
	}
	if code := <-done; code != 0 {
		t.Fatalf("router: %d %q", code, errOut.String())
	}
}

func TestZmqIdentityFlag(t *testing.T) {
	isolateConfig(t)
	py := startPyPeer(t, "router", "tcp://127.0.0.1:0", "--count", "1")
	out, errOut, code := runDsys(t, "hi\n", "zmq", "dealer", "--connect", py.ep, "--identity", "me-1", "--count", "1")
	if code != 0 || out != "World\n" {
		t.Fatalf("dealer: %d %q %q", code, out, errOut)
	}
	if got := py.msgs(); len(got) != 1 || got[0][0] != "me-1" {
		t.Fatalf("libzmq ROUTER saw %q", got)
	}
}

func TestZmqCurveEndToEnd(t *testing.T) {
	isolateConfig(t)
	keys := func() jsonKeyPair {
		out, errOut, code := runDsys(t, "", "zmq", "keygen", "-o", "json")
		var k jsonKeyPair
		if code != 0 || json.Unmarshal([]byte(out), &k) != nil || len(k.Public) != 40 || len(k.Secret) != 40 {
			t.Fatalf("keygen: %d %q %q", code, out, errOut)
		}
		return k
	}
	server, client, stranger := keys(), keys(), keys()
	if out, _, _ := runDsys(t, "", "zmq", "keygen"); !strings.HasPrefix(out, "public: ") || !strings.Contains(out, "\nsecret: ") {
		t.Fatalf("keygen text: %q", out)
	}
	ep := freeEndpoint(t)
	serve, cancel := runBackground(t, "", "zmq", "serve", "--bind", ep, "--curve-secret="+server.Secret, "--curve-allow="+client.Public)
	out, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "--curve-server="+server.Public, "--curve-secret="+client.Secret, "hi")
	if code != 0 || out != "World\n" {
		t.Fatalf("allowed client: %d %q %q", code, out, errOut)
	}
	for name, args := range map[string][]string{
		"wrong server key": {"--curve-server=" + stranger.Public, "--curve-secret=" + client.Secret},
		"refused client":   {"--curve-server=" + server.Public, "--curve-secret=" + stranger.Secret},
	} {
		_, errOut, code := runDsys(t, "", append([]string{"zmq", "send", "--connect", ep, "--timeout", "2s", "--retries", "0", "hi"}, args...)...)
		if code != 3 || !strings.Contains(errOut, "CURVE handshake failed") {
			t.Errorf("%s: exit %d, stderr %q; want 3 and CURVE handshake failed", name, code, errOut)
		}
		if strings.Contains(errOut, client.Secret) || strings.Contains(errOut, stranger.Secret) {
			t.Errorf("%s: a secret key in %q", name, errOut)
		}
	}
	cancel()
	waitBG(t, serve)

	// A pyzmq client against dsys serve, and dsys send against a pyzmq server.
	ep = freeEndpoint(t)
	serve, _ = runBackground(t, "", "zmq", "serve", "--bind", ep, "--curve-secret="+server.Secret, "--count", "1")
	py := startPyPeer(t, "req", ep, "--curve-secret="+client.Secret, "--curve-server="+server.Public, "--msgs", `[["from pyzmq"]]`)
	if got := py.msgs(); len(got) != 1 || got[0][0] != "World" {
		t.Fatalf("pyzmq over CURVE got %q", got)
	}
	waitBG(t, serve)
	rep := startPyPeer(t, "rep", "tcp://127.0.0.1:0", "--curve-secret="+server.Secret, "--count", "1")
	out, errOut, code = runDsys(t, "", "zmq", "send", "--connect", rep.ep, "--curve-server="+server.Public, "hi")
	if code != 0 || out != "World\n" {
		t.Fatalf("dsys -> pyzmq over CURVE: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := runDsys(t, "", "zmq", "send", "--curve-secret=not-a-key-at-all", "hi"); code != 2 || strings.Contains(errOut, "not-a-key-at-all") {
		t.Fatalf("malformed key: %d %q (want exit 2, never echoing the key)", code, errOut)
	}
}

func TestZmqServeExecArgvAndLimits(t *testing.T) {
	isolateConfig(t)
	for _, tc := range []struct {
		name string
		args []string
		req  string
		want string
		code int
	}{
		{"dashes verbatim", []string{"--exec", "cut", "-c1-3"}, "abcdef", "abc\n", 0},
		{"sh -c", []string{"--exec", "sh", "-c", "tr a-z A-Z; echo -n"}, "shout", "SHOUT\n", 0},
		{"exec timeout", []string{"--exec-timeout", "200ms", "--exec", "sh", "-c", "sleep 30"}, "x", "ERROR: sh timed out after 200ms (killed)\n", 1},
		{"output cap", []string{"--max-message-size", "1KiB", "--exec", "yes"}, "x", "ERROR: yes's output exceeds 1024 bytes, the message size limit (killed)\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := freeEndpoint(t)
			serve, _ := runBackground(t, "", append([]string{"zmq", "serve", "--bind", ep, "--count", "1"}, tc.args...)...)
			out, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "--timeout", "10s", tc.req)
			if code != tc.code || out != tc.want {
				t.Fatalf("exit %d, out %q; want %d, %q; stderr %q", code, out, tc.code, tc.want, errOut)
			}
			if r := waitBG(t, serve); r.code != 0 {
				t.Fatalf("serve: %d %q", r.code, r.errOut)
			}
		})
	}
	start := time.Now()
	_, errOut, code := runDsys(t, "", "zmq", "serve", "--bind", freeEndpoint(t), "--exec", "no-such-command-dsys")
	if code != 2 || !strings.Contains(errOut, "not found") || time.Since(start) > 5*time.Second {
		t.Fatalf("missing command: %d %q", code, errOut)
	}
	if _, errOut, code := runDsys(t, "", "zmq", "worker", "--pull", "tcp://127.0.0.1:1", "--push", "tcp://127.0.0.1:2", "--exec", "no-such-command-dsys"); code != 2 {
		t.Fatalf("worker with a missing command: %d %q", code, errOut)
	}
}

func TestZmqServeWorkersServeClientsAtOnce(t *testing.T) {
	isolateConfig(t)
	dir := t.TempDir()
	// Each request waits until three are running at once (a barrier of
	// files): with one worker it would time out.
	script := fmt.Sprintf(`touch %[1]s/$$; for i in $(seq 200); do [ $(ls %[1]s | wc -l) -ge 3 ] && exit 0; sleep 0.05; done; exit 1`, dir)
	ep := freeEndpoint(t)
	serve, _ := runBackground(t, "", "zmq", "serve", "--bind", ep, "--count", "3", "--workers", "3", "--exec", "sh", "-c", script)
	results := make(chan string, 3)
	for range 3 {
		go func() {
			out, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "--timeout", "15s", "--retries", "0", "go")
			results <- fmt.Sprintf("%d %q %q", code, out, errOut)
		}()
	}
	for range 3 {
		if r := <-results; !strings.HasPrefix(r, `0 "\n"`) {
			t.Fatalf("a client: %s (want exit 0: three requests ran at once)", r)
		}
	}
	waitBG(t, serve)
}

func TestZmqMonitorAndConfigTimeout(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	pull, _ := runBackground(t, "", "zmq", "pull", "--bind", ep, "--count", "1", "--monitor", "-o", "json")
	if _, errOut, code := runDsys(t, "x\n", "zmq", "push", "--connect", ep); code != 0 {
		t.Fatalf("push: %q", errOut)
	}
	r := waitBG(t, pull)
	var kinds []string
	for _, l := range strings.Split(r.errOut, "\n") {
		var ev jsonEvent
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Event != "" {
			if ev.Socket != "PULL" || ev.Time == "" {
				t.Fatalf("event %q", l)
			}
			kinds = append(kinds, ev.Event)
		}
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "listening,accepted,handshake_succeeded") {
		t.Fatalf("monitor events %q in %q", got, r.errOut)
	}
	t.Setenv("DSYS_ZMQ_TIMEOUT", "200ms")
	if _, errOut, code := runDsys(t, "", "zmq", "pull", "--bind", freeEndpoint(t)); code != 3 || !strings.Contains(errOut, "nothing received for 200ms") {
		t.Fatalf("pull with zmq.timeout: %d %q", code, errOut)
	}
}

func TestZmqProxyAndHelp(t *testing.T) {
	isolateConfig(t)
	front, back := freeEndpoint(t), freeEndpoint(t)
	px, stop := runBackground(t, "", "zmq", "proxy", "--frontend", "router=@"+front, "--backend", "dealer=@"+back)
	serve, _ := runBackground(t, "", "zmq", "serve", "--connect", back, "--count", "2", "--reply", "brokered")
	out, errOut, code := runDsys(t, "a\nb\n", "zmq", "send", "--connect", front)
	if code != 0 || out != "brokered\nbrokered\n" {
		t.Fatalf("through the proxy: %d %q %q", code, out, errOut)
	}
	waitBG(t, serve)
	stop()
	waitBG(t, px)
	if _, errOut, code := runDsys(t, "", "zmq", "proxy", "--frontend", "pull=@"+front, "--backend", "dealer=@"+back); code != 2 || !strings.Contains(errOut, "router/dealer, xsub/xpub or pull/push") {
		t.Fatalf("a pair that is no device: %d %q", code, errOut)
	}
	out, _, _ = runDsys(t, "", "zmq", "--help")
	for _, c := range []string{"proxy", "keygen"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("dsys zmq --help does not list %s", c)
		}
	}
	out, _, _ = runDsys(t, "", "__complete", "zmq", "pull", "--framing", "")
	if !strings.Contains(out, "json") || !strings.Contains(out, "frames") {
		t.Errorf("--framing completion: %q", out)
	}
}

func TestZmqLazyPirateLastAttemptDoesNotRetry(t *testing.T) {
	isolateConfig(t)
	_, errOut, code := runDsys(t, "", "zmq", "send", "--connect", freeEndpoint(t), "--timeout", "100ms", "--retries", "1", "hi")
	if code != 3 {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(errOut, "retrying"); n != 1 {
		t.Fatalf("%d 'retrying' lines for 2 attempts, want 1: %q", n, errOut)
	}
	if strings.Contains(errOut, "context deadline exceeded") {
		t.Fatalf("Go internals: %q", errOut)
	}
}

// jsonEvent is one --monitor event under -o json: a line of the
// logger's JSON handler.
type jsonEvent struct {
	Event      string `json:"event"`
	Socket     string `json:"socket"`
	Endpoint   string `json:"endpoint,omitempty"`
	Remote     string `json:"remote,omitempty"`
	PeerType   string `json:"peer_type,omitempty"`
	Mechanism  string `json:"mechanism,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Suppressed int    `json:"suppressed,omitempty"`
	Time       string `json:"time"`
}
