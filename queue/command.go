package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/dsys-dev/dsys/queue/celery"
)

// CommandOptions tune a command task.
type CommandOptions struct {
	// MaxOutput bounds the stdout kept as the result (default 16 MiB); a
	// command that writes more fails.
	MaxOutput int
	// KillGrace is how long a command has after SIGTERM (soft time limit
	// or cancellation) before SIGKILL (default 5s).
	KillGrace time.Duration
	// AllowOptions lets an argument that starts with "-" begin an argv
	// element anywhere; by default only after a "--" element of the
	// template (see CommandTask).
	AllowOptions bool
	// Guard is the argv of a program that runs RunCommandGuard, such as
	// the worker's own binary given CommandGuardArg (Linux): it leads each
	// command's process group and kills the group when the worker dies,
	// even by SIGKILL. Without it only the command itself dies with its
	// worker, not what it started.
	Guard []string
}

// CommandGuardArg is the argument that makes the dsys binary run
// RunCommandGuard.
const CommandGuardArg = "__dsys-command-guard"

// stderrKeep is how much of a failing command's stderr becomes the traceback.
const stderrKeep = 64 << 10

// CommandTask returns a task that runs argv, never through a shell.
// "{N}" in an element is replaced by positional argument N and "{key}" by
// keyword argument key, inside that one element (an argument never splits
// into several). Strings are substituted as they are, other values as JSON.
// A missing or unused argument is a bad-arguments error. The command's stdout
// is the result, parsed as JSON when it parses, else a string (trailing
// newline removed; empty output is null). A non-zero exit is a FAILURE
// "CommandError" whose traceback is the command's stderr.
//
// An argument that would begin an argv element with "-" (and is not a
// number such as -5 or -2.5e3) is refused as bad arguments, a TypeError
// to the caller, unless a "--" element comes before it in the template or
// opts.AllowOptions is set: otherwise a caller could pass the command
// options its author never meant it to take (sort's -o FILE).
func CommandTask(argv []string, opts CommandOptions) (TaskFunc, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("queue: command task: empty command")
	}
	tmpl := make([][]part, len(argv))
	for i, a := range argv {
		p, err := parseTemplate(a)
		if err != nil {
			return nil, fmt.Errorf("queue: command task: argument %d %q: %w", i, a, err)
		}
		tmpl[i] = p
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = 16 << 20
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 5 * time.Second
	}
	return func(ctx context.Context, t *celery.Task) (any, error) {
		args, err := substitute(tmpl, t, opts.AllowOptions)
		if err != nil {
			return nil, err
		}
		return runCommand(ctx, args, opts)
	}, nil
}

// part is a literal or a placeholder of an argv template.
type part struct {
	lit   string
	index int    // placeholder {N}; -1 when key or literal
	key   string // placeholder {key}
}

func parseTemplate(s string) ([]part, error) {
	var parts []part
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			parts = append(parts, part{lit: s, index: -1})
			break
		}
		j := strings.IndexByte(s[i:], '}')
		name := ""
		if j > 0 {
			name = s[i+1 : i+j]
		}
		if j < 0 || !isPlaceholder(name) {
			// Not a placeholder: keep the brace literally.
			parts = append(parts, part{lit: s[:i+1], index: -1})
			s = s[i+1:]
			continue
		}
		if i > 0 {
			parts = append(parts, part{lit: s[:i], index: -1})
		}
		if n, err := strconv.Atoi(name); err == nil {
			parts = append(parts, part{index: n})
		} else {
			parts = append(parts, part{index: -1, key: name})
		}
		s = s[i+j+1:]
	}
	return parts, nil
}

