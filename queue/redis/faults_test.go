package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/redis"
)

// helperEnv makes the test binary a dsys worker process (see TestMain), so
// fault tests can SIGKILL a worker mid-task.
const helperEnv = "DSYS_REDIS_HELPER_WORKER"

func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{}) // the transport logs what matters itself
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helperWorker(spec))
	}
	os.Exit(m.Run())
}

// helperWorker runs a worker from "url|prefix|queue|visibility timeout"
// until SIGTERM (or SIGKILL), logging to stderr.
func helperWorker(spec string) int {
	parts := strings.Split(spec, "|")
	vt, _ := time.ParseDuration(parts[3])
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	tr, err := redis.Dial(ctx, parts[0], redis.Options{KeyPrefix: parts[1], VisibilityTimeout: vt, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tr.Close()
	reg := queue.NewRegistry()
	if err := queue.RegisterBuiltins(reg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := queue.NewWorker(tr, reg, queue.WorkerConfig{Queues: []string{parts[2]}, Concurrency: 1, Logger: log})
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startHelperWorker starts a worker process and waits until it consumes.
func (h *harness) startHelperWorker(vt time.Duration) (*exec.Cmd, *testenv.SyncBuffer) {
	h.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{h.url, h.prefix, h.queue, vt.String()}, "|"))
	logs := &testenv.SyncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	h.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if h.t.Failed() {
			h.t.Logf("worker process log:\n%s", logs.String())
		}
	})
	waitFor(h.t, 20*time.Second, "the worker process to be ready", func() bool { return strings.Contains(logs.String(), "worker ready") })
	return cmd, logs
}

