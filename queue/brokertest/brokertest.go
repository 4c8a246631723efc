// Package brokertest is the conformance suite every broker.Transport transport
// passes, so the worker and the client run unchanged on any of them.
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, func(t testing.TB) broker.Transport { return openMyBroker(t) })
//	}
//
// Open returns a fresh broker per sub-test (closed by the suite); queue
// names are unique per test, so transports may share a server.
package brokertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/broker"
)

// Open connects a fresh broker for one test.
type Open func(t testing.TB) broker.Transport

// wait bounds every expectation of the suite.
const wait = 10 * time.Second

// quiet is how long the suite watches for a message that must not come.
const quiet = 300 * time.Millisecond

// Run runs the whole suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b broker.Transport)
	}{
		{"DeclareIsIdempotent", testDeclare},
		{"RoundTripKeepsEveryField", testRoundTrip},
		{"PublishIsConfirmed", testConfirm},
		{"PublishWithDoneContextWhenConnected", testPublishDoneCtx},
		{"PrefetchBoundsUnsettled", testPrefetch},
		{"RequeueCountsStart", testRequeueCounts},
		{"AckRemoves", testAckRemoves},
		{"ReleaseNotCounted", testReleaseNotCounted},
		{"CommitPublishes", testCommitPublishes},
		{"CloseConsumerRequeuesUnsettled", testCloseRequeues},
		{"SettleAfterCancel", testSettleAfterCancel},
		{"Results", testResults},
		{"PublishAtDelays", testPublishAt},
		{"LongDelayDoesNotBlockShort", testDelayOrder},
		{"InspectCounts", testInspect},
		{"PurgeDropsReady", testPurge},
		{"MissingQueue", testMissing},
		{"ConcurrentPublishers", testConcurrent},
		{"CloseEndsConsumers", func(t *testing.T, b broker.Transport) {
			other := open(t) // declares and, after b is closed, deletes the queue
			t.Cleanup(func() { other.Close() })
			testClose(t, b, other)
		}},
		{"BatchedAcksSettleOutOfOrder", testBatchedAcks},
		{"BatchedAcksSentOnClose", testBatchedAcksClose},
		{"BatchedAcksDoNotHoldPrefetch", testBatchedAckGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() { b.Close() })
			tt.fn(t, b)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	t.Cleanup(cancel)
	return ctx
}

// taskQueue declares a unique task queue, deleted after the test.
func taskQueue(t *testing.T, b broker.Transport) string {
	t.Helper()
	name := testenv.UniqueName(t, "conf")
	if err := b.Declare(ctxFor(t), broker.QueueSpec{Name: name, Kind: broker.TaskQueue}); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = b.Delete(ctx, name)
	})
	return name
}

func msg(i int) *broker.Message {
	return &broker.Message{ContentType: "application/json", ContentEncoding: "utf-8",
		CorrelationID: fmt.Sprintf("id-%d", i), Persistent: true, Body: []byte(fmt.Sprintf("[%d]", i))}
}

func publish(t *testing.T, b broker.Transport, q string, m *broker.Message) {
	t.Helper()
	ctx := ctxFor(t)
	c, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: m})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := broker.WaitConfirm(ctx, c); err != nil {
		t.Fatalf("confirm: %v", err)
	}
}

