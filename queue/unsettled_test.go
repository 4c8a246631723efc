package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// stalledSettler is a broker whose commits wait until the test lets one
// through: each commit reports itself on entered, then waits on release.
type stalledSettler struct {
	entered chan struct{}
	release chan struct{}
}

func (s *stalledSettler) Commit(ctx context.Context, _ *broker.Delivery, _ broker.Commit) error {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// While commits wait for the broker, a worker holding many more deliveries
// (a large prefetch) starts no task beyond maxUnsettled unsettled ones, and
// starts the next one only when a settlement is done: a SIGKILL can leave
// no more than that many tasks to run again.
func TestWorkerBoundsUnsettledTasks(t *testing.T) {
	f := newFakeTransport()
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	w := NewWorker(f, reg, WorkerConfig{Queues: []string{"q"}, Concurrency: 4, Prefetch: 512})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	s := &stalledSettler{entered: make(chan struct{}, 512), release: make(chan struct{})}
	t.Cleanup(func() {
		close(s.release)
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	<-w.Ready()
	const held = 3 * maxUnsettled
	for i := range held {
		m, err := celery.EncodeTask(&celery.Task{ID: fmt.Sprintf("t%d", i), Name: "add",
			Args: []any{json.Number("1"), json.Number("2")}, ReplyTo: "r"})
		if err != nil {
			t.Fatal(err)
		}
		f.deliveries <- &broker.Delivery{Message: *m, Queue: "q", Settler: s}
	}
	waitEntered := func(n int) {
		t.Helper()
		for i := range n {
			select {
			case <-s.entered:
			case <-time.After(10 * time.Second):
				t.Fatalf("%d commits began, want %d", i, n)
			}
		}
	}
	quiet := func() {
		t.Helper()
		select {
		case <-s.entered:
			t.Fatalf("a commit began beyond %d unsettled tasks", maxUnsettled)
		case <-time.After(300 * time.Millisecond): // the worker had time to start more
		}
	}
	waitEntered(maxUnsettled)
	quiet()
	for range 3 { // each settlement lets exactly one more task start
		s.release <- struct{}{}
		waitEntered(1)
		quiet()
	}
}