// waitFor polls cond (bounded) until it holds.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A worker SIGKILLed mid-task: its task comes back when its lease runs out
// (the visibility timeout, short here) and another worker runs it, counted
// as a redelivery.
func TestKilledWorkerTaskRunsAgainAfterVisibilityTimeout(t *testing.T) {
	url := testenv.Redis(t)
	const vt = 2 * time.Second
	h := newHarnessOn(t, url, prefix(t, url), redis.Options{VisibilityTimeout: vt})
	if err := h.tr.Declare(h.ctx(), queueSpec(h.queue)); err != nil {
		t.Fatal(err)
	}
	cmd, logs := h.startHelperWorker(vt)
	c := h.newClient()
	ar, err := c.Submit(h.ctx(), &celery.Task{Name: "sleep", Args: []any{n("1.5")}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the task to start", func() bool { return strings.Contains(logs.String(), "task started") })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	h.startWorker(queue.WorkerConfig{})
	res, err := ar.Wait(h.ctx())
	if err != nil || res.State != celery.StateSuccess {
		t.Fatalf("after the kill: %+v, %v", res, err)
	}
	if el := time.Since(killed); el < vt-500*time.Millisecond {
		t.Errorf("the task came back %v after the kill, before the visibility timeout %v", el, vt)
	}
	if !strings.Contains(h.logs.String(), "task redelivered") || !strings.Contains(h.logs.String(), "redeliveries=1") {
		t.Errorf("the second run was not counted as a redelivery:\n%s", h.logs.String())
	}
}

// A running task keeps its lease however long it runs: a second worker
// never takes it while the first renews.
func TestLongTaskKeepsItsLease(t *testing.T) {
	url := testenv.Redis(t)
	const vt = time.Second
	h := newHarnessOn(t, url, prefix(t, url), redis.Options{VisibilityTimeout: vt})
	h.startWorker(queue.WorkerConfig{Concurrency: 1})
	other := newHarnessOn(t, url, h.prefix, redis.Options{VisibilityTimeout: vt})
	other.queue = h.queue
	other.startWorker(queue.WorkerConfig{Concurrency: 1})
	c := h.newClient()
	ar, err := c.Submit(h.ctx(), &celery.Task{Name: "sleep", Args: []any{n("3.5")}}) // 3.5 visibility timeouts
	if err != nil {
		t.Fatal(err)
	}
	if res, err := ar.Wait(h.ctx()); err != nil || res.State != celery.StateSuccess {
		t.Fatalf("%+v, %v", res, err)
	}
	runs := strings.Count(h.logs.String(), "task started") + strings.Count(other.logs.String(), "task started")
	if runs != 1 {
		t.Fatalf("the task ran %d times, want once", runs)
	}
}

func queueSpec(name string) broker.QueueSpec {
	return broker.QueueSpec{Name: name, Kind: broker.TaskQueue}
}

// addAll submits tasks add(i, i) for i in [from, to) and checks their results.
func (h *harness) addAll(c *queue.Client, from, to int) {
	h.t.Helper()
	tasks := make([]*celery.Task, 0, to-from)
	for i := from; i < to; i++ {
		tasks = append(tasks, &celery.Task{Name: "add", Args: []any{n(strconv.Itoa(i)), n(strconv.Itoa(i))}})
	}
	ars, err := c.SendAll(h.ctx(), tasks)
	if err != nil {
		h.t.Fatalf("SendAll: %v", err)
	}
	err = queue.Gather(h.ctx(), ars, func(i int, r *celery.Result, err error) error {
		if err != nil {
			return err
		}
		if want := n(strconv.Itoa(2 * (from + i))); r.Value != want {
			return fmt.Errorf("add(%d, %d) = %v", from+i, from+i, r.Value)
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("results %d..%d: %v", from, to, err)
	}
}

// Redis restarts (a crash, no persistence): the worker and the client
// reconnect with backoff and tasks flow again; what Redis held is gone.
func TestRedisRestartReconnects(t *testing.T) {
	node := testenv.StartRedis(t, false)
	h := newHarnessOn(t, node.URL, "restart:", redis.Options{ReconnectMax: 500 * time.Millisecond})
	h.startWorker(queue.WorkerConfig{})
	c := h.newClient()
	h.addAll(c, 0, 20)

	node.Kill()
	// While Redis is down, a submit waits for it (bounded by its context).
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := c.Submit(short, &celery.Task{Name: "add", Args: []any{n("1"), n("1")}})
	cancel()
	if err == nil {
		t.Fatal("Submit with Redis down succeeded")
	}
	node.Start()
	h.addAll(c, 20, 40)
	waitFor(t, 10*time.Second, "the reconnection to be logged", func() bool { return strings.Contains(h.logs.String(), "Redis reconnected") })
}

// With appendonly yes, tasks Redis had taken survive a crash: sent while
// no worker runs, they are served after the restart, and the client that
// sent them gets their results.
func TestRedisAppendOnlyKeepsQueuedTasks(t *testing.T) {
	node := testenv.StartRedis(t, true)
	h := newHarnessOn(t, node.URL, "aof:", redis.Options{ReconnectMax: 500 * time.Millisecond})
	c := h.newClient()
	tasks := make([]*celery.Task, 10)
	for i := range tasks {
		tasks[i] = &celery.Task{Name: "add", Args: []any{n(strconv.Itoa(i)), n("1")}}
	}
	ars, err := c.SendAll(h.ctx(), tasks)
	if err != nil {
		t.Fatal(err)
	}
	node.Kill()
	node.Start()
	h.startWorker(queue.WorkerConfig{})
	got := 0
	if err := queue.Gather(h.ctx(), ars, func(i int, r *celery.Result, err error) error {
		if err != nil || r.Value != n(strconv.Itoa(i+1)) {
			return fmt.Errorf("task %d: %v, %v", i, r, err)
		}
		got++
		return nil
	}); err != nil || got != len(tasks) {
		t.Fatalf("after the crash: %d of %d results, %v", got, len(tasks), err)
	}
}

// Without persistence a crash loses what Redis held: tasks queued and
// results not yet read.
func TestRedisWithoutPersistenceLosesQueuedTasks(t *testing.T) {
	node := testenv.StartRedis(t, false)
	h := newHarnessOn(t, node.URL, "nopersist:", redis.Options{ReconnectMax: 500 * time.Millisecond})
	if err := h.tr.Declare(h.ctx(), queueSpec(h.queue)); err != nil {
		t.Fatal(err)
	}
	c := h.newClient()
	if _, err := c.Submit(h.ctx(), &celery.Task{Name: "add", Args: []any{n("1"), n("1")}}); err != nil {
		t.Fatal(err)
	}
	if info, err := h.tr.Inspect(h.ctx(), h.queue); err != nil || info.Ready != 1 {
		t.Fatalf("before the crash: %+v, %v", info, err)
	}
	node.Kill()
	node.Start()
	if _, err := h.tr.Inspect(h.ctx(), h.queue); !errors.Is(err, broker.ErrQueueNotFound) {
		t.Fatalf("after the crash the queue is still there: %v", err)
	}
}

// quiet discards go-redis's own log lines.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Redis (appendonly yes) crashes while tasks flow: once it is back, the
// worker and the client carry on and every task sent before the crash gets
// its result (at least once: a task cut mid-commit may run twice, its
// client keeps the first result).
func TestRedisCrashWhileTasksFlow(t *testing.T) {
	node := testenv.StartRedis(t, true)
	h := newHarnessOn(t, node.URL, "flow:", redis.Options{ReconnectMax: 500 * time.Millisecond, VisibilityTimeout: 3 * time.Second})
	h.startWorker(queue.WorkerConfig{Concurrency: 2, Prefetch: 64})
	c := h.newClient()
	const total = 2000
	tasks := make([]*celery.Task, total)
	for i := range tasks {
		tasks[i] = &celery.Task{Name: "sleep", Args: []any{n("0.001")}}
	}
	ars, err := c.SendAll(h.ctx(), tasks)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "some results", func() bool {
		done := 0
		for _, ar := range ars {
			select {
			case <-ar.Done():
				done++
			default:
			}
		}
		return done >= 100
	})
	node.Kill()
	node.Start()
	got := 0
	if err := queue.Gather(h.ctx(), ars, func(i int, r *celery.Result, err error) error {
		if err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		got++
		return nil
	}); err != nil || got != total {
		t.Fatalf("after the crash: %d of %d results, %v", got, total, err)
	}
}