func consume(t *testing.T, b broker.Transport, q string, opts broker.ConsumeOptions) broker.Consumer {
	t.Helper()
	c, err := b.Consume(ctxFor(t), q, opts)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func next(t *testing.T, c broker.Consumer) *broker.Delivery {
	t.Helper()
	select {
	case d, ok := <-c.Deliveries():
		if !ok {
			t.Fatal("deliveries closed")
		}
		return d
	case <-time.After(wait):
		t.Fatal("no delivery within", wait)
	}
	return nil
}

func none(t *testing.T, c broker.Consumer) {
	t.Helper()
	select {
	case d, ok := <-c.Deliveries():
		if ok {
			t.Fatalf("unexpected delivery %s", d.CorrelationID)
		}
	case <-time.After(quiet):
	}
}

func ack(t *testing.T, d *broker.Delivery) {
	t.Helper()
	settle(t, d, broker.Commit{})
}

func settle(t *testing.T, d *broker.Delivery, c broker.Commit) {
	t.Helper()
	if err := d.Commit(ctxFor(t), c); err != nil {
		t.Fatalf("Commit (%s): %v", c.Settle, err)
	}
}

func testDeclare(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	for _, k := range []broker.QueueKind{broker.TaskQueue} {
		if err := b.Declare(ctx, broker.QueueSpec{Name: q, Kind: k}); err != nil {
			t.Fatalf("second Declare: %v", err)
		}
	}
	dl := q + ".dead"
	for range 2 {
		if err := b.Declare(ctx, broker.QueueSpec{Name: dl, Kind: broker.DeadLetterQueue}); err != nil {
			t.Fatalf("Declare dead-letter queue: %v", err)
		}
	}
	t.Cleanup(func() { _ = b.Delete(context.Background(), dl) })
	info, err := b.Inspect(ctx, q)
	if err != nil || info.Ready != 0 || info.Name != q {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
}

func testRoundTrip(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	m := &broker.Message{
		ContentType: "application/json", ContentEncoding: "utf-8", CorrelationID: "cid", ReplyTo: "rq",
		Persistent: true, Priority: 3,
		Headers: map[string]any{"s": "x", "i32": int32(-7), "i64": int64(1) << 40, "b": true, "n": nil,
			"f": 1.5, "l": []any{"a", int32(1), nil}, "m": map[string]any{"k": "v"}},
		Body: []byte(`[[4, 4], {}, null]`),
	}
	publish(t, b, q, m)
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	if d.Queue != q || d.Redelivered {
		t.Errorf("queue %q redelivered %v", d.Queue, d.Redelivered)
	}
	got := d.Message
	if !reflect.DeepEqual(&got, m) {
		t.Errorf("message changed in transit:\n got  %#v\n want %#v", got, *m)
	}
	ack(t, d)
}

func testConfirm(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	c, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: msg(1)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
		if c.Err() != nil {
			t.Fatalf("confirm error: %v", c.Err())
		}
	case <-time.After(wait):
		t.Fatal("no confirm")
	}
	info, err := b.Inspect(ctx, q)
	if err != nil || info.Ready != 1 {
		t.Fatalf("after a confirmed publish Inspect = %+v, %v", info, err)
	}
}

func testPrefetch(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	for i := range 5 {
		publish(t, b, q, msg(i))
	}
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 2})
	d1, d2 := next(t, c), next(t, c)
	none(t, c)
	ack(t, d1)
	d3 := next(t, c)
	none(t, c)
	ack(t, d2)
	ack(t, d3)
	for range 2 {
		ack(t, next(t, c))
	}
}

func testRequeueCounts(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	if d.Started != 0 {
		t.Fatalf("first delivery: Started=%d", d.Started)
	}
	settle(t, d, broker.Commit{Settle: broker.Requeue})
	d = next(t, c)
	if d.Started != 1 || d.CorrelationID != "id-1" {
		t.Fatalf("requeued delivery: started=%d id=%s, want 1 and id-1", d.Started, d.CorrelationID)
	}
	settle(t, d, broker.Commit{Settle: broker.Requeue})
	if d = next(t, c); d.Started != 2 {
		t.Fatalf("requeued twice: started=%d", d.Started)
	}
	ack(t, d)
}

func testAckRemoves(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	publish(t, b, q, msg(2))
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	ack(t, next(t, c))
	d := next(t, c)
	if d.CorrelationID != "id-2" || d.Started != 0 {
		t.Fatalf("after an ack got %s started=%d", d.CorrelationID, d.Started)
	}
	ack(t, d)
	none(t, c)
}

// testReleaseNotCounted: a released delivery (received, never started)
// comes back without counting a start; at a later time when asked.
func testReleaseNotCounted(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	settle(t, next(t, c), broker.Commit{Settle: broker.Release})
	d := next(t, c)
	if d.CorrelationID != "id-1" || d.Started != 0 {
		t.Fatalf("released: %s started=%d, want id-1 and 0", d.CorrelationID, d.Started)
	}
	start := time.Now()
	settle(t, d, broker.Commit{Settle: broker.Release, At: start.Add(1200 * time.Millisecond)})
	d = next(t, c)
	if el := time.Since(start); d.Started != 0 || el < 600*time.Millisecond {
		t.Fatalf("released until later: back after %v, started=%d", el, d.Started)
	}
	ack(t, d)
}

