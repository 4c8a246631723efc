package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func n(s string) json.Number { return json.Number(s) }

func TestSeedAddRoundTrip(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		_, stop := h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("4"), n("4")}})
		if err != nil || v != n("8") {
			t.Fatalf("add(4, 4) = %#v, %v; want 8", v, err)
		}
		_ = stop() // the log line follows the result
		if !strings.Contains(h.logs.String(), "msg=task id=") || !strings.Contains(h.logs.String(), "name=add state=SUCCESS duration=") {
			t.Errorf("no task log line:\n%s", h.logs)
		}
	})
}

func TestManyTasksInFlight(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{Concurrency: 2, Prefetch: 16})
		c := h.newClient()
		const total = 500
		results := make([]*queue.AsyncResult, total)
		for i := range total {
			ar, err := c.Send(h.ctx(), &celery.Task{Name: "mul", Args: []any{n(fmt.Sprint(i)), n("2")}})
			if err != nil {
				t.Fatal(err)
			}
			results[i] = ar
		}
		for i, ar := range results {
			if err := ar.Sent(h.ctx()); err != nil {
				t.Fatal(err)
			}
			v, err := ar.Get(h.ctx())
			if err != nil || v != n(fmt.Sprint(2*i)) {
				t.Fatalf("task %d: %v, %v", i, v, err)
			}
		}
	})
}

func TestFailureCarriesException(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		_, err := h.get(c, &celery.Task{Name: "fail", Args: []any{"boom"}})
		var re *celery.RemoteError
		if !errors.As(err, &re) || re.Type != "TaskError" || re.Error() != "TaskError: boom" || re.State != celery.StateFailure {
			t.Fatalf("err = %#v", err)
		}
	})
}

func TestUnknownTaskNotRegistered(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		_, err := h.get(c, &celery.Task{Name: "tasks.nope", Args: []any{n("1")}})
		var re *celery.RemoteError
		if !errors.As(err, &re) || re.Type != "NotRegistered" || re.Module != "celery.exceptions" || fmt.Sprint(re.Message) != "[tasks.nope]" {
			t.Fatalf("err = %#v", err)
		}
		// Rejected, not dead-lettered, not requeued; the worker still serves.
		if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("1"), n("1")}}); err != nil || v != n("2") {
			t.Fatalf("after unknown task: %v %v", v, err)
		}
		for _, q := range []string{h.queue, h.queue + ".dead"} {
			if info, err := h.b.Inspect(h.ctx(), q); err != nil || info.Ready != 0 {
				t.Errorf("%s: %+v %v", q, info, err)
			}
		}
	})
}

func TestExpiredTaskRevoked(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		_, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("1"), n("1")}, Expires: time.Now().Add(-time.Second)})
		var re *celery.RemoteError
		if !errors.As(err, &re) || re.Type != "TaskRevokedError" || re.State != celery.StateRevoked {
			t.Fatalf("err = %#v", err)
		}
	})
}

func TestCountdownRunsLater(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		for _, d := range []time.Duration{400 * time.Millisecond, 2500 * time.Millisecond} {
			start := time.Now()
			v, err := h.get(c, &celery.Task{Name: "echo", Args: []any{"x"}, ETA: start.Add(d)})
			if err != nil || v != "x" {
				t.Fatalf("%v %v", v, err)
			}
			if el := time.Since(start); el < d || el > d+2*time.Second {
				t.Errorf("countdown %v: result after %v", d, el)
			}
		}
	})
}

