package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// brokenWriter accepts n bytes, then fails every write as a pipe whose
// reader went away does.
type brokenWriter struct{ n int }

func (w *brokenWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	n := w.n
	w.n = 0
	return n, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
}

// TestBrokenStdoutExits141Quietly: a command whose stdout breaks stops with
// exit 141 and prints no error.
func TestBrokenStdoutExits141Quietly(t *testing.T) {
	isolateConfig(t)
	var errOut strings.Builder
	streams := IOStreams{In: strings.NewReader(""), Out: &brokenWriter{n: 10}, ErrOut: &errOut}
	code := Run(context.Background(), []string{"compute", "mean", "--axis", "1", "--shape", "1000,2"}, streams)
	if code != ExitBrokenPipe || errOut.Len() != 0 {
		t.Errorf("exit %d, stderr %q; want %d and nothing", code, errOut.String(), ExitBrokenPipe)
	}
}

// TestBrokenStdoutCancelsTheRun: the failed write cancels the command's
// context, so a command blocked on something else stops and cleans up.
func TestBrokenStdoutCancelsTheRun(t *testing.T) {
	isolateConfig(t)
	var errOut strings.Builder
	app := &App{IO: IOStreams{In: strings.NewReader(""), ErrOut: &errOut}}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	app.IO.Out = &brokenPipeGuard{w: &brokenWriter{}, broken: func() { cancel(errBrokenPipe) }}
	root := newRootCmd(app)
	cleaned := false
	root.AddCommand(&cobra.Command{Use: "stream", RunE: func(c *cobra.Command, _ []string) error {
		_, _ = fmt.Fprintln(app.IO.Out, "first result")
		select {
		case <-c.Context().Done(): // as a worker waiting for its next message
			cleaned = true
			return c.Context().Err()
		case <-time.After(10 * time.Second):
			return errors.New("not cancelled within 10s of the broken write")
		}
	}})
	if code := execute(ctx, app, root, []string{"stream"}); code != ExitBrokenPipe || !cleaned {
		t.Errorf("exit %d, cleaned up %v; want %d after a cancel", code, cleaned, ExitBrokenPipe)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr %q, want nothing", errOut.String())
	}
}

// TestSIGTERMExitsZeroForLongRunning: a long-running command stopped by
// SIGTERM exits 0; SIGINT, or SIGTERM of any other command, exits 130; a
// failure during the shutdown still fails.
func TestSIGTERMExitsZeroForLongRunning(t *testing.T) {
	cases := []struct {
		name        string
		sig         os.Signal
		longRunning bool
		result      error
		want        int
	}{
		{"service, SIGTERM", syscall.SIGTERM, true, context.Canceled, ExitOK},
		{"service, SIGTERM, returns nil", syscall.SIGTERM, true, nil, ExitOK},
		{"service, SIGINT", syscall.SIGINT, true, context.Canceled, ExitInterrupted},
		{"other command, SIGTERM", syscall.SIGTERM, false, context.Canceled, ExitInterrupted},
		{"service failing in its shutdown", syscall.SIGTERM, true, usageErrorf("bad"), ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolateConfig(t)
			var out, errOut strings.Builder
			app := &App{IO: IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}
			root := newRootCmd(app)
			cmd := &cobra.Command{Use: "serve", RunE: func(cc *cobra.Command, _ []string) error {
				<-cc.Context().Done()
				return c.result
			}}
			if c.longRunning {
				longRunning(cmd)
			}
			root.AddCommand(cmd)
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&interrupt{sig: c.sig})
			if code := execute(ctx, app, root, []string{"serve"}); code != c.want {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.want, errOut.String())
			}
			if c.want == ExitOK && errOut.Len() != 0 {
				t.Errorf("a clean stop printed %q", errOut.String())
			}
		})
	}
}