// testCommitPublishes: what a commit carries (task messages, a delayed one,
// results) reaches its queues and the result backend, and the delivery is
// settled.
func testCommitPublishes(t *testing.T, b broker.Transport) {
	q, other := taskQueue(t, b), taskQueue(t, b)
	sub, err := b.Results().Subscribe(ctxFor(t), broker.SubscribeOptions{Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	watch(sub, "id-1")
	publish(t, b, q, msg(1))
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	res := broker.Result{TaskID: "id-1", ReplyTo: sub.ReplyTo(), State: "SUCCESS",
		Body: []byte(`{"task_id": "id-1", "status": "SUCCESS", "result": 2, "traceback": null, "children": []}`)}
	start := time.Now()
	settle(t, d, broker.Commit{Results: []broker.Result{res}, Publish: []broker.Publishing{
		{Queue: other, Message: msg(2)}, {Queue: other, Message: msg(3), At: start.Add(1100 * time.Millisecond)}}})
	select {
	case r := <-sub.Results():
		if r.TaskID != "id-1" || !sameResult(r.Body, res.Body) {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(wait):
		t.Fatal("no result")
	}
	oc := consume(t, b, other, broker.ConsumeOptions{Prefetch: 2})
	if d := next(t, oc); d.CorrelationID != "id-2" {
		t.Fatalf("first follow-up %s", d.CorrelationID)
	} else {
		ack(t, d)
	}
	if d := next(t, oc); d.CorrelationID != "id-3" || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("delayed follow-up %s after %v", d.CorrelationID, time.Since(start))
	} else {
		ack(t, d)
	}
	none(t, c) // the original was settled
}

func testCloseRequeues(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c1, err := b.Consume(ctxFor(t), q, broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	next(t, c1)
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	d := next(t, c2)
	if d.Started != 1 || d.CorrelationID != "id-1" {
		t.Fatalf("after Close: started=%d id=%s, want 1 and id-1", d.Started, d.CorrelationID)
	}
	ack(t, d)
}

func testSettleAfterCancel(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	if err := c.Cancel(); err != nil {
		t.Fatal(err)
	}
	for range c.Deliveries() { // drains and closes
	}
	publish(t, b, q, msg(2))
	ack(t, d)
	info, err := b.Inspect(ctxFor(t), q)
	if err != nil || info.Ready != 1 || info.Consumers != 0 {
		t.Fatalf("after Cancel and Ack: %+v, %v (want 1 ready, 0 consumers)", info, err)
	}
}

// watch tells a subscription that hears only of the tasks it is told of
// (broker.Watcher) about a task, as a client does before sending it.
func watch(sub broker.Subscription, id string) {
	if w, ok := sub.(broker.Watcher); ok {
		w.Watch(id)
	}
}

// sameResult reports whether a result document read back has every field
// of the one stored, unchanged; a backend may add fields of its own
// (Celery's Redis backend adds date_done).
func sameResult(got, stored []byte) bool {
	var g, s map[string]any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(stored, &s) != nil {
		return false
	}
	for k, v := range s {
		if gv, ok := g[k]; !ok || !reflect.DeepEqual(gv, v) {
			return false
		}
	}
	return true
}

// testResults: a result stored for a subscriber reaches it; a backend that
// keeps results by id returns it from Get, as often as asked.
func testResults(t *testing.T, b broker.Transport) {
	ctx := ctxFor(t)
	rb := b.Results()
	sub, err := rb.Subscribe(ctx, broker.SubscribeOptions{Expires: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	id := testenv.UniqueName(t, "task")
	r := broker.Result{TaskID: id, ReplyTo: sub.ReplyTo(), State: "SUCCESS",
		Body: []byte(`{"task_id": "` + id + `", "status": "SUCCESS", "result": 8, "traceback": null, "children": []}`)}
	watch(sub, id)
	if err := rb.Store(ctx, []broker.Result{r}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-sub.Results():
		if got.TaskID != id || !sameResult(got.Body, r.Body) {
			t.Fatalf("result %+v", got)
		}
	case <-time.After(wait):
		t.Fatal("no result")
	}
	for range 2 {
		got, err := rb.Get(ctx, id)
		switch {
		case errors.Is(err, broker.ErrResultsNotStored):
			return
		case err != nil:
			t.Fatal(err)
		case !sameResult(got.Body, r.Body) || got.State != "SUCCESS":
			t.Fatalf("Get: %+v", got)
		}
	}
	if _, err := rb.Get(ctx, id+".missing"); !errors.Is(err, broker.ErrResultNotFound) {
		t.Fatalf("Get of a missing result: %v", err)
	}
}

func testPublishAt(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	delay := 1500 * time.Millisecond
	start := time.Now()
	conf, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: msg(1), At: start.Add(delay)})
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.WaitConfirm(ctx, conf); err != nil {
		t.Fatal(err)
	}
	d := next(t, c)
	el := time.Since(start)
	if el < delay/2 || el > delay+2*time.Second {
		t.Fatalf("delivered after %v, want within [%v, %v]", el, delay/2, delay+2*time.Second)
	}
	if d.CorrelationID != "id-1" || string(d.Body) != "[1]" {
		t.Fatalf("delayed message changed: %+v", d.Message)
	}
	ack(t, d)
	// A time in the past is delivered at once.
	conf, err = b.Publish(ctx, broker.Publishing{Queue: q, Message: msg(2), At: time.Now().Add(-time.Hour)})
	if err != nil || broker.WaitConfirm(ctx, conf) != nil {
		t.Fatal(err)
	}
	ack(t, next(t, c))
}

func testDelayOrder(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	for i, d := range []time.Duration{time.Hour, 1200 * time.Millisecond} {
		conf, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: msg(i), At: time.Now().Add(d)})
		if err != nil || broker.WaitConfirm(ctx, conf) != nil {
			t.Fatal(err)
		}
	}
	d := next(t, c)
	if d.CorrelationID != "id-1" {
		t.Fatalf("got %s first, want the short delay", d.CorrelationID)
	}
	ack(t, d)
}

func testInspect(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	for i := range 3 {
		publish(t, b, q, msg(i))
	}
	info, err := b.Inspect(ctx, q)
	if err != nil || info.Ready != 3 || info.Consumers != 0 {
		t.Fatalf("Inspect = %+v, %v (want 3 ready, 0 consumers)", info, err)
	}
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	info, err = b.Inspect(ctx, q)
	// A transport may hold back up to a prefetch more while it claims
	// (AMQP's mover): ready is 2, or 1.
	if err != nil || info.Ready < 1 || info.Ready > 2 || info.Consumers != 1 {
		t.Fatalf("Inspect = %+v, %v (want 2 ready, or 1 with one held back, and 1 consumer)", info, err)
	}
	if info.Unacked != -1 && info.Unacked != 1 {
		t.Fatalf("Unacked = %d, want 1 or -1 (unknown)", info.Unacked)
	}
	ack(t, d)
}

func testPurge(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	for i := range 3 {
		publish(t, b, q, msg(i))
	}
	n, err := b.Purge(ctxFor(t), q)
	if err != nil || n != 3 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	info, err := b.Inspect(ctxFor(t), q)
	if err != nil || info.Ready != 0 {
		t.Fatalf("after purge: %+v, %v", info, err)
	}
}

func testMissing(t *testing.T, b broker.Transport) {
	ctx := ctxFor(t)
	q := testenv.UniqueName(t, "missing")
	if _, err := b.Inspect(ctx, q); !errors.Is(err, broker.ErrQueueNotFound) {
		t.Errorf("Inspect missing: %v", err)
	}
	if _, err := b.Purge(ctx, q); !errors.Is(err, broker.ErrQueueNotFound) {
		t.Errorf("Purge missing: %v", err)
	}
	if _, err := b.Consume(ctx, q, broker.ConsumeOptions{}); !errors.Is(err, broker.ErrQueueNotFound) {
		t.Errorf("Consume missing: %v", err)
	}
	// The broker stays usable.
	publish(t, b, taskQueue(t, b), msg(1))
}

func testConcurrent(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	const writers, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			confs := make([]broker.Confirm, 0, each)
			for i := range each {
				c, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: msg(w*each + i)})
				if err != nil {
					errs <- err
					return
				}
				confs = append(confs, c)
			}
			for _, c := range confs {
				if err := broker.WaitConfirm(ctx, c); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: 50})
	seen := map[string]bool{}
	for range writers * each {
		d := next(t, c)
		if seen[d.CorrelationID] {
			t.Fatalf("duplicate %s", d.CorrelationID)
		}
		seen[d.CorrelationID] = true
		ack(t, d)
	}
}

