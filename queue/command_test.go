package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

func TestCommandTask(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		args   []any
		kwargs map[string]any
		want   any
		bad    bool
		exc    string
	}{
		{"json stdout", []string{"echo", "{0}"}, []any{json.Number("8")}, nil, json.Number("8"), false, ""},
		{"string stdout", []string{"echo", "hello {0}"}, []any{"world"}, nil, "hello world", false, ""},
		{"no shell", []string{"echo", "{0}"}, []any{"$(id); *"}, nil, "$(id); *", false, ""},
		{"one element", []string{"printf", "%s|", "{0}"}, []any{"a b"}, nil, "a b|", false, ""},
		{"kwargs", []string{"echo", "{name}.png", "{0}"}, []any{"x"}, map[string]any{"name": "pic"}, "pic.png x", false, ""},
		{"list arg as JSON", []string{"echo", "{0}"}, []any{[]any{json.Number("1"), "a"}}, nil, []any{json.Number("1"), "a"}, false, ""},
		{"literal braces", []string{"echo", "{}", "{a-b}"}, nil, nil, "{} {a-b}", false, ""},
		{"empty output", []string{"true"}, nil, nil, nil, false, ""},
		{"missing arg", []string{"echo", "{1}"}, []any{"a"}, nil, nil, true, ""},
		{"unused arg", []string{"echo"}, []any{"a"}, nil, nil, true, ""},
		{"missing kwarg", []string{"echo", "{k}"}, nil, nil, nil, true, ""},
		{"unexpected kwarg", []string{"echo"}, nil, map[string]any{"k": "v"}, nil, true, ""},
		{"exit status", []string{"sh", "-c", "echo oops >&2; exit 3"}, nil, nil, nil, false, "CommandError"},
		{"not found", []string{"/nonexistent/dsys-cmd"}, nil, nil, nil, false, "CommandError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := CommandTask(tt.argv, CommandOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f(context.Background(), &celery.Task{Name: "cmd", Args: tt.args, Kwargs: tt.kwargs})
			switch {
			case tt.bad:
				if !errors.Is(err, ErrBadArgs) {
					t.Errorf("err %v, want ErrBadArgs", err)
				}
			case tt.exc != "":
				var re *celery.RemoteError
				if !errors.As(err, &re) || re.Type != tt.exc {
					t.Fatalf("err %v, want %s", err, tt.exc)
				}
				if tt.name == "exit status" && (!strings.Contains(re.Traceback, "oops") || !strings.Contains(re.Error(), "exit status 3")) {
					t.Errorf("traceback %q error %q", re.Traceback, re)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.want):
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	if _, err := CommandTask(nil, CommandOptions{}); err == nil {
		t.Error("empty argv accepted")
	}
}

// An argument that would start an argv element with "-" is refused (a
// TypeError naming it) unless "--" comes first in the template or the
// task allows options; numbers pass. Before the rule, sort {0} with
// -o/path wrote that file.
func TestCommandTaskRefusesOptionInjection(t *testing.T) {
	dir := t.TempDir()
	victim := dir + "/written"
	tests := []struct {
		name   string
		argv   []string
		allow  bool
		args   []any
		kwargs map[string]any
		want   any
		refuse string // the argument named in the refusal
	}{
		{"sort -o", []string{"sort", "{0}"}, false, []any{"-o" + victim}, nil, nil, "argument 0"},
		{"kwarg", []string{"echo", "x", "{k}"}, false, nil, map[string]any{"k": "--help"}, nil, `keyword argument "k"`},
		{"suffix in element", []string{"echo", "{0}.png"}, false, []any{"-rf"}, nil, nil, "argument 0"},
		{"second placeholder first", []string{"echo", "{0}{1}"}, false, []any{"", "-n"}, nil, nil, "argument 1"},
		{"lone dash", []string{"echo", "{0}"}, false, []any{"-"}, nil, nil, "argument 0"},
		{"negative number", []string{"echo", "{0}", "{1}", "{2}"}, false, []any{json.Number("-5"), "-2.5", "-1e3"}, nil, "-5 -2.5 -1e3", ""},
		{"after --", []string{"echo", "--", "{0}"}, false, []any{"-o" + victim}, nil, "-- -o" + victim, ""},
		{"literal dash before", []string{"echo", "-n", "x={0}"}, false, []any{"-y"}, nil, "x=-y", ""},
		{"allow_options", []string{"printf", "%s|", "{0}"}, true, []any{"-x"}, nil, "-x|", ""},
		{"-- from an argument is refused", []string{"echo", "{0}", "{1}"}, false, []any{"--", "-n"}, nil, nil, "argument 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := CommandTask(tt.argv, CommandOptions{AllowOptions: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f(context.Background(), &celery.Task{Name: "cmd", Args: tt.args, Kwargs: tt.kwargs})
			if tt.refuse != "" {
				if !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), tt.refuse) || !strings.Contains(err.Error(), "allow_options") {
					t.Fatalf("err %v, want a refusal naming %s", err, tt.refuse)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v %v, want %#v", got, err, tt.want)
			}
		})
	}
	if _, err := os.Stat(victim); err == nil {
		t.Fatal("an argument made sort write a file")
	}
}