// A far-future task is not held by the worker (RabbitMQ's consumer_timeout
// would kill the channel): it waits in a delay queue.
func TestFarETANotHeldUnacked(t *testing.T) {
	h := newHarness(t)
	_, stop := h.startWorker(queue.WorkerConfig{})
	c := h.newClient()
	ar, err := c.Submit(h.ctx(), &celery.Task{Name: "add", Args: []any{n("1"), n("2")}, ETA: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// The delay queue for 1h is the 2048s one.
	dq := h.queue + ".delay.2048s"
	t.Cleanup(func() { _ = h.b.Delete(context.Background(), dq) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := h.b.Inspect(h.ctx(), dq)
		if err == nil && info.Ready == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not parked in %s: %+v %v", dq, info, err)
		}
		time.Sleep(10 * time.Millisecond) // polling the broker
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	info, err := h.b.Inspect(h.ctx(), h.queue)
	if err != nil || info.Ready != 0 {
		t.Fatalf("main queue after stop: %+v %v (the task must not come back)", info, err)
	}
	select {
	case <-ar.Done():
		t.Fatal("far-future task ran")
	default:
	}
}

func TestTimeLimits(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		start := time.Now()
		_, err := h.get(c, &celery.Task{Name: "sleep", Args: []any{n("30")}, TimeLimit: 300 * time.Millisecond})
		var re *celery.RemoteError
		if !errors.As(err, &re) || re.Type != "TimeLimitExceeded" || re.Module != "billiard.exceptions" {
			t.Fatalf("hard limit: %#v", err)
		}
		_, err = h.get(c, &celery.Task{Name: "sleep", Args: []any{n("30")}, SoftTimeLimit: 200 * time.Millisecond})
		if !errors.As(err, &re) || re.Type != "SoftTimeLimitExceeded" {
			t.Fatalf("soft limit: %#v", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("limits took %v", el)
		}
	})
}

func TestRetries(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		var runs atomic.Int32
		flaky := func(ctx context.Context, task *celery.Task) (any, error) {
			if runs.Add(1) <= 2 {
				return nil, errors.New("not yet")
			}
			return "ok", nil
		}
		var always atomic.Int32
		broken := func(ctx context.Context, task *celery.Task) (any, error) {
			always.Add(1)
			return nil, errors.New("broken")
		}
		h.reg.Register(queue.TaskDef{Name: "flaky", Func: flaky, Retries: 3, RetryBackoff: 50 * time.Millisecond})
		h.reg.Register(queue.TaskDef{Name: "broken", Func: broken, Retries: 2})
		_, stop := h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		if v, err := h.get(c, &celery.Task{Name: "flaky"}); err != nil || v != "ok" || runs.Load() != 3 {
			t.Fatalf("flaky: %v %v after %d runs", v, err, runs.Load())
		}
		_, err := h.get(c, &celery.Task{Name: "broken"})
		if err == nil || !strings.Contains(err.Error(), "broken") || always.Load() != 3 {
			t.Fatalf("broken: %v after %d runs (want 3)", err, always.Load())
		}
		_ = stop() // log lines follow the results
		if !strings.Contains(h.logs.String(), "state=RETRY") {
			t.Error("no RETRY log line")
		}
	})
}

func TestCallbacksAndChain(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{})
		c := h.newClient()
		sig := func(name, id string, immutable bool, args ...any) celery.Signature {
			return celery.Signature{Task: name, Args: args, Options: map[string]any{"task_id": id, "reply_to": c.ReplyTo()}, Immutable: immutable}
		}
		// link: add(2, 2) → add(4, 10)
		cb := c.Result("cb-" + h.queue)
		if _, err := c.Submit(h.ctx(), &celery.Task{Name: "add", Args: []any{n("2"), n("2")},
			Callbacks: []celery.Signature{sig("add", cb.ID, false, n("10"))}}); err != nil {
			t.Fatal(err)
		}
		if v, err := cb.Get(h.ctx()); err != nil || v != n("14") {
			t.Fatalf("callback: %v %v", v, err)
		}
		// chain: add(1, 1) | add(2) | add(3), stored reversed
		last := c.Result("last-" + h.queue)
		mid := sig("add", "mid-"+h.queue, false, n("2"))
		if _, err := c.Submit(h.ctx(), &celery.Task{Name: "add", Args: []any{n("1"), n("1")},
			Chain: []celery.Signature{sig("add", last.ID, false, n("3")), mid}}); err != nil {
			t.Fatal(err)
		}
		if v, err := last.Get(h.ctx()); err != nil || v != n("7") {
			t.Fatalf("chain: %v %v", v, err)
		}
		// errback and a failing chain
		eb := c.Result("eb-" + h.queue)
		end := c.Result("end-" + h.queue)
		if _, err := c.Submit(h.ctx(), &celery.Task{Name: "fail", Args: []any{"boom"},
			Errbacks: []celery.Signature{sig("echo", eb.ID, true, "failed")},
			Chain:    []celery.Signature{sig("add", end.ID, false, n("1"))}}); err != nil {
			t.Fatal(err)
		}
		if v, err := eb.Get(h.ctx()); err != nil || v != "failed" {
			t.Fatalf("errback: %v %v", v, err)
		}
		if _, err := end.Get(h.ctx()); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("chain after failure: %v", err)
		}
	})
}

