// Package brokertest is the conformance suite every queue.Broker transport
// passes, so the worker and the client run unchanged on any of them.
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, func(t testing.TB) queue.Broker { return openMyBroker(t) })
//	}
//
// Open returns a fresh broker per sub-test (closed by the suite); queue
// names are unique per test, so transports may share a server.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
)

// Open connects a fresh broker for one test.
type Open func(t testing.TB) queue.Broker

// wait bounds every expectation of the suite.
const wait = 10 * time.Second

// quiet is how long the suite watches for a message that must not come.
const quiet = 300 * time.Millisecond

// Run runs the whole suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b queue.Broker)
	}{
		{"DeclareIsIdempotent", testDeclare},
		{"RoundTripKeepsEveryField", testRoundTrip},
		{"PublishIsConfirmed", testConfirm},
		{"PublishWithDoneContextWhenConnected", testPublishDoneCtx},
		{"PrefetchBoundsUnsettled", testPrefetch},
		{"RejectRequeueRedelivers", testRejectRequeue},
		{"RejectDropRemoves", testRejectDrop},
		{"CloseConsumerRequeuesUnsettled", testCloseRequeues},
		{"SettleAfterCancel", testSettleAfterCancel},
		{"ReplyQueueAutoAck", testReplyQueue},
		{"PublishAtDelays", testPublishAt},
		{"LongDelayDoesNotBlockShort", testDelayOrder},
		{"InspectCounts", testInspect},
		{"PurgeDropsReady", testPurge},
		{"MissingQueue", testMissing},
		{"ConcurrentPublishers", testConcurrent},
		{"CloseEndsConsumers", func(t *testing.T, b queue.Broker) {
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
func taskQueue(t *testing.T, b queue.Broker) string {
	t.Helper()
	name := testenv.UniqueName(t, "conf")
	if err := b.Declare(ctxFor(t), queue.QueueSpec{Name: name, Kind: queue.TaskQueue}); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = b.Delete(ctx, name)
	})
	return name
}

func msg(i int) *queue.Message {
	return &queue.Message{ContentType: "application/json", ContentEncoding: "utf-8",
		CorrelationID: fmt.Sprintf("id-%d", i), Persistent: true, Body: []byte(fmt.Sprintf("[%d]", i))}
}

func publish(t *testing.T, b queue.Broker, q string, m *queue.Message) {
	t.Helper()
	ctx := ctxFor(t)
	c, err := b.Publish(ctx, q, m)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := queue.WaitConfirm(ctx, c); err != nil {
		t.Fatalf("confirm: %v", err)
	}
}

func consume(t *testing.T, b queue.Broker, q string, opts queue.ConsumeOptions) queue.Consumer {
	t.Helper()
	c, err := b.Consume(ctxFor(t), q, opts)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func next(t *testing.T, c queue.Consumer) *queue.Delivery {
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

func none(t *testing.T, c queue.Consumer) {
	t.Helper()
	select {
	case d, ok := <-c.Deliveries():
		if ok {
			t.Fatalf("unexpected delivery %s", d.CorrelationID)
		}
	case <-time.After(quiet):
	}
}

func ack(t *testing.T, d *queue.Delivery) {
	t.Helper()
	if err := d.Ack(); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func testDeclare(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	for _, k := range []queue.QueueKind{queue.TaskQueue} {
		if err := b.Declare(ctx, queue.QueueSpec{Name: q, Kind: k}); err != nil {
			t.Fatalf("second Declare: %v", err)
		}
	}
	dl := q + ".dead"
	for range 2 {
		if err := b.Declare(ctx, queue.QueueSpec{Name: dl, Kind: queue.DeadLetterQueue}); err != nil {
			t.Fatalf("Declare dead-letter queue: %v", err)
		}
	}
	t.Cleanup(func() { _ = b.Delete(context.Background(), dl) })
	info, err := b.Inspect(ctx, q)
	if err != nil || info.Ready != 0 || info.Name != q {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
}

func testRoundTrip(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	m := &queue.Message{
		ContentType: "application/json", ContentEncoding: "utf-8", CorrelationID: "cid", ReplyTo: "rq",
		Persistent: true, Priority: 3,
		Headers: map[string]any{"s": "x", "i32": int32(-7), "i64": int64(1) << 40, "b": true, "n": nil,
			"f": 1.5, "l": []any{"a", int32(1), nil}, "m": map[string]any{"k": "v"}},
		Body: []byte(`[[4, 4], {}, null]`),
	}
	publish(t, b, q, m)
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
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

func testConfirm(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	c, err := b.Publish(ctx, q, msg(1))
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

func testPrefetch(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	for i := range 5 {
		publish(t, b, q, msg(i))
	}
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 2})
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

func testRejectRequeue(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	if err := d.Reject(true); err != nil {
		t.Fatal(err)
	}
	d = next(t, c)
	if !d.Redelivered || d.CorrelationID != "id-1" {
		t.Fatalf("requeued delivery: redelivered=%v id=%s", d.Redelivered, d.CorrelationID)
	}
	ack(t, d)
}

func testRejectDrop(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	publish(t, b, q, msg(2))
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	if err := d.Reject(false); err != nil {
		t.Fatal(err)
	}
	d = next(t, c)
	if d.CorrelationID != "id-2" || d.Redelivered {
		t.Fatalf("after a drop got %s redelivered=%v", d.CorrelationID, d.Redelivered)
	}
	ack(t, d)
	none(t, c)
}

func testCloseRequeues(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c1, err := b.Consume(ctxFor(t), q, queue.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	next(t, c1)
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
	d := next(t, c2)
	if !d.Redelivered || d.CorrelationID != "id-1" {
		t.Fatalf("after Close: redelivered=%v id=%s", d.Redelivered, d.CorrelationID)
	}
	ack(t, d)
}

func testSettleAfterCancel(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	publish(t, b, q, msg(1))
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
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

func testReplyQueue(t *testing.T, b queue.Broker) {
	ctx := ctxFor(t)
	q := testenv.UniqueName(t, "reply")
	if err := b.Declare(ctx, queue.QueueSpec{Name: q, Kind: queue.ReplyQueue, Expires: time.Minute}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Delete(context.Background(), q) })
	c := consume(t, b, q, queue.ConsumeOptions{AutoAck: true})
	m := &queue.Message{ContentType: "application/json", CorrelationID: "r1", Body: []byte(`{}`)}
	publish(t, b, q, m)
	d := next(t, c)
	if d.CorrelationID != "r1" || d.Persistent {
		t.Fatalf("reply: %+v", d.Message)
	}
	info, err := b.Inspect(ctx, q)
	if err != nil || info.Ready != 0 || info.Consumers != 1 {
		t.Fatalf("auto-acked reply queue: %+v, %v", info, err)
	}
}

func testPublishAt(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
	delay := 1500 * time.Millisecond
	start := time.Now()
	conf, err := b.PublishAt(ctx, q, msg(1), start.Add(delay))
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.WaitConfirm(ctx, conf); err != nil {
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
	conf, err = b.PublishAt(ctx, q, msg(2), time.Now().Add(-time.Hour))
	if err != nil || queue.WaitConfirm(ctx, conf) != nil {
		t.Fatal(err)
	}
	ack(t, next(t, c))
}

func testDelayOrder(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
	for i, d := range []time.Duration{time.Hour, 1200 * time.Millisecond} {
		conf, err := b.PublishAt(ctx, q, msg(i), time.Now().Add(d))
		if err != nil || queue.WaitConfirm(ctx, conf) != nil {
			t.Fatal(err)
		}
	}
	d := next(t, c)
	if d.CorrelationID != "id-1" {
		t.Fatalf("got %s first, want the short delay", d.CorrelationID)
	}
	ack(t, d)
}

func testInspect(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	for i := range 3 {
		publish(t, b, q, msg(i))
	}
	info, err := b.Inspect(ctx, q)
	if err != nil || info.Ready != 3 || info.Consumers != 0 {
		t.Fatalf("Inspect = %+v, %v (want 3 ready, 0 consumers)", info, err)
	}
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 1})
	d := next(t, c)
	info, err = b.Inspect(ctx, q)
	if err != nil || info.Ready != 2 || info.Consumers != 1 {
		t.Fatalf("Inspect = %+v, %v (want 2 ready, 1 consumer)", info, err)
	}
	if info.Unacked != -1 && info.Unacked != 1 {
		t.Fatalf("Unacked = %d, want 1 or -1 (unknown)", info.Unacked)
	}
	ack(t, d)
}

func testPurge(t *testing.T, b queue.Broker) {
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

func testMissing(t *testing.T, b queue.Broker) {
	ctx := ctxFor(t)
	q := testenv.UniqueName(t, "missing")
	if _, err := b.Inspect(ctx, q); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Errorf("Inspect missing: %v", err)
	}
	if _, err := b.Purge(ctx, q); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Errorf("Purge missing: %v", err)
	}
	if _, err := b.Consume(ctx, q, queue.ConsumeOptions{}); !errors.Is(err, queue.ErrQueueNotFound) {
		t.Errorf("Consume missing: %v", err)
	}
	// The broker stays usable.
	publish(t, b, taskQueue(t, b), msg(1))
}

func testConcurrent(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	ctx := ctxFor(t)
	const writers, each = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			confs := make([]queue.Confirm, 0, each)
			for i := range each {
				c, err := b.Publish(ctx, q, msg(w*each+i))
				if err != nil {
					errs <- err
					return
				}
				confs = append(confs, c)
			}
			for _, c := range confs {
				if err := queue.WaitConfirm(ctx, c); err != nil {
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
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: 50})
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

func testClose(t *testing.T, b, other queue.Broker) {
	q := taskQueue(t, other)
	c, err := b.Consume(ctxFor(t), q, queue.ConsumeOptions{Prefetch: 1})
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
	if _, err := b.Publish(ctxFor(t), q, msg(1)); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

// testBatchedAcks settles deliveries out of order with BatchAcks — acks,
// drops and a requeue mixed — and checks that nothing is left unsettled:
// no delivery comes back to the next consumer.
func testBatchedAcks(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	const n = 40
	for i := range n {
		publish(t, b, q, msg(i))
	}
	c1, err := b.Consume(ctxFor(t), q, queue.ConsumeOptions{Prefetch: n, BatchAcks: true})
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]*queue.Delivery, n)
	for i := range ds {
		ds[i] = next(t, c1)
	}
	// Settle from both ends inwards: every ack but the last leaves a gap.
	var requeued string
	for i := range n / 2 {
		for _, d := range []*queue.Delivery{ds[n-1-i], ds[i]} {
			switch {
			case i == 5:
				if err := d.Reject(false); err != nil {
					t.Fatal(err)
				}
			case i == 7 && requeued == "":
				requeued = d.CorrelationID
				if err := d.Reject(true); err != nil {
					t.Fatal(err)
				}
			default:
				ack(t, d)
			}
		}
	}
	d := next(t, c1)
	if d.CorrelationID != requeued || !d.Redelivered {
		t.Fatalf("requeued %s, got %s (redelivered %v)", requeued, d.CorrelationID, d.Redelivered)
	}
	ack(t, d)
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	none(t, consume(t, b, q, queue.ConsumeOptions{Prefetch: n}))
}

// testBatchedAckGap holds the first delivery unsettled and acks the rest:
// batched acks behind that gap must still reach the broker, or the
// prefetch window would stay full and nothing more would come.
func testBatchedAckGap(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	const prefetch, n = 8, 24
	for i := range n {
		publish(t, b, q, msg(i))
	}
	c := consume(t, b, q, queue.ConsumeOptions{Prefetch: prefetch, BatchAcks: true})
	first := next(t, c)
	for range n - 1 {
		ack(t, next(t, c))
	}
	ack(t, first)
	none(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	none(t, consume(t, b, q, queue.ConsumeOptions{Prefetch: n}))
}

// testBatchedAcksClose acks a few deliveries that a batching transport
// keeps waiting (a long AckDelay, fewer than a batch): Close must send them.
func testBatchedAcksClose(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	for i := range 3 {
		publish(t, b, q, msg(i))
	}
	c, err := b.Consume(ctxFor(t), q, queue.ConsumeOptions{Prefetch: 64, BatchAcks: true, AckDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ack(t, next(t, c))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	none(t, consume(t, b, q, queue.ConsumeOptions{Prefetch: 64}))
}

// testPublishDoneCtx: a done context only forbids waiting for a
// reconnection; connected, Publish still publishes.
func testPublishDoneCtx(t *testing.T, b queue.Broker) {
	q := taskQueue(t, b)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := b.Publish(done, q, msg(1))
	if err != nil {
		t.Fatalf("Publish with a done context while connected: %v", err)
	}
	if err := queue.WaitConfirm(ctxFor(t), c); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	d := next(t, consume(t, b, q, queue.ConsumeOptions{Prefetch: 1}))
	if d.CorrelationID != "id-1" {
		t.Fatalf("got %s", d.CorrelationID)
	}
	ack(t, d)
}
