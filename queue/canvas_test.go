package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

// groupSig is a group signature as Celery's client freezes it in a chain:
// members with task_id, reply_to and group_index, the group id as its task_id.
func groupSig(gid string, members ...celery.Signature) celery.Signature {
	typ := "group"
	list := make([]any, len(members))
	for i, m := range members {
		m.Options["group_index"] = json.Number(fmt.Sprint(i))
		list[i] = map[string]any{"task": m.Task, "args": m.Args, "kwargs": map[string]any{}, "options": m.Options,
			"subtask_type": nil, "immutable": m.Immutable}
	}
	return celery.Signature{Task: "celery.group", Kwargs: map[string]any{"tasks": list}, SubtaskType: &typ,
		Options: map[string]any{"task_id": gid, "root_id": nil, "parent_id": nil}}
}

func chainSig(members ...celery.Signature) celery.Signature {
	typ := "chain"
	list := make([]any, len(members))
	for i, m := range members {
		list[i] = map[string]any{"task": m.Task, "args": m.Args, "kwargs": map[string]any{}, "options": m.Options, "immutable": m.Immutable}
	}
	return celery.Signature{Task: "celery.chain", Kwargs: map[string]any{"tasks": list}, SubtaskType: &typ, Options: map[string]any{}}
}

func TestRulesCanvas(t *testing.T) {
	n := func(s string) any { return json.Number(s) }
	base := func() *celery.Task {
		return &celery.Task{ID: "t1", Name: "add", Args: []any{n("1"), n("1")}, ReplyTo: "rq", RootID: "root"}
	}
	tests := []struct {
		name  string
		task  func() *celery.Task
		value any
		err   error
		check func(t *testing.T, p *plan)
	}{
		{"a chain ending in a group sends the group's members", func() *celery.Task {
			tk := base()
			tk.Chain = []celery.Signature{groupSig("g1", sig("add", "a", false, n("10")), sig("add", "b", false, n("20")))}
			return tk
		}, n("2"), nil, func(t *testing.T, p *plan) {
			if len(p.commit.Publish) != 2 {
				t.Fatalf("%d messages, want the group's 2 members", len(p.commit.Publish))
			}
			for i, want := range []struct{ id, args string }{{"a", "[2 10]"}, {"b", "[2 20]"}} {
				m := decoded(t, p.commit.Publish[i])
				if m.ID != want.id || m.Name != "add" || fmt.Sprint(m.Args) != want.args || m.Group != "g1" ||
					m.GroupIndex == nil || *m.GroupIndex != i || m.ReplyTo != "rq" || m.ParentID != "t1" || len(m.Chain) != 0 {
					t.Errorf("member %d: %+v", i, m)
				}
			}
		}},
		{"a failure answers the members of the group ending its chain", func() *celery.Task {
			tk := base()
			tk.Chain = []celery.Signature{groupSig("g1", sig("add", "a", false), sig("add", "b", false))}
			return tk
		}, nil, errors.New("boom"), func(t *testing.T, p *plan) {
			if len(p.commit.Results) != 3 || len(p.commit.Publish) != 0 {
				t.Fatalf("%d results, %d messages", len(p.commit.Results), len(p.commit.Publish))
			}
			for i, id := range []string{"t1", "a", "b"} {
				if r := resultOf(t, p.commit.Results[i]); r.TaskID != id || r.State != celery.StateFailure || r.Err.Error() != "TaskError: boom" {
					t.Errorf("result %d: %+v", i, r)
				}
			}
		}},
		{"a chain as a callback runs its first task, the rest following", func() *celery.Task {
			tk := base()
			tk.Callbacks = []celery.Signature{chainSig(sig("add", "c1", false, n("1")), sig("mul", "c2", false, n("3")), sig("add", "c3", true, n("7"), n("7")))}
			return tk
		}, n("2"), nil, func(t *testing.T, p *plan) {
			m := decoded(t, p.commit.Publish[0])
			if len(p.commit.Publish) != 1 || m.ID != "c1" || fmt.Sprint(m.Args) != "[2 1]" || len(m.Chain) != 2 ||
				m.Chain[1].Option("task_id") != "c2" || m.Chain[0].Option("task_id") != "c3" {
				t.Errorf("%d messages, first %+v", len(p.commit.Publish), m)
			}
		}},
		{"a group followed by more steps (a chord) answers the steps", func() *celery.Task {
			tk := base()
			tk.Chain = []celery.Signature{sig("add", "after", false, n("1")), groupSig("g1", sig("add", "a", false))}
			return tk
		}, n("2"), nil, func(t *testing.T, p *plan) {
			if len(p.commit.Publish) != 1 || len(p.commit.Results) != 2 {
				t.Fatalf("%d messages, %d results", len(p.commit.Publish), len(p.commit.Results))
			}
			if r := resultOf(t, p.commit.Results[1]); r.TaskID != "after" || r.Err.Type != "NotImplementedError" {
				t.Errorf("step after the group: %+v", r.Err)
			}
		}},
		{"a celery.group task sends its members and returns the group", func() *celery.Task {
			tk := base()
			tk.Name = "celery.group"
			g := groupSig("g9", sig("add", "m1", false, n("1")), sig("add", "", false, n("2")))
			tk.Args = []any{n("5")}
			tk.Kwargs = g.Kwargs
			return tk
		}, nil, nil, func(t *testing.T, p *plan) {
			if len(p.commit.Publish) != 2 {
				t.Fatalf("%d messages", len(p.commit.Publish))
			}
			m1, m2 := decoded(t, p.commit.Publish[0]), decoded(t, p.commit.Publish[1])
			if m1.ID != "m1" || fmt.Sprint(m1.Args) != "[5 1]" || m1.Group == "" || m2.Group != m1.Group || m2.ID == "" {
				t.Errorf("members %+v %+v", m1, m2)
			}
			res := resultOf(t, p.commit.Results[0])
			want := fmt.Sprintf("[[%s <nil>] [[[m1 <nil>] <nil>] [[%s <nil>] <nil>]]]", m1.Group, m2.ID)
			if got := fmt.Sprint(res.Value); got != want {
				t.Errorf("result %s, want %s", got, want)
			}
		}},
		{"a celery.chunks task sends one starmap per chunk", func() *celery.Task {
			tk := base()
			tk.Name = "celery.chunks"
			tk.Args = nil
			tk.Kwargs = map[string]any{"task": map[string]any{"task": "add", "args": []any{}, "kwargs": map[string]any{}, "options": map[string]any{}},
				"it": []any{[]any{n("1"), n("2")}, []any{n("3"), n("4")}, []any{n("5"), n("6")}}, "n": n("2")}
			return tk
		}, nil, nil, func(t *testing.T, p *plan) {
			if len(p.commit.Publish) != 2 {
				t.Fatalf("%d messages", len(p.commit.Publish))
			}
			for i, want := range []int{2, 1} {
				m := decoded(t, p.commit.Publish[i])
				if m.Name != "celery.starmap" || len(m.Args) != 0 || len(m.Kwargs["it"].([]any)) != want || m.Group == "" {
					t.Errorf("chunk %d: %+v", i, m)
				}
			}
		}},
	}
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := tt.task()
			d := delivery(t, task, 0)
			v, err := tt.value, tt.err
			def := &TaskDef{Name: task.Name}
			if f := reg.Lookup(task.Name); f != nil && strings.HasPrefix(task.Name, "celery.") {
				v, err = f.Func(context.Background(), task)
				if err != nil {
					t.Fatal(err)
				}
			}
			tt.check(t, testRules().finished(d, def, task, v, err, time.Millisecond, false, planNow))
		})
	}
}

