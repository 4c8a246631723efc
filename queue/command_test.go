package queue

import (
	"context"
	"encoding/json"
	"errors"
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