func isPlaceholder(s string) bool {
	if s == "" {
		return false
	}
	if _, err := strconv.Atoi(s); err == nil {
		return s[0] != '-' && s[0] != '+'
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

func substitute(tmpl [][]part, t *celery.Task, allowOptions bool) ([]string, error) {
	usedArgs := make([]bool, len(t.Args))
	usedKw := map[string]bool{}
	out := make([]string, len(tmpl))
	endOfOptions := allowOptions
	for i, parts := range tmpl {
		var b strings.Builder
		for _, p := range parts {
			var s, name string
			switch {
			case p.key != "":
				v, ok := t.Kwargs[p.key]
				if !ok {
					return nil, badArgs("%s: missing keyword argument %q", t.Name, p.key)
				}
				usedKw[p.key] = true
				s, name = argString(v), fmt.Sprintf("keyword argument %q", p.key)
			case p.index >= 0:
				if p.index >= len(t.Args) {
					return nil, badArgs("%s: takes at least %d arguments, got %d", t.Name, p.index+1, len(t.Args))
				}
				usedArgs[p.index] = true
				s, name = argString(t.Args[p.index]), fmt.Sprintf("argument %d", p.index)
			default:
				b.WriteString(p.lit)
				continue
			}
			if b.Len() == 0 && !endOfOptions && looksLikeOption(s) {
				return nil, badArgs("%s: %s starts with \"-\", which the command would read as an option; "+
					"put \"--\" before it in the command or set allow_options: true", t.Name, name)
			}
			b.WriteString(s)
		}
		out[i] = b.String()
		if len(parts) == 1 && parts[0].index < 0 && parts[0].key == "" && parts[0].lit == "--" {
			endOfOptions = true
		}
	}
	for i, used := range usedArgs {
		if !used {
			return nil, badArgs("%s: argument %d is not used by the command", t.Name, i)
		}
	}
	for k := range t.Kwargs {
		if !usedKw[k] {
			return nil, badArgs("%s: unexpected keyword argument %q", t.Name, k)
		}
	}
	return out, nil
}

// looksLikeOption reports whether s, at the start of an argv element,
// would be read as an option: it starts with "-" and is not a decimal
// number (-5, -2.5, -1e3).
func looksLikeOption(s string) bool {
	if !strings.HasPrefix(s, "-") {
		return false
	}
	digits, rest := 0, s[1:]
	for rest != "" && (rest[0] >= '0' && rest[0] <= '9' || rest[0] == '.') {
		digits++
		rest = rest[1:]
	}
	if rest != "" && (rest[0] == 'e' || rest[0] == 'E') {
		rest = strings.TrimLeft(rest[1:], "+-")
		rest = strings.TrimLeft(rest, "0123456789")
	}
	if digits == 0 || rest != "" {
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err != nil
}

func argString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, err := celery.AppendJSON(nil, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// tailBuffer keeps the last max bytes written to it (a failing command's
// stderr, whose end says why). It must not embed bytes.Buffer: io.Copy
// would use its ReadFrom and bypass the limit.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (l *tailBuffer) Write(p []byte) (int, error) {
	l.buf.Write(p)
	if l.buf.Len() > l.max {
		b := l.buf.Bytes()
		cp := append([]byte(nil), b[len(b)-l.max:]...)
		l.buf.Reset()
		l.buf.Write(cp)
	}
	return len(p), nil
}

func (l *tailBuffer) String() string { return l.buf.String() }

// outputPipes carry a command's stdout and stderr to their buffers.
type outputPipes struct {
	dst     []io.Writer
	w       []*os.File // the command's ends, closed once it started
	r       []*os.File
	done    chan struct{}
	started bool
}

func (o *outputPipes) open(cmd *exec.Cmd, stdout, stderr io.Writer) error {
	o.dst, o.done = []io.Writer{stdout, stderr}, make(chan struct{}, 2)
	for range o.dst {
		r, w, err := os.Pipe()
		if err != nil {
			o.closeAll()
			return fmt.Errorf("queue: command output: %w", err)
		}
		o.r, o.w = append(o.r, r), append(o.w, w)
	}
	cmd.Stdout, cmd.Stderr = o.w[0], o.w[1]
	return nil
}

// start closes the command's ends in the worker, so that EOF comes when
// the last process holding them ends, and starts the copies (after
// cmd.Start, which the cap's kill reads).
func (o *outputPipes) start() {
	if o.started {
		return
	}
	o.started = true
	for i, w := range o.w {
		_ = w.Close()
		go func() {
			_, _ = io.Copy(o.dst[i], o.r[i]) // stops at EOF, or at the cap
			_ = o.r[i].Close()               // a command writing on gets EPIPE
			o.done <- struct{}{}
		}()
	}
}

// wait waits for both copies to end; past grace it closes the pipes (a
// process that escaped the group holds them) and waits grace again, then
// gives up, and the buffers must not be read.
func (o *outputPipes) wait(grace time.Duration) bool {
	o.start() // in case the command did not start
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for n := 0; n < 2; n++ {
		select {
		case <-o.done:
		case <-timer.C:
			o.closeAll()
			timer.Reset(grace)
			select {
			case <-o.done:
			case <-timer.C:
				return false
			}
		}
	}
	return true
}

func (o *outputPipes) closeAll() {
	for _, f := range append(o.r, o.w...) {
		_ = f.Close()
	}
}

// errOutputCap stops the copy of a command's stdout at its cap.
var errOutputCap = errors.New("output cap reached")

// cappedOutput collects a command's stdout, at most max bytes. It grows by
// chunks, so growing never copies what it holds, and the result is built
// from them once: the output costs its size plus, for a moment, its size
// again. The first write past max calls over (which kills the command, so
// that a runaway command stops at once instead of at its time limit).
type cappedOutput struct {
	chunks   [][]byte
	n, max   int
	over     func()
	exceeded bool
}

const (
	firstChunk = 4 << 10
	maxChunk   = 1 << 20
	// collectAfter is the output size from which a command's finish
	// collects garbage at once (see runCommand).
	collectAfter = 4 << 20
)

func (c *cappedOutput) Write(p []byte) (int, error) {
	if c.exceeded {
		return 0, errOutputCap
	}
	if c.n+len(p) > c.max {
		c.exceeded = true
		c.over()
		return 0, errOutputCap
	}
	c.n += len(p)
	written := len(p)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == cap(c.chunks[len(c.chunks)-1]) {
			size := min(max(firstChunk, c.n-len(p)), maxChunk, c.max)
			c.chunks = append(c.chunks, make([]byte, 0, size))
		}
		last := &c.chunks[len(c.chunks)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	return written, nil
}

// bytes joins the chunks into one slice and releases them.
func (c *cappedOutput) bytes() []byte {
	if len(c.chunks) == 1 {
		return c.chunks[0]
	}
	out := make([]byte, 0, c.n)
	for _, ch := range c.chunks {
		out = append(out, ch...)
	}
	c.chunks = nil
	return out
}

func runCommand(ctx context.Context, argv []string, opts CommandOptions) (any, error) {
	group, err := startGroup(opts)
	if err != nil {
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule, Message: []any{err.Error()}}
	}
	defer group.close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	group.prepare(cmd)
	cmd.Cancel = func() error { return group.signal(cmd, stopSignal(ctx)) }
	cmd.WaitDelay = opts.KillGrace
	stdout := &cappedOutput{max: opts.MaxOutput, over: func() { group.kill(cmd) }}
	stderr := &tailBuffer{max: stderrKeep}
	// Pipes of our own rather than exec's: exec would wait for them to
	// close before it reports the exit, and what the command left running
	// may hold them open; here its group is killed first.
	var outputs outputPipes
	if err := outputs.open(cmd, stdout, stderr); err != nil {
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule, Message: []any{err.Error()}}
	}
	err = group.run(cmd, outputs.start)
	group.kill(cmd)
	if !outputs.wait(opts.KillGrace) {
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule,
			Message: []any{fmt.Sprintf("%s: output still open %v after it exited", argv[0], opts.KillGrace)}}
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	var exit *exec.ExitError
	switch {
	case stdout.exceeded:
		// Killed at the cap: the exit status says nothing more.
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule,
			Message:   []any{fmt.Sprintf("%s: output exceeds %d bytes: killed", argv[0], opts.MaxOutput)},
			Traceback: stderr.String()}
	case errors.As(err, &exit):
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule,
			Message:   []any{fmt.Sprintf("%s: %s", argv[0], exit.ProcessState.String())},
			Traceback: stderr.String()}
	case err != nil:
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule, Message: []any{err.Error()},
			Traceback: stderr.String()}
	}
	out := bytes.TrimRight(stdout.bytes(), "\r\n")
	if stdout.n >= collectAfter {
		// The chunks are garbage now, and the result's message, as large
		// again, comes next: collected now, they make room for it, where
		// Go's pacer would let the heap grow to twice what it held.
		runtime.GC()
	}
	if len(out) == 0 {
		return nil, nil
	}
	if json.Valid(out) { // fails at the first byte of most text
		var v any
		if err := celery.DecodeJSON(out, &v); err == nil {
			return v, nil
		}
	}
	// out is not written to again: the string shares its bytes rather
	// than copying up to MaxOutput of them.
	return unsafe.String(&out[0], len(out)), nil
}