func TestCanvasTasks(t *testing.T) {
	n := func(s string) any { return json.Number(s) }
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	addSig := map[string]any{"task": "add", "args": []any{}, "kwargs": map[string]any{}, "options": map[string]any{}, "subtask_type": nil, "immutable": false}
	tests := []struct {
		name   string
		args   []any
		kwargs map[string]any
		want   string
		exc    string
	}{
		{"celery.map", nil, map[string]any{"task": map[string]any{"task": "echo"}, "it": []any{n("1"), "x"}}, "[1 x]", ""},
		{"celery.starmap", nil, map[string]any{"task": addSig, "it": []any{[]any{n("1"), n("2")}, []any{n("3"), n("4")}}}, "[3 7]", ""},
		{"celery.starmap", nil, map[string]any{"task": addSig, "it": []any{[]any{n("1")}}}, "", "TypeError"},
		{"celery.map", nil, map[string]any{"task": map[string]any{"task": "tasks.nope"}, "it": []any{n("1")}}, "", "NotRegistered"},
		{"celery.accumulate", []any{n("1"), n("2"), n("3")}, nil, "[1 2 3]", ""},
		{"celery.accumulate", []any{n("1"), n("2"), n("3")}, map[string]any{"index": n("-1")}, "3", ""},
		{"celery.accumulate", []any{n("1")}, map[string]any{"index": n("4")}, "", "IndexError"},
	}
	for _, tt := range tests {
		v, err := reg.Lookup(tt.name).Func(context.Background(), &celery.Task{ID: "t", Name: tt.name, Args: tt.args, Kwargs: tt.kwargs})
		if tt.exc != "" {
			re := remoteError(err, &TaskDef{}, &celery.Task{})
			if err == nil || re.Type != tt.exc {
				t.Errorf("%s(%v, %v): %v, want %s", tt.name, tt.args, tt.kwargs, err, tt.exc)
			}
			continue
		}
		if err != nil || fmt.Sprint(v) != tt.want {
			t.Errorf("%s(%v, %v) = %v, %v; want %s", tt.name, tt.args, tt.kwargs, v, err, tt.want)
		}
	}
}

