package queue

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

func TestBuiltins(t *testing.T) {
	n := func(s string) any { return json.Number(s) }
	tests := []struct {
		name   string
		args   []any
		kwargs map[string]any
		want   any
		bad    bool
		exc    string
	}{
		{"add", []any{n("4"), n("4")}, nil, int64(8), false, ""},
		{"add", []any{n("4.0"), n("4")}, nil, 8.0, false, ""},
		{"add", []any{n("9223372036854775807"), n("1")}, nil, json.Number("9223372036854775808"), false, ""},
		{"add", []any{n("4")}, nil, nil, true, ""},
		{"add", []any{"a", n("1")}, nil, nil, true, ""},
		{"add", []any{n("1"), n("2")}, map[string]any{"z": n("1")}, nil, true, ""},
		{"mul", []any{n("6"), n("7")}, nil, int64(42), false, ""},
		{"mul", []any{n("-3"), n("0.5")}, nil, -1.5, false, ""},
		{"mul", []any{n("4294967296"), n("4294967296")}, nil, json.Number("18446744073709551616"), false, ""},
		{"mul", []any{n("1e308"), n("10")}, nil, nil, false, "OverflowError"},
		{"sum", []any{[]any{n("1"), n("2"), n("3")}}, nil, json.Number("6"), false, ""},
		{"sum", []any{[]any{n("1"), n("0.5")}}, nil, 1.5, false, ""},
		{"sum", []any{[]any{}}, nil, json.Number("0"), false, ""},
		{"sum", []any{n("1"), n("2")}, nil, nil, true, ""},
		{"sum", []any{[]any{"x"}}, nil, nil, true, ""},
		{"echo", []any{"hi"}, nil, "hi", false, ""},
		{"echo", []any{n("1"), "b"}, nil, []any{n("1"), "b"}, false, ""},
		{"echo", nil, map[string]any{"k": "v"}, map[string]any{"k": "v"}, false, ""},
		{"echo", nil, nil, []any{}, false, ""},
		{"sleep", []any{n("0")}, nil, json.Number("0"), false, ""},
		{"sleep", []any{n("-1")}, nil, nil, true, ""},
		{"sleep", []any{"x"}, nil, nil, true, ""},
		{"fail", []any{"boom"}, nil, nil, false, "TaskError"},
	}
	for _, tt := range tests {
		f, ok := Builtin(tt.name)
		if !ok {
			t.Fatalf("no builtin %s", tt.name)
		}
		got, err := f(context.Background(), &celery.Task{Name: tt.name, Args: tt.args, Kwargs: tt.kwargs})
		switch {
		case tt.bad:
			if !errors.Is(err, ErrBadArgs) {
				t.Errorf("%s%v: err %v, want ErrBadArgs", tt.name, tt.args, err)
			}
		case tt.exc != "":
			var re *celery.RemoteError
			if !errors.As(err, &re) || re.Type != tt.exc {
				t.Errorf("%s%v: err %v, want %s", tt.name, tt.args, err, tt.exc)
			}
		case err != nil:
			t.Errorf("%s%v: %v", tt.name, tt.args, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("%s%v = %#v, want %#v", tt.name, tt.args, got, tt.want)
		}
	}
	fail, _ := Builtin("fail")
	_, err := fail(context.Background(), &celery.Task{Args: []any{"boom"}})
	if err.Error() != "TaskError: boom" {
		t.Errorf("fail error %q", err)
	}
}

func TestSleepHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrSoftTimeLimit)
	sleep, _ := Builtin("sleep")
	start := time.Now()
	_, err := sleep(ctx, &celery.Task{Args: []any{json.Number("60")}})
	if !errors.Is(err, ErrSoftTimeLimit) || time.Since(start) > 5*time.Second {
		t.Fatalf("sleep under a cancelled context: %v after %v", err, time.Since(start))
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := RegisterBuiltins(r); err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !reflect.DeepEqual(got, BuiltinNames()) {
		t.Errorf("names %v", got)
	}
	add, _ := Builtin("add")
	if err := r.Register(TaskDef{Name: "tasks.add", Func: add}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(TaskDef{Name: "tasks.add", Func: add}); err == nil {
		t.Error("duplicate accepted")
	}
	if err := r.Register(TaskDef{Name: "x"}); err == nil {
		t.Error("nil func accepted")
	}
	if r.Lookup("tasks.add") == nil || r.Lookup("nope") != nil {
		t.Error("lookup")
	}
}