// TestLongRunningCommandsAreMarked: the commands that run until stopped
// carry the mark that makes SIGTERM exit 0; any proxy added later must too.
func TestLongRunningCommandsAreMarked(t *testing.T) {
	root := newRootCmd(&App{})
	want := map[string]bool{"dsys queue worker": true, "dsys zmq serve": true, "dsys zmq pull": true, "dsys zmq sub": true, "dsys zmq worker": true, "dsys zmq proxy": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		marked := c.Annotations[annotLongRunning] == "true"
		if marked != want[c.CommandPath()] {
			t.Errorf("%s: long-running mark %v, want %v", c.CommandPath(), marked, want[c.CommandPath()])
		}
		delete(want, c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	delete(want, "dsys zmq proxy") // not built yet
	for path := range want {
		t.Errorf("%s is missing", path)
	}
}

// proc is a dsys process with its stdout on a pipe the test holds and its
// stderr collected line by line.
type proc struct {
	cmd    *exec.Cmd
	stdout *os.File
	mu     sync.Mutex
	stderr []string
	lines  chan string
	exited chan struct{}
}

func startDsys(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Dir = t.TempDir() // no ./dsys.yaml, no user config file
	cmd.Env = append(os.Environ(), "DSYS_CONFIG=", "XDG_CONFIG_HOME="+cmd.Dir)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := &proc{cmd: cmd, stdout: r, lines: make(chan string, 64), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_ = cmd.Wait() // after stderr's EOF, as exec requires
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		r.Close()
	})
	return p
}

// endpoint waits for the "listening" log line and returns its endpoint.
func (p *proc) endpoint(t *testing.T) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if _, ep, ok := strings.Cut(l, "endpoint="); ok && strings.Contains(l, "listening") {
				return strings.Fields(ep)[0]
			}
		case <-deadline:
			t.Fatalf("no 'listening' line within 20s; stderr %q", p.errText())
		}
	}
}

// exitCode waits (bounded) for the process to end and returns its code,
// -1 when a signal killed it.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("still running after 20s; stderr %q", p.errText())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// TestSignalsOfARealProcess: SIGTERM stops a long-running command with
// exit 0 and SIGINT with 130.
func TestSignalsOfARealProcess(t *testing.T) {
	cases := []struct {
		args []string
		sig  syscall.Signal
		want int
	}{
		{[]string{"zmq", "pull", "--bind", "tcp://127.0.0.1:0"}, syscall.SIGTERM, ExitOK},
		{[]string{"zmq", "pull", "--bind", "tcp://127.0.0.1:0"}, syscall.SIGINT, ExitInterrupted},
		{[]string{"zmq", "serve", "--bind", "tcp://127.0.0.1:0"}, syscall.SIGTERM, ExitOK},
		{[]string{"zmq", "sub", "--bind", "tcp://127.0.0.1:0"}, syscall.SIGTERM, ExitOK},
		{[]string{"zmq", "router", "--bind", "tcp://127.0.0.1:0"}, syscall.SIGTERM, ExitInterrupted},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[:2], " ")+" "+c.sig.String(), func(t *testing.T) {
			p := startDsys(t, c.args...)
			p.endpoint(t)
			if err := p.cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			if code := p.exitCode(t); code != c.want {
				t.Errorf("exit %d after %v, want %d; stderr %q", code, c.sig, c.want, p.errText())
			}
		})
	}
}

// TestBrokenPipeOfARealProcess: `dsys … | head -1` — the reader closes the
// pipe after one line; dsys exits 141 with nothing on stderr, both a
// command that writes its results at once and a long-running one blocked
// in a receive.
func TestBrokenPipeOfARealProcess(t *testing.T) {
	readOneLineAndClose := func(t *testing.T, p *proc) {
		t.Helper()
		line, err := bufio.NewReader(p.stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("first line: %v; stderr %q", err, p.errText())
		}
		if strings.TrimSpace(line) == "" {
			t.Errorf("first line %q", line)
		}
		p.stdout.Close()
	}
	t.Run("compute", func(t *testing.T) {
		p := startDsys(t, "compute", "mean", "--axis", "1", "--shape", "1000000,2")
		readOneLineAndClose(t, p)
		if code := p.exitCode(t); code != ExitBrokenPipe || p.errText() != "" {
			t.Errorf("exit %d, stderr %q; want %d and nothing", code, p.errText(), ExitBrokenPipe)
		}
	})
	t.Run("zmq pull", func(t *testing.T) {
		p := startDsys(t, "zmq", "pull", "--bind", "tcp://127.0.0.1:0")
		ep := p.endpoint(t)
		ctx, cancel := context.WithCancel(context.Background())
		pushed := make(chan struct{})
		go func() { // more than a pipe holds, so the pull is still writing when the pipe closes
			defer close(pushed)
			runDsysContext(t, ctx, strings.Repeat("message\n", 200000), "zmq", "push", "--connect", ep, "--timeout", "2s")
		}()
		defer func() { cancel(); <-pushed }()
		readOneLineAndClose(t, p)
		if code := p.exitCode(t); code != ExitBrokenPipe {
			t.Errorf("exit %d, want %d; stderr %q", code, ExitBrokenPipe, p.errText())
		}
		if s := p.errText(); strings.Contains(s, "dsys:") || strings.Contains(s, "level=ERROR") {
			t.Errorf("stderr reports an error: %q", s)
		}
	})
}