// Every FAILURE carries a traceback Celery clients show, ending with the
// exception as Python prints it; tracebacks of their own (a command's
// stderr) are kept.
func TestFailureTracebacks(t *testing.T) {
	r := testRules()
	task := &celery.Task{ID: "t1", Name: "tasks.fail", ReplyTo: "rq"}
	d := delivery(t, task, 0)
	fail, _ := Builtin("fail")
	_, err := fail(context.Background(), &celery.Task{Args: []any{"boom"}})
	tests := []struct {
		name string
		p    *plan
		want string
	}{
		{"builtin fail", r.finished(d, &TaskDef{}, task, nil, err, 0, false, planNow), "\ndsys.errors.TaskError: boom\n"},
		{"go error", r.finished(d, &TaskDef{}, task, nil, errors.New("disk full"), 0, false, planNow), "\ndsys.errors.TaskError: disk full\n"},
		{"time limit", r.finished(d, &TaskDef{Timeout: time.Second}, task, nil, fmt.Errorf("%w: 1s", ErrTimeLimit), 0, false, planNow),
			"\nbilliard.exceptions.TimeLimitExceeded: 1\n"},
		{"not registered", r.unregistered(task), "\ncelery.exceptions.NotRegistered: tasks.fail\n"},
		{"command stderr kept", r.finished(d, &TaskDef{}, task, nil, &celery.RemoteError{Type: "CommandError", Traceback: "sort: no such file\n"}, 0, false, planNow),
			"sort: no such file\n"},
	}
	for _, tt := range tests {
		res := resultOf(t, tt.p.commit.Results[0])
		if !strings.HasSuffix(res.Traceback, tt.want) || (tt.name != "command stderr kept" && !strings.HasPrefix(res.Traceback, "Traceback (most recent call last):\n  dsys worker dsys@test, task tasks.fail[t1]\n")) {
			t.Errorf("%s: traceback %q, want it to end with %q", tt.name, res.Traceback, tt.want)
		}
	}
}
