package queue

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// fakeTransport is an in-memory broker.Transport for unit tests of the
// worker's flow: the test hands deliveries in and watches the commits.
type fakeTransport struct {
	deliveries chan *broker.Delivery
	commits    chan broker.Commit
	cancelOnce sync.Once
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{deliveries: make(chan *broker.Delivery), commits: make(chan broker.Commit, 16)}
}

func (f *fakeTransport) Declare(context.Context, broker.QueueSpec) error { return nil }
func (f *fakeTransport) Publish(context.Context, broker.Publishing) (broker.Confirm, error) {
	return broker.Confirmed, nil
}
func (f *fakeTransport) Consume(context.Context, string, broker.ConsumeOptions) (broker.Consumer, error) {
	return fakeConsumer{f}, nil
}
func (f *fakeTransport) Inspect(context.Context, string) (broker.QueueInfo, error) {
	return broker.QueueInfo{}, nil
}
func (f *fakeTransport) Purge(context.Context, string) (int, error) { return 0, nil }
func (f *fakeTransport) Delete(context.Context, string) error       { return nil }
func (f *fakeTransport) Results() broker.ResultBackend              { return nil }
func (f *fakeTransport) Close() error                               { return nil }

// Commit implements broker.Settler.
func (f *fakeTransport) Commit(_ context.Context, _ *broker.Delivery, c broker.Commit) error {
	f.commits <- c
	return nil
}

type fakeConsumer struct{ f *fakeTransport }

func (c fakeConsumer) Deliveries() <-chan *broker.Delivery { return c.f.deliveries }
func (c fakeConsumer) Cancel() error {
	c.f.cancelOnce.Do(func() { close(c.f.deliveries) })
	return nil
}
func (c fakeConsumer) Close() error { return c.Cancel() }

// startFakeWorker runs a one-slot worker with the built-ins on f's queue
// "q" until the test ends, and returns once it is ready.
func startFakeWorker(t *testing.T, f *fakeTransport) {
	t.Helper()
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	w := NewWorker(f, reg, WorkerConfig{Queues: []string{"q"}, Concurrency: 1})
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

// A run's outcome is committed, and a redelivery of that same run (its
// batched ack lost with the connection) is acked without running again;
// a redelivered retry of the same task id (retries+1) is another run.
func TestRedeliveryOfCommittedRunIsDropped(t *testing.T) {
	f := newFakeTransport()
	startFakeWorker(t, f)
	deliver := func(retries, started int) broker.Commit {
		t.Helper()
		m, err := celery.EncodeTask(&celery.Task{ID: "t1", Name: "add", Args: []any{json.Number("1"), json.Number("2")},
			ReplyTo: "r", Retries: retries})
		if err != nil {
			t.Fatal(err)
		}
		f.deliveries <- &broker.Delivery{Message: *m, Queue: "q", Started: started, Settler: f}
		select {
		case c := <-f.commits:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no commit")
		}
		return broker.Commit{}
	}
	if c := deliver(0, 0); c.Settle != broker.Ack || len(c.Results) != 1 || c.Results[0].State != "SUCCESS" {
		t.Fatalf("first run committed %+v", c)
	}
	if c := deliver(0, 1); c.Settle != broker.Ack || len(c.Results)+len(c.Publish) != 0 {
		t.Fatalf("the redelivery of a committed run committed %+v, want a bare ack", c)
	}
	if c := deliver(1, 1); len(c.Results) != 1 || c.Results[0].State != "SUCCESS" {
		t.Fatalf("a redelivered retry committed %+v, want it run", c)
	}
}
