package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// The rules decide every outcome without a broker: these tables are the
// worker's behaviour for retries, chains, callbacks, errbacks and dead letters.

var planNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testRules() *rules {
	n := 0
	return &rules{maxRedeliveries: 2, maxMessageSize: 1000, origin: "dsys@test", queues: []string{"q"},
		newID: func() string { n++; return fmt.Sprintf("gen-%d", n) },
		arity: func(name string) (int, bool) { return 1, name == "notify" }}
}

func delivery(t *testing.T, task *celery.Task, started int) *broker.Delivery {
	t.Helper()
	m, err := celery.EncodeTask(task)
	if err != nil {
		t.Fatal(err)
	}
	return &broker.Delivery{Message: *m, Queue: "q", Started: started}
}

// decoded returns the task a plan's publishing carries.
func decoded(t *testing.T, p broker.Publishing) *celery.Task {
	t.Helper()
	task, err := celery.DecodeTask(p.Message)
	if err != nil {
		t.Fatalf("published message does not decode: %v", err)
	}
	return task
}

func resultOf(t *testing.T, r broker.Result) *celery.Result {
	t.Helper()
	res, err := celery.DecodeResult(r.Body, r.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.State) != r.State || res.TaskID != r.TaskID {
		t.Fatalf("result record %s/%s, body says %s/%s", r.TaskID, r.State, res.TaskID, res.State)
	}
	return res
}

func sig(name, id string, immutable bool, args ...any) celery.Signature {
	return celery.Signature{Task: name, Args: args, Immutable: immutable,
		Options: map[string]any{"task_id": id, "reply_to": "rq"}}
}

func TestRulesAdmit(t *testing.T) {
	r := testRules()
	small := &celery.Task{ID: "a", Name: "add", Args: []any{json.Number("1"), json.Number("2")}}
	tests := []struct {
		name    string
		d       *broker.Delivery
		dead    string // "" = admitted
		inQueue string
		answer  string // the exception its caller gets (module.type); "" = none
	}{
		{"first run", delivery(t, small, 0), "", "", ""},
		{"redelivered within max", delivery(t, small, 2), "", "", ""},
		{"redelivered past max", delivery(t, small, 3), "redelivered 3 times (max_redeliveries 2)", "q.dead", "billiard.exceptions.WorkerLostError"},
		{"oversized", delivery(t, &celery.Task{ID: "b", Name: "echo", Args: []any{strings.Repeat("x", 2000)}}, 0), "exceeds max_message_size 1000", "q.dead", "kombu.exceptions.LimitExceeded"},
		{"unreadable headers", func() *broker.Delivery {
			d := delivery(t, small, 0)
			d.Headers[broker.HeaderUnreadable] = `unreadable headers: header "x": nested deeper than 32 levels`
			return d
		}(), "nested deeper than 32 levels", "q.dead", "kombu.exceptions.DecodeError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := r.admit(tt.d)
			if tt.dead == "" {
				if p != nil {
					t.Fatalf("not admitted: %+v", p)
				}
				return
			}
			if p == nil || p.dead == nil || !strings.Contains(p.dead.reason, tt.dead) {
				t.Fatalf("plan %+v, want a dead letter saying %q", p, tt.dead)
			}
			pub := p.commit.Publish
			if len(pub) != 1 || pub[0].Queue != tt.inQueue || pub[0].Message.Headers[headerDeadReason] != p.dead.reason ||
				!pub[0].Message.Persistent || p.commit.Settle != broker.Ack {
				t.Fatalf("dead-letter commit %+v", p.commit)
			}
			if tt.answer == "" {
				if len(p.commit.Results) != 0 {
					t.Fatalf("answered: %+v", p.commit.Results)
				}
				return
			}
			id := messageID(&tt.d.Message)
			if len(p.commit.Results) != 1 || p.commit.Results[0].TaskID != id || p.commit.Results[0].State != "FAILURE" {
				t.Fatalf("results %+v, want FAILURE for %s", p.commit.Results, id)
			}
			res, err := celery.DecodeResult(p.commit.Results[0].Body, id)
			if err != nil || res.Err == nil || res.Err.Module+"."+res.Err.Type != tt.answer {
				t.Fatalf("answer %+v %v, want %s", res, err, tt.answer)
			}
		})
	}
}

