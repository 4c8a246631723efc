package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// The broker stops and starts while tasks flow: the worker and the client
// reconnect, every task gets its result, and none runs twice unless the
// restart cut its commit. With prefetch 4 the
// worker acks each task at once; with 64 it batches acks, so tasks whose
// results are out but whose acks were still waiting come back and must be
// recognised as done. The broker is a RabbitMQ node of the test's own
// (testenv.StartRabbitMQ), never the shared one.
func TestBrokerRestartWhileTasksFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node of its own (about 10 s)")
	}
	for _, prefetch := range []int{4, 64} {
		t.Run(fmt.Sprintf("prefetch%d", prefetch), func(t *testing.T) { testBrokerRestart(t, prefetch) })
	}
}

func testBrokerRestart(t *testing.T, prefetch int) {
	node := testenv.StartRabbitMQ(t)
	h := newHarnessOn(t, node.URL)
	h.startWorker(queue.WorkerConfig{Concurrency: 2, Prefetch: prefetch})
	c := h.newClient()
	// Results are counted raw, on a reply queue of our own.
	reply := testenv.UniqueName(t, "reply")
	// A plain durable queue, consumed with acks: a result RabbitMQ
	// redelivers (our ack lost across the restart) is told apart.
	if err := h.b.Declare(h.ctx(), broker.QueueSpec{Name: reply, Kind: broker.DeadLetterQueue}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.b.Delete(context.Background(), reply) })
	results, err := h.b.Consume(h.ctx(), reply, broker.ConsumeOptions{Prefetch: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()

	const total = 120
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		for i := range total {
			ar, err := c.Send(ctx, &celery.Task{ID: fmt.Sprintf("r%03d-%s", i, reply), Name: "sleep",
				Args: []any{n("0.02")}, ReplyTo: reply})
			if err == nil {
				err = ar.Sent(ctx)
			}
			if err != nil {
				sent <- fmt.Errorf("task %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	restarted := false
	// seen: the tasks whose result arrived (count: result messages, kept
	// for the log of a failure).
	count, seen := map[string]int{}, map[string]bool{}
	for len(seen) < total {
		select {
		case d, ok := <-results.Deliveries():
			if !ok {
				t.Fatal("result consumer closed")
			}
			r, err := celery.DecodeResult(d.Body, d.CorrelationID)
			_ = d.Commit(context.Background(), broker.Commit{}) // may fail across the restart: the result comes again
			if err != nil || r.State != celery.StateSuccess {
				t.Fatalf("result %v %v", r, err)
			}
			seen[r.TaskID] = true
			if !d.Redelivered {
				count[r.TaskID]++
			}
			if len(seen) == 20 && !restarted {
				node.Stop()
				node.Start()
				restarted = true
			}
		case err := <-sent:
			if err != nil {
				t.Fatal(err)
			}
			sent = nil
		case <-ctx.Done():
			var missing []string
			for i := range total {
				if id := fmt.Sprintf("r%03d-%s", i, reply); !seen[id] {
					missing = append(missing, id[:4])
				}
			}
			t.Fatalf("%d of %d results after the restart; missing %v", len(seen), total, missing)
		}
	}
	// Nothing more may come: a duplicate would be a second SUCCESS for a run.
	quiet := time.After(time.Second)
	for {
		select {
		case d := <-results.Deliveries():
			r, _ := celery.DecodeResult(d.Body, d.CorrelationID)
			_ = d.Commit(context.Background(), broker.Commit{})
			if !d.Redelivered {
				count[r.TaskID]++
			}
		case <-quiet:
			// A commit the restart cut between RabbitMQ storing a result
			// and its confirm cannot know the result is out: that task
			// runs again (at least once) and may answer twice. Any other
			// second result is a bug.
			// Runs are counted from the worker's log: the result stream
			// itself is consumed through the transport's claims, which a
			// restart may duplicate (RabbitMQ's transactions are atomic per
			// queue only), and a duplicated result message is not a run.
			cut, runs := map[string]bool{}, map[string]int{}
			for _, line := range strings.Split(h.logs.String(), "\n") {
				i := strings.Index(line, " id=")
				if i < 0 {
					continue
				}
				id := strings.Fields(line[i+4:])[0]
				switch {
				case strings.Contains(line, "commit failed"):
					cut[id] = true
				case strings.Contains(line, `msg="task started"`):
					runs[id]++
				}
			}
			for id, k := range runs {
				if k > 2 || (k == 2 && !cut[id]) {
					t.Errorf("task %s ran %d times", id, k)
				}
			}
			return
		}
	}
}
