package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/redis"
)

func n(s string) json.Number { return json.Number(s) }

// A Python Celery 5 client, broker and backend on Redis, calls tasks
// served by a dsys worker: plain calls, errors, a chain, a countdown, a
// priority, chords (one that fails), and AsyncResult.state.
func TestCeleryClientAgainstDsysWorker(t *testing.T) {
	h := newHarness(t)
	h.startWorker(queue.WorkerConfig{})
	got := h.runPeer(120*time.Second, "client")
	ok := func(name string, want any) {
		t.Helper()
		r, _ := got[name].(map[string]any)
		if r["ok"] != want {
			t.Errorf("%s: %v, want %v", name, got[name], want)
		}
	}
	exc := func(name, typ, msg string) {
		t.Helper()
		r, _ := got[name].(map[string]any)
		if r["exc_type"] != typ || !strings.Contains(r["message"].(string), msg) {
			t.Errorf("%s: %v, want %s(%q)", name, r, typ, msg)
		}
	}
	ok("add", 8.0)
	ok("float", 3.5)
	ok("chain", 7.0)
	ok("countdown", 5.0)
	ok("priority", 6.0)
	ok("chord", 20.0) // sum of 2i for i < 5
	exc("fail", "TaskError", "boom")
	exc("unknown", "NotRegistered", "tasks.nope")
	// get() raises the failed part's error, as with Celery workers; the
	// callback itself fails with ChordError.
	exc("chord_fail", "TaskError", "bad part")
	if cf, _ := got["chord_fail"].(map[string]any); cf["callback_state"] != "FAILURE" ||
		!strings.HasPrefix(cf["callback_result"].(string), "ChordError(\"Dependency ") ||
		!strings.Contains(cf["callback_result"].(string), "raised TaskError('bad part')") {
		t.Errorf("chord_fail callback: %v", got["chord_fail"])
	}
	if s, _ := got["state"].(map[string]any); s["state"] != "SUCCESS" || s["result"] != 42.0 {
		t.Errorf("state: %v", got["state"])
	}
}

// A dsys client calls tasks served by a Python Celery 5 worker on Redis.
func TestDsysClientAgainstCeleryWorker(t *testing.T) {
	h := newHarness(t)
	h.startCeleryWorker("1", "solo")
	c := h.newClient()
	get := func(task *celery.Task) (any, error) {
		t.Helper()
		ar, err := c.Submit(h.ctx(), task)
		if err != nil {
			t.Fatal(err)
		}
		return ar.Get(h.ctx())
	}
	if v, err := get(&celery.Task{Name: "tasks.add", Args: []any{n("4"), n("4")}}); err != nil || v != n("8") {
		t.Fatalf("tasks.add(4, 4) = %v, %v", v, err)
	}
	_, err := get(&celery.Task{Name: "tasks.fail", Args: []any{"boom"}})
	var re *celery.RemoteError
	if !errors.As(err, &re) || re.Type != "ValueError" || re.Error() != "ValueError: boom" || !strings.Contains(re.Traceback, "ValueError: boom") {
		t.Fatalf("tasks.fail: %#v", err)
	}
	// The result stays readable by id, from another subscription too.
	ar, err := c.Submit(h.ctx(), &celery.Task{Name: "tasks.add", Args: []any{n("1"), n("2")}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ar.Get(h.ctx()); err != nil || v != n("3") {
		t.Fatalf("tasks.add(1, 2) = %v, %v", v, err)
	}
	other := h.newClient()
	if v, err := other.Result(ar.ID).Get(h.ctx()); err != nil || v != n("3") {
		t.Fatalf("Result(%s) from another client = %v, %v", ar.ID, v, err)
	}
	r, err := h.tr.Results().Get(h.ctx(), ar.ID)
	if err != nil || r.State != "SUCCESS" || !strings.Contains(string(r.Body), `"date_done"`) {
		t.Fatalf("Get(%s) = %+v, %v", ar.ID, r, err)
	}
}

// A chord's header runs on dsys and Celery workers at once, on one queue:
// both count in the same Redis keys, and the callback sees every part.
func TestChordAcrossDsysAndCeleryWorkers(t *testing.T) {
	h := newHarness(t)
	h.startWorker(queue.WorkerConfig{Concurrency: 2})
	h.startCeleryWorker("2", "prefork")
	got := h.runPeer(120*time.Second, "chord", "40")
	if got["ok"] != 1560.0 { // sum of 2i for i < 40
		t.Fatalf("chord across workers: %v", got)
	}
}

// A mixed pool, a dsys worker and a Celery worker on one Redis queue:
// every task runs once, on one of them, and its result arrives once.
func TestMixedPoolEveryResultOnce(t *testing.T) {
	h := newHarness(t)
	h.startWorker(queue.WorkerConfig{Concurrency: 2})
	cw := h.startCeleryWorker("2", "prefork")
	c := h.newClient()
	const total = 300
	tasks := make([]*celery.Task, total)
	for i := range tasks {
		tasks[i] = &celery.Task{Name: "tasks.add", Args: []any{n(strconv.Itoa(i)), n("1")}}
	}
	ars, err := c.SendAll(h.ctx(), tasks)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, total)
	if err := queue.Gather(h.ctx(), ars, func(i int, r *celery.Result, err error) error {
		if err != nil || r.Value != n(strconv.Itoa(i+1)) {
			return fmt.Errorf("task %d: %v, %v", i, r, err)
		}
		seen[i]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("result of task %d arrived %d times", i, k)
		}
	}
	// Celery's prefork parent logs a run after its child stored the result.
	runs := func() (int, int) {
		return strings.Count(h.logs.String(), "name=tasks.add state=SUCCESS"), strings.Count(cw.log.String(), "succeeded in")
	}
	waitFor(t, 10*time.Second, "every run to be logged", func() bool { a, b := runs(); return a+b >= total })
	ours, theirs := runs()
	if ours+theirs != total || ours == 0 || theirs == 0 {
		t.Fatalf("runs: %d by dsys + %d by Celery, want %d in all, by both", ours, theirs, total)
	}
}

// RabbitMQ carries the tasks, Redis the results (a common Celery setup): a
// Celery client with broker pyamqp:// and backend redis:// gets its
// results, chord included, from a dsys worker whose result backend is Redis.
func TestAMQPBrokerWithRedisResults(t *testing.T) {
	url := testenv.Redis(t)
	amqpURL := testenv.RabbitMQ(t)
	python, script := peer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tr, err := amqp.Dial(ctx, amqpURL, amqp.Options{ManagementURL: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	results, err := redis.OpenResults(ctx, url, redis.Options{ResultExpires: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	h := newHarness(t) // for its registry and logs
	q := h.queue
	t.Cleanup(func() {
		_ = tr.Delete(context.Background(), q)
		_ = tr.Delete(context.Background(), q+".dead")
	})
	w := queue.NewWorker(tr, h.reg, queue.WorkerConfig{Queues: []string{q}, Concurrency: 2, Results: results, Logger: h.logger()})
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python, script, "chord", strings.Replace(amqpURL, "amqp://", "pyamqp://", 1), "-", q, "6")
	cmd.Env = append(os.Environ(), "CELERY_BACKEND="+url)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("celery chord: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil || got["ok"] != 30.0 { // sum of 2i for i < 6
		t.Fatalf("chord over RabbitMQ with Redis results: %s (%v)", out, err)
	}
}
