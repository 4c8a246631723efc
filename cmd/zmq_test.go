package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// freeEndpoint returns a tcp endpoint on a port that was free a moment ago.
func freeEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

type bgResult struct {
	out, errOut string
	code        int
}

// runBackground runs a dsys command line in-process in a goroutine; cancel
// stands for SIGINT.
func runBackground(t *testing.T, stdin string, args ...string) (<-chan bgResult, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan bgResult, 1)
	go func() {
		out, errOut, code := runDsysContext(t, ctx, stdin, args...)
		ch <- bgResult{out, errOut, code}
	}()
	t.Cleanup(cancel)
	return ch, cancel
}

func waitBG(t *testing.T, ch <-chan bgResult) bgResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("background dsys did not finish")
	}
	return bgResult{}
}

func TestZmqServeSendRoundTrip(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	serve, _ := runBackground(t, "", "zmq", "serve", "--bind", ep, "--count", "3")
	out, errOut, code := runDsys(t, "two\nthree\n", "zmq", "send", "--connect", ep, "Hello")
	if code != 0 || out != "World\n" {
		t.Fatalf("send Hello: code %d, out %q, err %q", code, out, errOut)
	}
	out, errOut, code = runDsys(t, "two\nthree\n", "zmq", "send", "--connect", ep)
	if code != 0 || out != "World\nWorld\n" {
		t.Fatalf("send from stdin: code %d, out %q, err %q", code, out, errOut)
	}
	r := waitBG(t, serve)
	if r.code != 0 || r.out != "Hello\ntwo\nthree\n" {
		t.Fatalf("serve: code %d, out %q, err %q", r.code, r.out, r.errOut)
	}
}

func TestZmqServeReplyModes(t *testing.T) {
	isolateConfig(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"reply", []string{"--reply", "pong"}, "pong\n"},
		{"echo", []string{"--echo"}, "ping me\n"},
		{"exec", []string{"--exec", "tr", "a-z", "A-Z"}, "PING ME\n"},
		{"exec quoted, no shell", []string{"--exec", "echo '$HOME *'"}, "$HOME *\n"},
		{"exec failure", []string{"--exec", "false"}, "ERROR: false exited with status 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := freeEndpoint(t)
			serve, _ := runBackground(t, "", append([]string{"zmq", "serve", "--bind", ep, "--count", "1"}, tc.args...)...)
			out, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "ping me")
			wantCode := 0
			if strings.HasPrefix(tc.want, "ERROR: ") {
				wantCode = 1 // a peer's error reply is a runtime failure
			}
			if code != wantCode || out != tc.want {
				t.Fatalf("code %d, out %q, want %q; stderr %q", code, out, tc.want, errOut)
			}
			r := waitBG(t, serve)
			if r.code != 0 {
				t.Fatalf("serve: %d %q", r.code, r.errOut)
			}
			if tc.name == "exec failure" && !strings.Contains(r.errOut, "request handler failed") {
				t.Fatalf("exec failure not logged: %q", r.errOut)
			}
		})
	}
}

func TestZmqSendLazyPirateGivesUp(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t) // nobody listens
	start := time.Now()
	_, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "--timeout", "200ms", "--retries", "2", "Hello")
	if code != 3 {
		t.Fatalf("exit %d, want 3; stderr %q", code, errOut)
	}
	last := errOut[strings.LastIndex(strings.TrimSpace(errOut), "\n")+1:]
	if !strings.HasPrefix(last, "dsys: ") || !strings.Contains(last, ep) || !strings.Contains(last, "3 attempt") {
		t.Fatalf("error should name the endpoint and the attempts on one line: %q", errOut)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 5*time.Second {
		t.Fatalf("took %v, want about 3 x 200ms", d)
	}
}

func TestZmqPlainAuth(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	serve, cancel := runBackground(t, "", "zmq", "serve", "--bind", ep, "--plain-user", "admin", "--plain-password", "secret")
	out, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "--plain-user", "admin", "--plain-password", "secret", "hi")
	if code != 0 || out != "World\n" {
		t.Fatalf("right password: %d %q %q", code, out, errOut)
	}
	out, errOut, code = runDsys(t, "", "zmq", "send", "--connect", ep, "--plain-user", "admin", "--plain-password", "nope", "--timeout", "2s", "hi")
	if code != 3 || !strings.Contains(errOut, "authentication failed") || out != "" {
		t.Fatalf("wrong password: exit %d, out %q, stderr %q; want 3 and 'authentication failed'", code, out, errOut)
	}
	cancel()
	r := waitBG(t, serve)
	if r.code != 130 {
		t.Fatalf("interrupted serve exit %d, want 130", r.code)
	}
	if !strings.Contains(r.errOut, "authentication failed") || strings.Contains(r.errOut, "nope") {
		t.Fatalf("server log should note the refusal without the password: %q", r.errOut)
	}
}

