package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// rawPublish sends m as is, bypassing the codec.
func (h *harness) rawPublish(q string, m *broker.Message) {
	h.t.Helper()
	c, err := h.b.Publish(h.ctx(), broker.Publishing{Queue: q, Message: m})
	if err == nil {
		err = broker.WaitConfirm(h.ctx(), c)
	}
	if err != nil {
		h.t.Fatal(err)
	}
}

func goodMessage(t *testing.T, id, name string, body string) *broker.Message {
	t.Helper()
	m, err := celery.EncodeTask(&celery.Task{ID: id, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	m.Body = []byte(body)
	return m
}

// drain reads the dead-letter queue: id → reason header.
func (h *harness) deadLetters(want int) map[string]string {
	h.t.Helper()
	c, err := h.b.Consume(h.ctx(), h.queue+".dead", broker.ConsumeOptions{Prefetch: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	out := map[string]string{}
	for len(out) < want {
		select {
		case d := <-c.Deliveries():
			reason, _ := d.Headers["x-dsys-dead-reason"].(string)
			id := d.CorrelationID
			if hid, ok := d.Headers["id"].(string); ok {
				id = hid
			}
			out[id] = reason
			_ = d.Commit(context.Background(), broker.Commit{})
		case <-time.After(10 * time.Second):
			h.t.Fatalf("dead-letter queue: got %d of %d: %v", len(out), want, out)
		}
	}
	return out
}

// Poison messages are dead-lettered with their reason, logged with their
// task id, and the worker keeps serving.
func TestPoisonMessagesDeadLettered(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{MaxMessageSize: 4096, Concurrency: 1})
		c := h.newClient()

		cases := map[string]struct {
			m      *broker.Message
			reason string
		}{
			"p-json": {goodMessage(t, "p-json", "add", `[[4, 4], {}, {`), "not a JSON array"},
			"p-ctype": {func() *broker.Message {
				m := goodMessage(t, "p-ctype", "add", `[[1, 1], {}, null]`)
				m.ContentType = "application/x-python-serialize"
				return m
			}(), "content type"},
			"p-headers": {&broker.Message{ContentType: "application/json", CorrelationID: "p-headers", Body: []byte(`[[1, 1], {}, null]`)}, "protocol v1"},
			"p-big":     {goodMessage(t, "p-big", "echo", `[["`+strings.Repeat("x", 5000)+`"], {}, null]`), "max_message_size"},
			"p-retries": {func() *broker.Message {
				m := goodMessage(t, "p-retries", "add", `[[1, 1], {}, null]`)
				m.Headers["retries"] = "many"
				return m
			}(), "retries"},
		}
		for _, tc := range cases {
			h.rawPublish(h.queue, tc.m)
		}
		if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("2"), n("3")}}); err != nil || v != n("5") {
			t.Fatalf("good task after poison: %v %v", v, err)
		}
		dead := h.deadLetters(len(cases))
		for id, tc := range cases {
			if !strings.Contains(dead[id], tc.reason) {
				t.Errorf("%s: dead-letter reason %q, want it to mention %q", id, dead[id], tc.reason)
			}
			if !strings.Contains(h.logs.String(), "id="+id) {
				t.Errorf("%s: no log line naming the task id", id)
			}
		}
		if info, err := h.b.Inspect(h.ctx(), h.queue); err != nil || info.Ready != 0 {
			t.Errorf("task queue after poison: %+v %v", info, err)
		}
	})
}

// Bad arguments are the caller's mistake, not poison: the sender gets
// Python's TypeError, the message is acknowledged, never retried, not
// dead-lettered, and no ERROR is logged.
func TestCallerMistakesAnswerTypeErrorNotDeadLettered(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{Concurrency: 1})
		c := h.newClient()
		cases := map[string]struct{ body, want string }{
			"m-arity": {`[[1], {}, null]`, "missing 1 required positional argument"},
			"m-type":  {`[["a", 1], {}, null]`, "want a number"},
		}
		results := map[string]*queue.AsyncResult{}
		for id, tc := range cases {
			m := goodMessage(t, id, "add", tc.body)
			m.ReplyTo = c.ReplyTo()
			m.Headers["retries"] = 0
			results[id] = c.Result(id)
			h.rawPublish(h.queue, m)
		}
		for id, tc := range cases {
			_, err := results[id].Get(h.ctx())
			var re *celery.RemoteError
			if !errors.As(err, &re) || re.Type != "TypeError" || !strings.Contains(re.Error(), tc.want) {
				t.Errorf("%s: sender got %v, want TypeError mentioning %q", id, err, tc.want)
			}
		}
		if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("2"), n("3")}}); err != nil || v != n("5") {
			t.Fatalf("good task after the mistakes: %v %v", v, err)
		}
		for _, q := range []string{h.queue, h.queue + ".dead"} {
			if info, err := h.b.Inspect(h.ctx(), q); err != nil || info.Ready != 0 || info.Unacked > 0 {
				t.Errorf("%s after the mistakes: %+v %v, want empty", q, info, err)
			}
		}
		if logs := h.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "RETRY") {
			t.Errorf("a caller's mistake was logged as an error or retried:\n%s", logs)
		}
	})
}

