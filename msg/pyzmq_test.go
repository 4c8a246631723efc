package msg

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// pyPeer is a libzmq socket in a pyzmq subprocess (testdata/pyzmq_peer.py).
type pyPeer struct {
	t        testing.TB
	cmd      *exec.Cmd
	Endpoint string // set when the peer bound
	lines    chan string
	stderr   *syncBuffer
	done     chan error
}

// startPy runs pyzmq_peer.py with args and waits for its READY line.
func startPy(t testing.TB, args ...string) *pyPeer {
	t.Helper()
	py := testenv.Python(t, "zmq")
	cmd := exec.Command(py, append([]string{"testdata/pyzmq_peer.py"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pyPeer{t: t, cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
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
	line := p.line(20 * time.Second)
	if !strings.HasPrefix(line, "READY") {
		t.Fatalf("pyzmq peer %v: expected READY, got %q; stderr: %s", args, line, p.stderr.String())
	}
	p.Endpoint = strings.TrimSpace(strings.TrimPrefix(line, "READY"))
	return p
}

func (p *pyPeer) line(d time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("pyzmq peer exited early; stderr: %s", p.stderr.String())
		}
		return l
	case <-time.After(d):
		p.t.Fatalf("pyzmq peer said nothing for %v; stderr: %s", d, p.stderr.String())
	}
	return ""
}

// msg reads one printed message (JSON list of hex frames).
func (p *pyPeer) msg() []string {
	p.t.Helper()
	l := p.line(15 * time.Second)
	var hx []string
	if err := json.Unmarshal([]byte(l), &hx); err != nil {
		p.t.Fatalf("pyzmq peer printed %q: %v", l, err)
	}
	out := make([]string, len(hx))
	for i, h := range hx {
		b, err := hex.DecodeString(h)
		if err != nil {
			p.t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// wait waits for the peer to exit and fails the test if it failed.
func (p *pyPeer) wait() {
	p.t.Helper()
	for range p.lines {
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("pyzmq peer failed: %v; stderr: %s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("pyzmq peer did not exit")
	}
}

func msgsJSON(msgs ...[]string) string {
	b, _ := json.Marshal(msgs)
	return string(b)
}

var _ = io.Discard