func TestGracefulShutdownFinishesRunningTask(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		started := make(chan struct{})
		release := make(chan struct{})
		h.reg.Register(queue.TaskDef{Name: "block", Func: func(ctx context.Context, task *celery.Task) (any, error) {
			close(started)
			<-release
			return "finished", nil
		}})
		_, stop := h.startWorker(queue.WorkerConfig{ShutdownTimeout: 30 * time.Second})
		c := h.newClient()
		ar, err := c.Submit(h.ctx(), &celery.Task{Name: "block"})
		if err != nil {
			t.Fatal(err)
		}
		<-started
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		select {
		case err := <-stopped:
			t.Fatalf("Run returned while a task was running: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		if v, err := ar.Get(h.ctx()); err != nil || v != "finished" {
			t.Fatalf("result: %v %v", v, err)
		}
		if err := <-stopped; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if info, _ := h.b.Inspect(h.ctx(), h.queue); info.Ready != 0 {
			t.Errorf("queue after graceful shutdown: %+v", info)
		}
	})
}

func TestShutdownTimeoutRequeues(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		started := make(chan struct{}, 1)
		h.reg.Register(queue.TaskDef{Name: "stuck", Func: func(ctx context.Context, task *celery.Task) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}})
		_, stop := h.startWorker(queue.WorkerConfig{Concurrency: 1, Prefetch: 1, ShutdownTimeout: 200 * time.Millisecond})
		c := h.newClient()
		if _, err := c.Submit(h.ctx(), &celery.Task{Name: "stuck"}); err != nil {
			t.Fatal(err)
		}
		<-started
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		info, err := h.b.Inspect(h.ctx(), h.queue)
		if err != nil || info.Ready != 1 {
			t.Fatalf("after shutdown timeout: %+v %v (want the task back in the queue)", info, err)
		}
	})
}

func TestMetrics(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		reg := prometheus.NewRegistry()
		m, err := queue.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		_, stop := h.startWorker(queue.WorkerConfig{Metrics: m})
		c := h.newClient()
		h.get(c, &celery.Task{Name: "add", Args: []any{n("1"), n("1")}})
		h.get(c, &celery.Task{Name: "fail", Args: []any{"x"}})
		h.get(c, &celery.Task{Name: "nope"})
		_ = stop() // metrics follow the results
		want := `
	# HELP dsys_queue_tasks_failed_total Tasks that failed for good (FAILURE).
	# TYPE dsys_queue_tasks_failed_total counter
	dsys_queue_tasks_failed_total{task="fail"} 1
	# HELP dsys_queue_tasks_received_total Task messages received.
	# TYPE dsys_queue_tasks_received_total counter
	dsys_queue_tasks_received_total{task="add"} 1
	dsys_queue_tasks_received_total{task="fail"} 1
	dsys_queue_tasks_received_total{task="unknown"} 1
	# HELP dsys_queue_tasks_succeeded_total Tasks that returned a result.
	# TYPE dsys_queue_tasks_succeeded_total counter
	dsys_queue_tasks_succeeded_total{task="add"} 1
	`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "dsys_queue_tasks_failed_total",
			"dsys_queue_tasks_received_total", "dsys_queue_tasks_succeeded_total"); err != nil {
			t.Error(err)
		}
		if n := testutil.CollectAndCount(reg, "dsys_queue_task_runtime_seconds"); n != 2 {
			t.Errorf("runtime histograms: %d", n)
		}
	})
}