func TestCommandTaskCancelKillsGroup(t *testing.T) {
	f, _ := CommandTask([]string{"sh", "-c", "sleep 60 & sleep 60; echo never"}, CommandOptions{KillGrace: time.Second})
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(ErrSoftTimeLimit) })
	start := time.Now()
	_, err := f(ctx, &celery.Task{Name: "cmd"})
	if !errors.Is(err, ErrSoftTimeLimit) {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("command outlived its cancellation by %v", el)
	}
}

func TestCommandOutputLimit(t *testing.T) {
	f, _ := CommandTask([]string{"head", "-c", "2000", "/dev/zero"}, CommandOptions{MaxOutput: 1000})
	_, err := f(context.Background(), &celery.Task{Name: "cmd"})
	var re *celery.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Error(), "exceeds") {
		t.Fatalf("err %v", err)
	}
}

// A command that writes past the cap is killed at once, not at its time
// limit: yes stops, and the task fails with a CommandError saying so (the
// defect: yes ran on, burning a core, until killed by hand).
func TestCommandOutputCapKills(t *testing.T) {
	f, _ := CommandTask([]string{"yes"}, CommandOptions{MaxOutput: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := f(ctx, &celery.Task{Name: "cmd"})
	var re *celery.RemoteError
	if ctx.Err() != nil || !errors.As(err, &re) || re.Type != "CommandError" ||
		!strings.Contains(re.Error(), "output exceeds 1048576 bytes: killed") {
		t.Fatalf("err %v (context: %v), want a CommandError for the cap", err, ctx.Err())
	}
}

// The output is kept in chunks that sum to what the command wrote, whatever
// the sizes of its writes.
func TestCappedOutputChunks(t *testing.T) {
	c := &cappedOutput{max: 3 << 20, over: func() { t.Error("over called") }}
	var want []byte
	for i := 0; len(want) < 3<<20-70000; i++ {
		p := make([]byte, 1+i*37%70000)
		for j := range p {
			p[j] = byte(i + j)
		}
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d %v", i, n, err)
		}
		want = append(want, p...)
	}
	if got := c.bytes(); !bytes.Equal(got, want) {
		t.Fatalf("joined %d bytes, want %d", len(got), len(want))
	}
	over := 0
	c = &cappedOutput{max: 10, over: func() { over++ }}
	if _, err := c.Write(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Write([]byte{1}); !errors.Is(err, errOutputCap) {
			t.Fatalf("write past the cap: %v", err)
		}
	}
	if over != 1 {
		t.Errorf("over called %d times, want once", over)
	}
}