// A message redelivered past max_redeliveries goes to <queue>.dead; one
// below is counted (x-dsys-starts, on AMQP) and served.
func TestRedeliveryCountingAndDeadLetter(t *testing.T) {
	h := newHarness(t)
	if err := h.b.Declare(h.ctx(), broker.QueueSpec{Name: h.queue, Kind: broker.TaskQueue}); err != nil {
		t.Fatal(err)
	}
	c := h.newClient()
	// Two tasks: one already redelivered 3 times, one 5 times (the max).
	below, err := c.Send(h.ctx(), &celery.Task{Name: "add", Args: []any{n("1"), n("1")}, Headers: map[string]any{"x-dsys-starts": int32(3)}})
	if err != nil {
		t.Fatal(err)
	}
	over, err := c.Send(h.ctx(), &celery.Task{Name: "add", Args: []any{n("2"), n("2")}, Headers: map[string]any{"x-dsys-starts": int32(5)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ar := range []*queue.AsyncResult{below, over} {
		if err := ar.Sent(h.ctx()); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer takes both and dies without acking: both come back redelivered.
	cons, err := h.b.Consume(h.ctx(), h.queue, broker.ConsumeOptions{Prefetch: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-cons.Deliveries():
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
	}
	cons.Close()
	h.startWorker(queue.WorkerConfig{MaxRedeliveries: 5})
	if v, err := below.Get(h.ctx()); err != nil || v != n("2") {
		t.Fatalf("task redelivered 4 times: %v %v", v, err)
	}
	dead := h.deadLetters(1)
	if reason := dead[over.ID]; !strings.Contains(reason, "redelivered 6 times") {
		t.Fatalf("dead letters %v, want %s redelivered 6 times", dead, over.ID)
	}
	// Its sender hears of it, as from a Celery worker whose process died.
	_, err = over.Get(h.ctx())
	var re *celery.RemoteError
	if !errors.As(err, &re) || re.Type != "WorkerLostError" || re.Module != "billiard.exceptions" || !strings.Contains(re.Error(), "redelivered 6 times") {
		t.Fatalf("the dead-lettered task: %v, want WorkerLostError (it must not have run)", err)
	}
}

// Two copies of one message (a RabbitMQ transaction cut by a broker
// restart leaves them) that reach one worker together run once: the second
// waits for the first and is dropped once that committed.
func TestCopiesOfARunningMessageRunOnce(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		h.startWorker(queue.WorkerConfig{Concurrency: 2, Prefetch: 2})
		c := h.newClient()
		res := c.Result("copy-1")
		for range 2 {
			m := goodMessage(t, "copy-1", "sleep", `[[0.2], {}, null]`)
			m.ReplyTo = c.ReplyTo()
			h.rawPublish(h.queue, m)
		}
		if _, err := res.Get(h.ctx()); err != nil {
			t.Fatal(err)
		}
		if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("2"), n("3")}}); err != nil || v != n("5") {
			t.Fatalf("a task after the copies: %v %v", v, err)
		}
		logs := h.logs.String()
		if k := strings.Count(logs, `msg="task started" id=copy-1 `); k != 1 {
			t.Errorf("copy-1 started %d times, want 1", k)
		}
		if !strings.Contains(logs, "already done") {
			t.Errorf("the second copy was not dropped as already done")
		}
		if info, err := h.b.Inspect(h.ctx(), h.queue); err != nil || info.Ready != 0 || info.Unacked > 0 {
			t.Errorf("queue after the copies: %+v %v", info, err)
		}
	})
}
