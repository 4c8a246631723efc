package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

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
}

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

// limitedBuffer keeps at most max bytes and remembers it overflowed. (It
// must not embed bytes.Buffer: io.Copy would use its ReadFrom and bypass
// the limit.)
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
	tail     bool // keep the last max bytes instead of failing
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		l.overflow = true
		if !l.tail {
			return len(p), nil
		}
		l.buf.Write(p)
		b := l.buf.Bytes()
		cp := append([]byte(nil), b[len(b)-l.max:]...)
		l.buf.Reset()
		l.buf.Write(cp)
		return len(p), nil
	}
	return l.buf.Write(p)
}

func (l *limitedBuffer) Bytes() []byte  { return l.buf.Bytes() }
func (l *limitedBuffer) String() string { return l.buf.String() }

func runCommand(ctx context.Context, argv []string, opts CommandOptions) (any, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return terminate(cmd, stopSignal(ctx)) }
	cmd.WaitDelay = opts.KillGrace
	stdout := &limitedBuffer{max: opts.MaxOutput}
	stderr := &limitedBuffer{max: stderrKeep, tail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		killGroup(cmd)
		return nil, context.Cause(ctx)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule,
			Message:   []any{fmt.Sprintf("%s: %s", argv[0], exit.ProcessState.String())},
			Traceback: stderr.String()}
	case err != nil:
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule, Message: []any{err.Error()},
			Traceback: stderr.String()}
	}
	if stdout.overflow {
		return nil, &celery.RemoteError{Type: "CommandError", Module: celery.ErrorModule,
			Message: []any{fmt.Sprintf("%s: output exceeds %d bytes", argv[0], opts.MaxOutput)}}
	}
	out := bytes.TrimRight(stdout.Bytes(), "\r\n")
	if len(out) == 0 {
		return nil, nil
	}
	if json.Valid(out) {
		var v any
		if err := celery.DecodeJSON(out, &v); err == nil {
			return v, nil
		}
	}
	return string(out), nil
}