func TestRulesFinished(t *testing.T) {
	ok := func(v any) func() (any, error) { return func() (any, error) { return v, nil } }
	fail := func(err error) func() (any, error) { return func() (any, error) { return nil, err } }
	base := func() *celery.Task {
		return &celery.Task{ID: "t1", Name: "job", Args: []any{json.Number("2")}, ReplyTo: "rq", RootID: "root"}
	}
	tests := []struct {
		name     string
		def      TaskDef
		task     func() *celery.Task
		run      func() (any, error)
		stopping bool
		check    func(t *testing.T, p *plan)
	}{
		{"success: result and ack", TaskDef{}, base, ok(json.Number("8")), false, func(t *testing.T, p *plan) {
			if p.state != celery.StateSuccess || p.commit.Settle != broker.Ack || len(p.commit.Publish) != 0 {
				t.Fatalf("%+v", p)
			}
			if r := resultOf(t, p.commit.Results[0]); r.Value != json.Number("8") || p.commit.Results[0].ReplyTo != "rq" {
				t.Fatalf("result %+v", r)
			}
		}},
		{"success with a callback and a chain", TaskDef{},
			func() *celery.Task {
				tk := base()
				tk.Callbacks = []celery.Signature{sig("add", "cb", false, json.Number("10"))}
				tk.Chain = []celery.Signature{sig("add", "last", false, json.Number("3")), sig("mul", "next", false, json.Number("2"))}
				return tk
			}, ok(json.Number("4")), false, func(t *testing.T, p *plan) {
				if len(p.commit.Publish) != 2 {
					t.Fatalf("publish %d messages, want callback and next step", len(p.commit.Publish))
				}
				cb, next := decoded(t, p.commit.Publish[0]), decoded(t, p.commit.Publish[1])
				if cb.ID != "cb" || cb.Name != "add" || fmt.Sprint(cb.Args) != "[4 10]" || cb.ParentID != "t1" || cb.RootID != "root" {
					t.Errorf("callback %+v", cb)
				}
				if next.ID != "next" || next.Name != "mul" || fmt.Sprint(next.Args) != "[4 2]" || len(next.Chain) != 1 || next.Chain[0].Option("task_id") != "last" {
					t.Errorf("next step %+v", next)
				}
				if p.commit.Publish[0].Queue != "q" || len(p.declare) != 0 {
					t.Errorf("follow-ups to %s, declare %v", p.commit.Publish[0].Queue, p.declare)
				}
			}},
		{"immutable callback to another queue, with a countdown", TaskDef{},
			func() *celery.Task {
				tk := base()
				s := sig("echo", "", true, "fixed")
				s.Options["queue"] = "other"
				s.Options["countdown"] = json.Number("5")
				tk.Callbacks = []celery.Signature{s}
				return tk
			}, ok("x"), false, func(t *testing.T, p *plan) {
				pub := p.commit.Publish[0]
				cb := decoded(t, pub)
				if pub.Queue != "other" || fmt.Sprint(p.declare) != "[other]" || fmt.Sprint(cb.Args) != "[fixed]" ||
					cb.ID != "gen-1" || !pub.At.Equal(planNow.Add(5*time.Second)) {
					t.Errorf("callback to %s at %v declare %v: %+v", pub.Queue, pub.At, p.declare, cb)
				}
			}},
		{"failure: errbacks and the rest of the chain fail", TaskDef{},
			func() *celery.Task {
				tk := base()
				tk.Errbacks = []celery.Signature{sig("log", "eb", false), sig("notify", "eb1", false)}
				tk.Chain = []celery.Signature{sig("add", "last", false), sig("add", "mid", false)}
				return tk
			}, fail(errors.New("boom")), false, func(t *testing.T, p *plan) {
				if p.state != celery.StateFailure || len(p.commit.Results) != 3 || len(p.commit.Publish) != 2 {
					t.Fatalf("%d results, %d messages: %+v", len(p.commit.Results), len(p.commit.Publish), p)
				}
				for i, id := range []string{"t1", "last", "mid"} {
					r := resultOf(t, p.commit.Results[i])
					if r.TaskID != id || r.State != celery.StateFailure || r.Err.Error() != "TaskError: boom" {
						t.Errorf("result %d: %+v", i, r)
					}
				}
				// Celery's new style for an errback of unknown arity:
				// (request, exc, traceback); the task id for one taking one.
				eb := decoded(t, p.commit.Publish[0])
				if eb.ID != "eb" || len(eb.Args) != 3 {
					t.Fatalf("errback %+v", eb)
				}
				req, exc, tb := eb.Args[0].(map[string]any), eb.Args[1].(map[string]any), eb.Args[2].(string)
				if req["id"] != "t1" || req["task"] != "job" || exc["exc_type"] != "TaskError" || !strings.HasSuffix(tb, "TaskError: boom\n") {
					t.Errorf("errback arguments %v", eb.Args)
				}
				if eb := decoded(t, p.commit.Publish[1]); eb.ID != "eb1" || fmt.Sprint(eb.Args) != "[t1]" {
					t.Errorf("one-argument errback %+v", eb)
				}
			}},
		{"retry with exponential backoff", TaskDef{Retries: 3, RetryBackoff: 2 * time.Second},
			func() *celery.Task {
				tk := base()
				tk.Retries = 2
				tk.Headers = map[string]any{"x-user": "kept", "x-dsys-redeliveries": int32(1), "x-death": "dropped"}
				return tk
			}, fail(errors.New("flaky")), false, func(t *testing.T, p *plan) {
				if p.state != celery.StateRetry || p.retries != 3 || len(p.commit.Publish) != 1 {
					t.Fatalf("%+v", p)
				}
				pub := p.commit.Publish[0]
				next := decoded(t, pub)
				if next.ID != "t1" || next.Retries != 3 || next.ParentID != "t1" || pub.Queue != "q" ||
					!pub.At.Equal(planNow.Add(8*time.Second)) || !next.ETA.Equal(pub.At) {
					t.Errorf("retry %+v at %v", next, pub.At)
				}
				if next.Headers["x-user"] != "kept" || next.Headers["x-dsys-redeliveries"] != nil || next.Headers["x-death"] != nil {
					t.Errorf("retry headers %v", next.Headers)
				}
				if r := resultOf(t, p.commit.Results[0]); r.State != celery.StateRetry {
					t.Errorf("result %+v", r)
				}
			}},
		{"retries exhausted: failure", TaskDef{Retries: 2}, func() *celery.Task { tk := base(); tk.Retries = 2; return tk },
			fail(errors.New("still broken")), false, func(t *testing.T, p *plan) {
				if p.state != celery.StateFailure || len(p.commit.Publish) != 0 {
					t.Fatalf("%+v", p)
				}
			}},
		{"skip retry", TaskDef{Retries: 2}, base, fail(fmt.Errorf("fatal: %w", ErrSkipRetry)), false, func(t *testing.T, p *plan) {
			if p.state != celery.StateFailure {
				t.Fatalf("%+v", p)
			}
		}},
		{"no retry while stopping", TaskDef{Retries: 2}, base, fail(errors.New("x")), true, func(t *testing.T, p *plan) {
			if p.state != celery.StateFailure {
				t.Fatalf("%+v", p)
			}
		}},
		{"bad arguments: a TypeError, acknowledged, not retried, no dead letter", TaskDef{Retries: 5}, base, fail(badArgs("job: takes 2 arguments, got 1")), false,
			func(t *testing.T, p *plan) {
				if p.state != celery.StateFailure || p.dead != nil || len(p.commit.Publish) != 0 || p.commit.Settle != broker.Ack {
					t.Fatalf("%+v", p)
				}
				if r := resultOf(t, p.commit.Results[0]); r.Err.Type != "TypeError" || !strings.Contains(r.Err.Error(), "takes 2 arguments") {
					t.Errorf("result %+v", r.Err)
				}
			}},
		{"result not JSON: EncodeError", TaskDef{}, base, ok(make(chan int)), false, func(t *testing.T, p *plan) {
			if r := resultOf(t, p.commit.Results[0]); p.state != celery.StateFailure || r.Err.Type != "EncodeError" {
				t.Fatalf("%+v %+v", p, r)
			}
		}},
		{"ignore_result: nothing stored", TaskDef{}, func() *celery.Task { tk := base(); tk.IgnoreResult = true; return tk }, ok(1), false,
			func(t *testing.T, p *plan) {
				if len(p.commit.Results) != 0 || p.state != celery.StateSuccess {
					t.Fatalf("%+v", p)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := tt.task()
			d := delivery(t, task, 0)
			v, err := tt.run()
			tt.check(t, testRules().finished(d, &tt.def, task, v, err, time.Millisecond, tt.stopping, planNow))
		})
	}
}

func TestRulesBeforeRunning(t *testing.T) {
	r := testRules()
	task := &celery.Task{ID: "t", Name: "nope", ReplyTo: "rq", ETA: planNow.Add(time.Hour)}
	p := r.unregistered(task)
	if res := resultOf(t, p.commit.Results[0]); res.Err.Type != "NotRegistered" || res.Err.Module != "celery.exceptions" ||
		p.commit.Settle != broker.Ack {
		t.Errorf("unregistered: %+v", res)
	}
	p = r.expired(task)
	if res := resultOf(t, p.commit.Results[0]); res.State != celery.StateRevoked || res.Err.Type != "TaskRevokedError" {
		t.Errorf("expired: %+v", res)
	}
	p = r.delay(task)
	if p.commit.Settle != broker.Release || !p.commit.At.Equal(task.ETA) || len(p.commit.Results)+len(p.commit.Publish) != 0 {
		t.Errorf("delay: %+v", p.commit)
	}
	if p := r.requeue("t", "n", time.Second); p.commit.Settle != broker.Requeue {
		t.Errorf("requeue: %+v", p.commit)
	}
}
