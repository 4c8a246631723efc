package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/dsys-dev/dsys/msg"
)

// execArgv builds the argv of --exec from the arguments that follow it,
// verbatim (--exec cut -c1-3, --exec sh -c '...'); a lone argument with
// blanks is split into words, honouring single and double quotes
// (--exec 'tr a-z A-Z'). Never a shell. The command must exist: a typo
// fails at start (exit 2), not at the first request.
func execArgv(args []string) ([]string, error) {
	argv := args
	if len(args) == 1 && strings.ContainsAny(args[0], " \t\n") {
		words, err := splitWords(args[0])
		if err != nil {
			return nil, usageErrorf("--exec: %v", err)
		}
		argv = words
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, usageErrorf("--exec needs a command: --exec CMD [ARG...]")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, usageErrorf("--exec: command %q not found", argv[0])
	}
	return argv, nil
}

// splitWords splits s on blanks, keeping quoted runs together.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// execLimits bound one run of an --exec command.
type execLimits struct {
	timeout   time.Duration // 0: none
	maxOutput int64         // bytes of stdout; 0: none
}

var (
	errExecTimeout = errors.New("timed out")
	errExecOutput  = errors.New("output too large")
)

// runExec runs argv with the message on its stdin (frames joined by
// newlines) and returns its stdout, one trailing newline removed. The
// command's stderr goes to errOut. A command that outlives the timeout, or
// whose output passes the limit, is killed — with the processes it started
// (its process group, where the OS has them).
func runExec(ctx context.Context, argv []string, m msg.Msg, errOut io.Writer, lim execLimits) ([]byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if lim.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, lim.timeout, errExecTimeout)
		defer stop()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	killGroup(cmd)
	cmd.WaitDelay = time.Second // a grandchild holding stdout open cannot hang us
	cmd.Stdin = bytes.NewReader(bytes.Join(m, []byte("\n")))
	out := &cappedBuffer{max: lim.maxOutput, over: func() { cancel(errExecOutput) }}
	cmd.Stdout = out
	cmd.Stderr = errOut
	err := cmd.Run()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errExecTimeout):
		return nil, fmt.Errorf("%s timed out after %v (killed)", argv[0], lim.timeout)
	case errors.Is(cause, errExecOutput):
		return nil, fmt.Errorf("%s's output exceeds %d bytes, the message size limit (killed)", argv[0], lim.maxOutput)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() < 0 {
				return nil, fmt.Errorf("%s was killed (%v)", argv[0], ee.ProcessState)
			}
			return nil, fmt.Errorf("%s exited with status %d", argv[0], ee.ExitCode())
		}
		return nil, fmt.Errorf("running %s: %w", argv[0], err)
	}
	return bytes.TrimSuffix(out.buf.Bytes(), []byte("\n")), nil
}

// cappedBuffer keeps at most max bytes (max 0: no limit); past it, it
// discards and calls over once.
type cappedBuffer struct {
	buf    bytes.Buffer
	max    int64
	over   func()
	passed bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.passed {
		return len(p), nil
	}
	if b.max > 0 && int64(b.buf.Len()+len(p)) > b.max {
		b.passed = true
		b.over()
		return len(p), nil
	}
	return b.buf.Write(p)
}

// lockedWriter serialises the writes of concurrent commands. It has only
// Write, so that io.Copy writes when there is data, and nothing else.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
