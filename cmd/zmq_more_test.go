package cmd

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/internal/testenv"
)

func TestZmqUsageErrors(t *testing.T) {
	isolateConfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"zmq", "push"}, "needs an endpoint"},
		{[]string{"zmq", "pull", "--bind", "tcp://nohost"}, "invalid endpoint"},
		{[]string{"zmq", "pull", "--bind", "udp://x:1"}, "unsupported transport"},
		{[]string{"zmq", "serve", "--framing", "csv"}, "--framing"},
		{[]string{"zmq", "serve", "--echo", "--reply", "x"}, "exclusive"},
		{[]string{"zmq", "worker", "--pull", "tcp://a:1"}, "worker needs"},
		{[]string{"zmq", "bench", "--connect", "tcp://a:1"}, "--role"},
		{[]string{"zmq", "send", "--timeout", "soon", "x"}, "timeout"},
	} {
		_, errOut, code := runDsys(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestZmqMaxMessageSize(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	pull, _ := runBackground(t, "", "zmq", "pull", "--bind", ep, "--count", "2", "--max-message-size", "1KiB")
	in := "small\n" + strings.Repeat("x", 2000) + "\nlast\n"
	if _, errOut, code := runDsys(t, in, "zmq", "push", "--connect", ep); code != 0 {
		t.Fatalf("push: %d %q", code, errOut)
	}
	r := waitBG(t, pull)
	if r.code != 0 || r.out != "small\nlast\n" || !strings.Contains(r.errOut, "dropped message over the size limit") {
		t.Fatalf("pull: %d %q %q", r.code, r.out, r.errOut)
	}
}

func TestZmqPlainUsersFromConfig(t *testing.T) {
	dir := isolateConfig(t)
	ep := freeEndpoint(t)
	cfg := "zmq:\n  plain:\n    users:\n      Alice: wonder\n      bob: builder\n"
	if err := os.WriteFile(dir+"/dsys.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve, _ := runBackground(t, "", "zmq", "serve", "--bind", ep, "--count", "2")
	// The file's users map also turns PLAIN on for the client side; its
	// user and password come from flags.
	for _, u := range [][2]string{{"Alice", "wonder"}, {"bob", "builder"}} {
		out, errOut, code := runDsys(t, "", "zmq", "send", "--connect", ep, "--plain-user", u[0], "--plain-password", u[1], "hi")
		if code != 0 || out != "World\n" {
			t.Fatalf("%s: %d %q %q", u[0], code, out, errOut)
		}
	}
	if r := waitBG(t, serve); r.code != 0 {
		t.Fatalf("serve: %d %q", r.code, r.errOut)
	}
}

func TestZmqPubSubAndFrames(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	sub, _ := runBackground(t, "", "zmq", "sub", "--connect", ep, "--topic", "news", "--count", "2", "--framing", "frames")
	in := "a\nb\n\nc\n"
	_, errOut, code := runDsys(t, in, "zmq", "pub", "--bind", ep, "--topic", "news", "--framing", "frames")
	if code != 0 {
		t.Fatalf("pub: %d %q", code, errOut)
	}
	r := waitBG(t, sub)
	if r.code != 0 || r.out != "news\na\nb\n\nnews\nc\n\n" {
		t.Fatalf("sub: %d %q %q", r.code, r.out, r.errOut)
	}
}

func TestZmqNullAndRawFraming(t *testing.T) {
	isolateConfig(t)
	ep := freeEndpoint(t)
	pull, _ := runBackground(t, "", "zmq", "pull", "--bind", ep, "--count", "2", "--framing", "null")
	if _, errOut, code := runDsys(t, "one\x00two\nlines\x00", "zmq", "push", "--connect", ep, "--framing", "null"); code != 0 {
		t.Fatalf("push: %d %q", code, errOut)
	}
	if r := waitBG(t, pull); r.out != "one\x00two\nlines\x00" {
		t.Fatalf("null framing: %q", r.out)
	}
	ep = freeEndpoint(t)
	serve, _ := runBackground(t, "", "zmq", "serve", "--bind", ep, "--count", "1", "--echo", "--framing", "raw")
	out, errOut, code := runDsys(t, "all\nof\nit", "zmq", "send", "--connect", ep, "--framing", "raw")
	if code != 0 || out != "all\nof\nit" {
		t.Fatalf("raw: %d %q %q", code, out, errOut)
	}
	waitBG(t, serve)
}

func TestZmqVentilatorOverPyzmqWorkers(t *testing.T) {
	script, err := filepath.Abs("../msg/testdata/pyzmq_peer.py") // before isolateConfig changes directory
	if err != nil {
		t.Fatal(err)
	}
	isolateConfig(t)
	py := testenv.Python(t, "zmq")
	ep := freeEndpoint(t)
	const n = 100
	type result struct {
		out []byte
		err error
	}
	var results []chan result
	for range 2 {
		ch := make(chan result, 1)
		cmd := exec.Command(py, script, "pull", ep, "--count", fmt.Sprint(n/2))
		go func() {
			out, err := cmd.Output()
			ch <- result{out, err}
		}()
		results = append(results, ch)
	}
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "task%d\n", i)
	}
	if _, errOut, code := runDsys(t, in.String(), "zmq", "push", "--bind", ep, "--peers", "2", "--timeout", "20s"); code != 0 {
		t.Fatalf("push: %d %q", code, errOut)
	}
	seen := map[string]int{}
	for _, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatalf("pyzmq worker: %v", r.err)
		}
		got := 0
		for _, l := range strings.Split(string(r.out), "\n") {
			var frames []string
			if json.Unmarshal([]byte(l), &frames) != nil {
				continue
			}
			b, _ := hex.DecodeString(frames[0])
			seen[string(b)]++
			got++
		}
		if got != n/2 {
			t.Fatalf("a worker got %d tasks, want %d (round-robin)", got, n/2)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct tasks, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("%s processed %d times", k, c)
		}
	}
}
