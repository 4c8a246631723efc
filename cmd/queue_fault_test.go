package cmd

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// A worker killed with SIGKILL mid-task loses nothing: the task completes
// on a second worker and exactly one SUCCESS reaches the client.
func TestQueueWorkerSIGKILLMidTask(t *testing.T) {
	brokerURL, q := queueEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, brokerURL, amqp.Options{ManagementURL: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	reply := testenv.UniqueName(t, "reply")
	if err := b.Declare(ctx, broker.QueueSpec{Name: reply, Kind: broker.DeadLetterQueue}); err != nil {
		t.Fatal(err)
	}
	defer b.Delete(context.Background(), reply)
	results, err := b.Consume(ctx, reply, broker.ConsumeOptions{Prefetch: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()

	args := []string{"--broker", brokerURL, "--queue", q, "--concurrency", "1", "--log-level", "debug"}
	first := startWorkerProc(t, args...)
	c, err := queue.NewClient(ctx, b, queue.ClientConfig{Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Submit(ctx, &celery.Task{Name: "sleep", Args: []any{1.5}, ReplyTo: reply}); err != nil {
		t.Fatal(err)
	}
	first.waitFor(t, "task started")
	second := startWorkerProc(t, args...)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited

	select {
	case d := <-results.Deliveries():
		r, err := celery.DecodeResult(d.Body, d.CorrelationID)
		if err != nil || r.State != celery.StateSuccess {
			t.Fatalf("result %+v %v", r, err)
		}
		_ = d.Commit(ctx, broker.Commit{})
	case <-ctx.Done():
		t.Fatal("the killed worker's task never completed")
	}
	second.waitFor(t, "state=SUCCESS")
	select {
	case d := <-results.Deliveries():
		t.Fatalf("a second result: %s", d.Body)
	case <-time.After(time.Second):
	}
	if info, err := b.Inspect(ctx, q); err != nil || info.Ready != 0 {
		t.Fatalf("queue after recovery: %+v %v", info, err)
	}
}
