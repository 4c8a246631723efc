package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
)

// inspectRowOf reads `dsys -o json queue inspect` for one queue.
func inspectRowOf(t *testing.T, args ...string) inspectRow {
	t.Helper()
	out, errOut, code := runDsys(t, "", append([]string{"-o", "json", "queue", "inspect"}, args...)...)
	var row inspectRow
	if code != 0 || json.Unmarshal([]byte(out), &row) != nil {
		t.Fatalf("inspect: %q %q exit %d", out, errOut, code)
	}
	return row
}

// A task whose command kills its worker, with max_redeliveries 2, runs
// exactly 3 times and leaves exactly one dead letter, on every transport
// (the defect: 4–6 runs and 2–8 dead copies of one task on RabbitMQ, where
// a batched ack died with the worker; hence prefetch 16, which batches).
// Workers are restarted as they die, as a supervisor would.
func TestQueuePoisonThatKillsItsWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts workers (about 20 s)")
	}
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testPoisonKillsWorker(t, "sqlite://"+filepath.Join(dir, "q.db"))
	})
	t.Run("amqp", func(t *testing.T) {
		brokerURL, _ := queueEnv(t)
		testPoisonKillsWorker(t, brokerURL)
	})
}

func testPoisonKillsWorker(t *testing.T, brokerURL string) {
	testenv.Binary(t)
	dir := isolateConfig(t)
	runs := filepath.Join(dir, "runs")
	q := testenv.UniqueName(t, "poison")
	cfg := filepath.Join(dir, "dsys.yaml")
	yaml := fmt.Sprintf(`queue:
  broker: %s
  queue: %s
  max_redeliveries: 2
  visibility_timeout: 3s
  concurrency: 1
  prefetch: 16
  tasks:
    - {name: suicide, command: [sh, -c, 'echo run >> %s; kill -9 $PPID']}
`, brokerURL, q, runs)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--config", cfg}
	if strings.HasPrefix(brokerURL, "amqp") {
		t.Cleanup(func() { deleteQueues(t, brokerURL, q, q+".dead") })
	}
	if _, errOut, code := runDsys(t, "", append(common, "queue", "submit", "suicide")...); code != 0 {
		t.Fatalf("submit: %s", errOut)
	}
	countRuns := func() int {
		data, _ := os.ReadFile(runs)
		return strings.Count(string(data), "run\n")
	}
	// Supervise: restart the worker each time it dies, until the task is
	// dead-lettered (bounded: a handful of workers, a minute).
	deadline := time.Now().Add(time.Minute)
	for starts := 0; ; starts++ {
		if starts > 6 || time.Now().After(deadline) {
			t.Fatalf("after %d workers and %d runs the task is not dead-lettered", starts, countRuns())
		}
		w := startWorkerProc(t, common...)
		select {
		case <-w.exited: // killed by the task
			continue
		case <-waitFor(func() bool { return inspectRowOf(t, append(common, "--queue", q)...).Dead > 0 }, 20*time.Second):
		}
		// Dead-lettered: this worker stays up a little longer, and
		// nothing else may run.
		quiet := time.After(4 * time.Second)
		select {
		case <-w.exited:
			t.Fatalf("a worker died after the dead letter: the task ran again (%d runs)", countRuns())
		case <-quiet:
		}
		break
	}
	if n := countRuns(); n != 3 {
		t.Errorf("the task ran %d times, want 3 (max_redeliveries 2 + 1)", n)
	}
	row := inspectRowOf(t, append(common, "--queue", q)...)
	if row.Dead != 1 || row.Ready != 0 {
		t.Errorf("after the dead letter: %d dead, %d ready; want exactly 1 dead and nothing left", row.Dead, row.Ready)
	}
}

// waitFor polls cond (a broker query: no event to wait on) every 100 ms
// until it holds or d passes; the channel is closed when it holds.
func waitFor(cond func() bool, d time.Duration) <-chan struct{} {
	ok := make(chan struct{})
	go func() {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if cond() {
				close(ok)
				return
			}
			time.Sleep(100 * time.Millisecond) // polling the broker, bounded
		}
	}()
	return ok
}

// After RabbitMQ crashes (kill -9), every message it recovers is marked
// redelivered. Tasks that never ran must not be charged for it: with
// max_redeliveries 0, 300 queued tasks all run and none is dead-lettered
// (the defect: all 300 went to the dead-letter queue). The broker is a
// node of the test's own.
func TestQueueBrokerCrashDoesNotCountAsRedelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a RabbitMQ node of its own")
	}
	testenv.Binary(t)
	node := testenv.StartRabbitMQ(t)
	isolateConfig(t)
	const n = 300
	q := "crash"
	common := []string{"--broker", node.URL, "--queue", q}
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "[%d, 1]\n", i)
	}
	if _, errOut, code := runDsys(t, in.String(), append(common, "queue", "submit", "add", "-")...); code != 0 {
		t.Fatalf("submit: %s", errOut)
	}
	if row := inspectRowOf(t, common...); row.Ready != n {
		t.Fatalf("before the crash: %+v", row)
	}
	node.Kill()
	node.Start()
	t.Setenv("DSYS_QUEUE_MAX_REDELIVERIES", "0")
	w := startWorkerProc(t, append(common, "--concurrency", "2")...)
	select {
	case <-waitFor(func() bool { r := inspectRowOf(t, common...); return r.Ready == 0 }, 60*time.Second):
	case <-w.exited:
		t.Fatal("the worker exited")
	}
	// Everything left the queue: each task ran, none was dead-lettered.
	row := inspectRowOf(t, common...)
	deadline := time.After(30 * time.Second)
	for strings.Count(w.log.String(), "state=SUCCESS") < n {
		select {
		case <-deadline:
			t.Fatalf("%d of %d tasks succeeded; queue %+v", strings.Count(w.log.String(), "state=SUCCESS"), n, row)
		case <-time.After(100 * time.Millisecond): // reading the worker's log
		}
	}
	if row.Dead != 0 {
		t.Errorf("%d tasks dead-lettered after a broker crash, want none", row.Dead)
	}
}

// deleteQueues removes a test's queues from RabbitMQ.
func deleteQueues(t *testing.T, brokerURL string, queues ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, brokerURL, amqp.Options{ManagementURL: "-"})
	if err != nil {
		return
	}
	defer b.Close()
	for _, q := range queues {
		_ = b.Delete(ctx, q)
	}
}
