package queue

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBroker is an in-memory Broker for unit tests of the worker's logic:
// the test hands deliveries in and watches publishes and settlements.
type fakeBroker struct {
	deliveries chan *Delivery
	published  chan fakePublish
	cancelOnce sync.Once
	down       atomic.Bool // the connection is lost: Publish waits (bounded by ctx)
}

type fakePublish struct {
	queue string
	m     *Message
}

func newFakeBroker() *fakeBroker {
	return &fakeBroker{deliveries: make(chan *Delivery), published: make(chan fakePublish, 16)}
}

func (f *fakeBroker) Declare(context.Context, QueueSpec) error { return nil }
func (f *fakeBroker) Publish(ctx context.Context, q string, m *Message) (Confirm, error) {
	if f.down.Load() {
		<-ctx.Done() // as a transport waiting for its reconnection
		return nil, ctx.Err()
	}
	f.published <- fakePublish{q, m}
	return doneConfirm{}, nil
}
func (f *fakeBroker) PublishAt(ctx context.Context, q string, m *Message, _ time.Time) (Confirm, error) {
	return f.Publish(ctx, q, m)
}
func (f *fakeBroker) Consume(context.Context, string, ConsumeOptions) (Consumer, error) {
	return fakeConsumer{f}, nil
}
func (f *fakeBroker) Inspect(context.Context, string) (QueueInfo, error) { return QueueInfo{}, nil }
func (f *fakeBroker) Purge(context.Context, string) (int, error)         { return 0, nil }
func (f *fakeBroker) Delete(context.Context, string) error               { return nil }
func (f *fakeBroker) Close() error                                       { return nil }

type fakeConsumer struct{ f *fakeBroker }

func (c fakeConsumer) Deliveries() <-chan *Delivery { return c.f.deliveries }
func (c fakeConsumer) Cancel() error {
	c.f.cancelOnce.Do(func() { close(c.f.deliveries) })
	return nil
}
func (c fakeConsumer) Close() error { return c.Cancel() }

// fakeAcker reports each settlement of a delivery on a channel.
type fakeAcker struct{ settled chan string }

func (a fakeAcker) Ack(d *Delivery) error { a.settled <- "ack"; return nil }
func (a fakeAcker) Reject(d *Delivery, requeue bool) error {
	if requeue {
		a.settled <- "requeue"
	} else {
		a.settled <- "drop"
	}
	return nil
}

// Acks are batched, so a worker can publish a task's result and lose the
// connection before the ack leaves: the broker redelivers the task. The
// worker that ran it must drop the redelivery instead of running the task
// and publishing a second SUCCESS; a redelivered retry of the same task id
// (retries+1) is another run and is not dropped.
func TestRedeliveryOfFinishedTaskIsDropped(t *testing.T) {
	fb := newFakeBroker()
	startFakeWorker(t, fb)

	settled := make(chan string, 4)
	deliver := func(retries int, redelivered bool) {
		t.Helper()
		m, err := EncodeTask(&Task{ID: "t1", Name: "add", Args: []any{json.Number("1"), json.Number("2")},
			ReplyTo: "r", Retries: retries})
		if err != nil {
			t.Fatal(err)
		}
		fb.deliveries <- &Delivery{Message: *m, Queue: "q", Redelivered: redelivered, Acker: fakeAcker{settled}}
	}
	expect := func(what string) {
		t.Helper()
		select {
		case got := <-settled:
			if got != what {
				t.Fatalf("settled with %s, want %s", got, what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("not settled (want %s)", what)
		}
	}
	published := func() []fakePublish { // everything published so far
		var out []fakePublish
		for {
			select {
			case p := <-fb.published:
				out = append(out, p)
			default:
				return out
			}
		}
	}

	deliver(0, false)
	expect("ack")
	if p := published(); len(p) != 1 || p[0].queue != "r" {
		t.Fatalf("first run published %v, want one result to r", p)
	}
	// The ack never reached the broker: the same message comes back.
	deliver(0, true)
	expect("ack") // every publish happens before the settlement
	if p := published(); len(p) != 0 {
		t.Fatalf("the redelivery of a finished task published %d messages (to %s)", len(p), p[0].queue)
	}
	// A redelivered retry of t1 is counted and re-queued, not dropped.
	deliver(1, true)
	expect("ack")
	if p := published(); len(p) != 1 || p[0].queue != "q" || p[0].m.Headers[headerRedeliveries] != int32(1) {
		t.Fatalf("the redelivered retry published %v, want it re-queued with a redelivery count", p)
	}
}

// A task finishing while the connection is down must not wait for the
// reconnection to publish its result: its delivery is redelivered, and the
// redelivery publishes. The worker requeues it (in vain: the broker does
// it anyway) and publishes nothing.
func TestNoPublishWhileDisconnected(t *testing.T) {
	fb := newFakeBroker()
	startFakeWorker(t, fb)
	m, err := EncodeTask(&Task{ID: "t2", Name: "add", Args: []any{json.Number("1"), json.Number("2")}, ReplyTo: "r"})
	if err != nil {
		t.Fatal(err)
	}
	fb.down.Store(true)
	settled := make(chan string, 1)
	fb.deliveries <- &Delivery{Message: *m, Queue: "q", Acker: fakeAcker{settled}}
	select {
	case got := <-settled:
		if got != "requeue" {
			t.Fatalf("settled with %s, want requeue", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker waited for the connection instead of giving the task back")
	}
	select {
	case p := <-fb.published:
		t.Fatalf("published to %s while disconnected", p.queue)
	default:
	}
}

// startFakeWorker runs a one-slot worker with the built-ins on fb's queue
// "q" until the test ends, and returns once it is ready.
func startFakeWorker(t *testing.T, fb *fakeBroker) {
	t.Helper()
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	w := NewWorker(fb, reg, WorkerConfig{Queues: []string{"q"}, Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	<-w.Ready()
}