func testClose(t *testing.T, b, other broker.Transport) {
	q := taskQueue(t, other)
	c, err := b.Consume(ctxFor(t), q, broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-c.Deliveries():
		if ok {
			t.Fatal("delivery after Close")
		}
	case <-time.After(wait):
		t.Fatal("Deliveries not closed by broker Close")
	}
	if _, err := b.Publish(ctxFor(t), broker.Publishing{Queue: q, Message: msg(1)}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

// testBatchedAcks settles deliveries out of order with BatchAcks — acks,
// drops and a requeue mixed — and checks that nothing is left unsettled:
// no delivery comes back to the next consumer.
func testBatchedAcks(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	const n = 40
	for i := range n {
		publish(t, b, q, msg(i))
	}
	c1, err := b.Consume(ctxFor(t), q, broker.ConsumeOptions{Prefetch: n, BatchAcks: true})
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]*broker.Delivery, n)
	for i := range ds {
		ds[i] = next(t, c1)
	}
	// Settle from both ends inwards: every ack but the last leaves a gap.
	var requeued, released string
	for i := range n / 2 {
		for _, d := range []*broker.Delivery{ds[n-1-i], ds[i]} {
			switch {
			case i == 5:
				settle(t, d, broker.Commit{Settle: broker.Release})
				released = d.CorrelationID
			case i == 7 && requeued == "":
				requeued = d.CorrelationID
				settle(t, d, broker.Commit{Settle: broker.Requeue})
			default:
				ack(t, d)
			}
		}
	}
	back := map[string]int{}
	for range 3 { // the requeued one and the two released (i == 5, from both ends)
		d := next(t, c1)
		back[d.CorrelationID] = d.Started
		ack(t, d)
	}
	if s, ok := back[requeued]; !ok || s != 1 {
		t.Fatalf("requeued %s, got back %v (want it with started=1)", requeued, back)
	}
	if s, ok := back[released]; !ok || s != 0 {
		t.Fatalf("released %s, got back %v (want it with started=0)", released, back)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	none(t, consume(t, b, q, broker.ConsumeOptions{Prefetch: n}))
}

// testBatchedAckGap holds the first delivery unsettled and acks the rest:
// batched acks behind that gap must still reach the broker, or the
// prefetch window would stay full and nothing more would come.
func testBatchedAckGap(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	const prefetch, n = 8, 24
	for i := range n {
		publish(t, b, q, msg(i))
	}
	c := consume(t, b, q, broker.ConsumeOptions{Prefetch: prefetch, BatchAcks: true})
	first := next(t, c)
	for range n - 1 {
		ack(t, next(t, c))
	}
	ack(t, first)
	none(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	none(t, consume(t, b, q, broker.ConsumeOptions{Prefetch: n}))
}

// testBatchedAcksClose acks a few deliveries that a batching transport
// keeps waiting (a long AckDelay, fewer than a batch): Close must send them.
func testBatchedAcksClose(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	for i := range 3 {
		publish(t, b, q, msg(i))
	}
	c, err := b.Consume(ctxFor(t), q, broker.ConsumeOptions{Prefetch: 64, BatchAcks: true, AckDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ack(t, next(t, c))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	none(t, consume(t, b, q, broker.ConsumeOptions{Prefetch: 64}))
}

// testPublishDoneCtx: a done context only forbids waiting for a
// reconnection; connected, Publish still publishes.
func testPublishDoneCtx(t *testing.T, b broker.Transport) {
	q := taskQueue(t, b)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := b.Publish(done, broker.Publishing{Queue: q, Message: msg(1)})
	if err != nil {
		t.Fatalf("Publish with a done context while connected: %v", err)
	}
	if err := broker.WaitConfirm(ctxFor(t), c); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	d := next(t, consume(t, b, q, broker.ConsumeOptions{Prefetch: 1}))
	if d.CorrelationID != "id-1" {
		t.Fatalf("got %s", d.CorrelationID)
	}
	ack(t, d)
}