func TestZmqPipelineExactlyOnceRoundRobin(t *testing.T) {
	isolateConfig(t)
	vent, sink := freeEndpoint(t), freeEndpoint(t)
	const n = 60
	sinkCh, _ := runBackground(t, "", "zmq", "pull", "--bind", sink, "--count", fmt.Sprint(n))
	var workers []<-chan bgResult
	for i := range 2 {
		// Each worker tags its results so the spread can be checked.
		w, _ := runBackground(t, "", "zmq", "worker", "--pull", vent, "--push", sink, "--count", fmt.Sprint(n/2),
			"--exec", "sed", fmt.Sprintf("s/$/ w%d/", i))
		workers = append(workers, w)
	}
	var tasks strings.Builder
	for i := range n {
		fmt.Fprintf(&tasks, "task%d\n", i)
	}
	_, errOut, code := runDsys(t, tasks.String(), "zmq", "push", "--bind", vent, "--peers", "2")
	if code != 0 {
		t.Fatalf("push: %d %q", code, errOut)
	}
	r := waitBG(t, sinkCh)
	if r.code != 0 {
		t.Fatalf("sink: %d %q", r.code, r.errOut)
	}
	for _, w := range workers {
		if wr := waitBG(t, w); wr.code != 0 {
			t.Fatalf("worker: %d %q", wr.code, wr.errOut)
		}
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	seen, per := map[string]int{}, map[string]int{}
	for _, l := range lines {
		task, worker, _ := strings.Cut(l, " ")
		seen[task]++
		per[worker]++
	}
	if len(lines) != n || len(seen) != n {
		t.Fatalf("%d results for %d distinct tasks, want %d each", len(lines), len(seen), n)
	}
	if per["w0"] != n/2 || per["w1"] != n/2 {
		t.Fatalf("spread %v, want %d each", per, n/2)
	}
}

func TestZmqSendToAbsentPeerFailsAfterTimeout(t *testing.T) {
	isolateConfig(t)
	_, errOut, code := runDsys(t, "x\n", "zmq", "push", "--connect", freeEndpoint(t), "--timeout", "200ms")
	if code != 3 || !strings.Contains(errOut, "no peer") {
		t.Fatalf("push to nobody: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runDsys(t, "x\n", "zmq", "push", "--bind", "tcp://127.0.0.1:0", "--timeout", "200ms")
	if code != 3 || !strings.Contains(errOut, "waiting for") {
		t.Fatalf("bound push with no peer: exit %d, stderr %q", code, errOut)
	}
}

func TestZmqJSONOutput(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	pull, _ := runBackground(t, "", "zmq", "pull", "--bind", ep, "--count", "2", "-o", "json")
	_, errOut, code := runDsys(t, "héllo\nworld\n", "zmq", "push", "--connect", ep)
	if code != 0 {
		t.Fatalf("push: %d %q", code, errOut)
	}
	r := waitBG(t, pull)
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || fmt.Sprint(got[0]["frames"]) != "[héllo]" {
		t.Fatalf("got %v", got)
	}
}

func TestZmqRouterDealer(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	router, _ := runBackground(t, "", "zmq", "router", "--bind", ep, "--count", "1", "-o", "json")
	out, errOut, code := runDsys(t, "hello\n", "zmq", "dealer", "--connect", ep, "--timeout", "300ms")
	if code != 0 || out != "" {
		t.Fatalf("dealer: %d %q %q", code, out, errOut)
	}
	r := waitBG(t, router)
	var m struct {
		Identity any
		Frames   []string
	}
	if err := json.Unmarshal([]byte(r.out), &m); err != nil || m.Identity == nil || len(m.Frames) != 1 || m.Frames[0] != "hello" {
		t.Fatalf("router printed %q (%v)", r.out, err)
	}
	_, errOut, code = runDsys(t, "nobody\tx\n", "zmq", "router", "--bind", "tcp://127.0.0.1:0", "--timeout", "200ms")
	if code == 0 || !strings.Contains(errOut, "no peer with this identity") {
		t.Fatalf("router to an unknown identity: %d %q", code, errOut)
	}
}

func TestZmqInteropPyzmqClientsAndServers(t *testing.T) {
	isolateConfig(t)
	py := testenv.Python(t, "zmq")
	ep := freeEndpoint(t)
	serve, _ := runBackground(t, "", "zmq", "serve", "--bind", ep, "--count", "1")
	script := fmt.Sprintf(`import zmq
s = zmq.Context().socket(zmq.REQ); s.rcvtimeo = 10000; s.connect(%q)
s.send(b"Hello"); print(s.recv().decode())`, ep)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "World" {
		t.Fatalf("pyzmq REQ -> dsys serve: %v %q", err, out)
	}
	if r := waitBG(t, serve); r.code != 0 || r.out != "Hello\n" {
		t.Fatalf("serve: %d %q %q", r.code, r.out, r.errOut)
	}

	ep = freeEndpoint(t)
	// The REP closes and terminates its context before exiting, so that the
	// reply leaves before the process does (libzmq sends from an I/O
	// thread that an interpreter exit may cut short).
	script = fmt.Sprintf(`import zmq
c = zmq.Context(); s = c.socket(zmq.REP); s.rcvtimeo = 10000; s.bind(%q)
print("READY", flush=True)
print(s.recv().decode(), flush=True); s.send(b"World")
s.close(linger=5000); c.term()`, ep)
	cmd := exec.Command(py, "-c", script)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	out2, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "Hello")
	if code != 0 || out2 != "World\n" {
		t.Fatalf("dsys send -> pyzmq REP: %d %q %q", code, out2, errOut)
	}
	_ = cmd.Wait()
}
