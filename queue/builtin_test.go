package queue

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
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
		{"mul", []any{n("1e308"), n("10")}, nil, math.Inf(1), false, ""}, // as in Python
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
		// Celery-style parameter names: keyword and mixed calls.
		{"add", nil, map[string]any{"x": n("2"), "y": n("3")}, int64(5), false, ""},
		{"add", []any{n("2")}, map[string]any{"y": n("3")}, int64(5), false, ""},
		{"mul", nil, map[string]any{"y": n("3"), "x": n("0.5")}, 1.5, false, ""},
		{"sum", nil, map[string]any{"xs": []any{n("1"), n("2")}}, json.Number("3"), false, ""},
		{"sleep", nil, map[string]any{"seconds": n("0")}, json.Number("0"), false, ""},
		{"fail", nil, map[string]any{"message": "kw"}, nil, false, "TaskError"},
		{"echo", []any{n("1")}, map[string]any{"k": "v"}, map[string]any{"args": []any{n("1")}, "kwargs": map[string]any{"k": "v"}}, false, ""},
		// Python's 4300-digit limit, in and out.
		{"add", []any{n(strings.Repeat("9", 4300)), n("1")}, nil, nil, false, "ValueError"}, // 4301 digits out
		{"add", []any{n(strings.Repeat("9", 4299)), n("1")}, nil, json.Number("1" + strings.Repeat("0", 4299)), false, ""},
		{"add", []any{n(strings.Repeat("1", 4301)), n("1")}, nil, nil, false, "ValueError"},
		{"mul", []any{n("-" + strings.Repeat("7", 4300)), n("1")}, nil, json.Number("-" + strings.Repeat("7", 4300)), false, ""},
		{"mul", []any{n(strings.Repeat("7", 2200)), n(strings.Repeat("7", 2200))}, nil, nil, false, "ValueError"},
		{"sum", []any{[]any{n("1"), n(strings.Repeat("5", 5000))}}, nil, nil, false, "ValueError"},
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
				t.Errorf("%s%.60v: err %.200v, want %s", tt.name, tt.args, err, tt.exc)
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

// Keyword binding fails as Python's does, with Python's words.
func TestBuiltinArgumentErrors(t *testing.T) {
	n := json.Number("1")
	tests := []struct {
		name   string
		args   []any
		kwargs map[string]any
		want   string
	}{
		{"add", []any{n, n, n}, nil, "add() takes 2 positional arguments but 3 were given"},
		{"add", []any{n}, nil, "add() missing 1 required positional argument: 'y'"},
		{"add", nil, nil, "add() missing 2 required positional arguments: 'x' and 'y'"},
		{"add", []any{n}, map[string]any{"x": n}, "add() got multiple values for argument 'x'"},
		{"add", []any{n, n}, map[string]any{"z": n}, "add() got an unexpected keyword argument 'z'"},
		{"sum", []any{n, n}, nil, "sum() takes 1 positional argument but 2 were given"},
		{"fail", []any{"a", "b"}, nil, "fail() takes from 0 to 1 positional arguments but 2 were given"},
		{"sleep", nil, map[string]any{"secs": n}, "sleep() got an unexpected keyword argument 'secs'"},
	}
	for _, tt := range tests {
		f, _ := Builtin(tt.name)
		_, err := f(context.Background(), &celery.Task{Name: tt.name, Args: tt.args, Kwargs: tt.kwargs})
		if !errors.Is(err, ErrBadArgs) || !strings.HasSuffix(err.Error(), ": "+tt.want) {
			t.Errorf("%s(%v, %v): %v, want %q", tt.name, tt.args, tt.kwargs, err, tt.want)
		}
	}
}

// Two 2M-digit numbers once kept a core busy for ~50 s past a 5 s limit
// (big.Int's quadratic decimal conversion, after the slot was freed):
// they are refused before any conversion, as Python 3.11 refuses them.
func TestBuiltinHugeIntegersRefusedAtOnce(t *testing.T) {
	huge := json.Number(strings.Repeat("8", 2_000_000))
	for _, name := range []string{"add", "mul"} {
		f, _ := Builtin(name)
		done := make(chan error, 1)
		go func() {
			_, err := f(context.Background(), &celery.Task{Name: name, Args: []any{huge, huge}})
			done <- err
		}()
		select {
		case err := <-done:
			var re *celery.RemoteError
			if !errors.As(err, &re) || re.Type != "ValueError" || re.Module != "builtins" ||
				!strings.Contains(re.Error(), "Exceeds the limit (4300 digits) for integer string conversion: value has 2000000 digits") {
				t.Errorf("%s: %.200v", name, err)
			}
			if !errors.Is(err, ErrSkipRetry) {
				t.Errorf("%s: a deterministic failure must not be retried", name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s of two 2M-digit numbers still running after 10s", name)
		}
	}
}

func TestArities(t *testing.T) {
	for name, want := range map[string]int{"add": 2, "sum": 1, "fail": 1, "echo": -1, "nope": 0} {
		if got := BuiltinArity(name); got != want {
			t.Errorf("BuiltinArity(%s) = %d, want %d", name, got, want)
		}
	}
	for _, tt := range []struct {
		argv []string
		want int
	}{{[]string{"notify", "{0}"}, 1}, {[]string{"log", "--id={0}", "{2}"}, 3}, {[]string{"date"}, 0}, {[]string{"x", "{key}"}, 0}} {
		if got := CommandArity(tt.argv); got != tt.want {
			t.Errorf("CommandArity(%v) = %d, want %d", tt.argv, got, tt.want)
		}
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
	want := append(BuiltinNames(), "celery.accumulate", "celery.chain", "celery.chunks", "celery.group", "celery.map", "celery.starmap")
	sort.Strings(want)
	if got := r.Names(); !reflect.DeepEqual(got, want) {
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
