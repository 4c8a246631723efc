package queue_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/redis"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

func dialAMQPLog(t testing.TB, url string, log *slog.Logger) *amqp.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, url, amqp.Options{ManagementURL: "-", Logger: log})
	if err != nil {
		t.Fatalf("amqp.Dial: %v", err)
	}
	return b
}

type harness struct {
	t     *testing.T
	b     broker.Transport
	queue string
	reg   *queue.Registry
	logs  *testenv.SyncBuffer
}

// newHarness connects to RabbitMQ, picks a unique queue and registers the
// built-ins (also as tasks.add, ...).
func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, testenv.RabbitMQ(t))
}

// newHarnessOn is newHarness on the RabbitMQ at url.
func newHarnessOn(t *testing.T, url string) *harness {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	return newHarnessWith(t, logs, dialAMQPLog(t, url, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
}

// newSQLiteHarness is a harness on an embedded broker in a file of the test's own.
func newSQLiteHarness(t *testing.T) *harness {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "queue.db"),
		sqlite.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, logs, b)
}

// newRedisHarness is a harness on the shared Redis (the tests' database),
// under a key prefix of the test's own whose keys it deletes at the end.
func newRedisHarness(t *testing.T) *harness {
	t.Helper()
	url := testenv.Redis(t)
	logs := &testenv.SyncBuffer{}
	prefix := testenv.UniqueName(t, "dsystest") + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redis.Dial(ctx, url, redis.Options{KeyPrefix: prefix, ResultExpires: 10 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteRedisKeys(t, url, prefix+"*") })
	return newHarnessWith(t, logs, b)
}

// deleteRedisKeys deletes the keys matching pattern.
func deleteRedisKeys(t *testing.T, url, pattern string) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		_ = rdb.Del(ctx, iter.Val()).Err()
	}
}

// eachTransport runs a test on RabbitMQ, on the embedded broker and on Redis.
func eachTransport(t *testing.T, test func(t *testing.T, h *harness)) {
	t.Run("amqp", func(t *testing.T) { test(t, newHarness(t)) })
	t.Run("sqlite", func(t *testing.T) { test(t, newSQLiteHarness(t)) })
	t.Run("redis", func(t *testing.T) { test(t, newRedisHarness(t)) })
}

func newHarnessWith(t *testing.T, logs *testenv.SyncBuffer, b broker.Transport) *harness {
	t.Helper()
	h := &harness{t: t, b: b, queue: testenv.UniqueName(t, "q"), reg: queue.NewRegistry(), logs: logs}
	if err := queue.RegisterBuiltins(h.reg); err != nil {
		t.Fatal(err)
	}
	for _, n := range queue.BuiltinNames() {
		f, _ := queue.Builtin(n)
		if err := h.reg.Register(queue.TaskDef{Name: "tasks." + n, Func: f}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, q := range []string{h.queue, h.queue + ".dead"} {
			_ = b.Delete(ctx, q)
		}
		b.Close()
		if t.Failed() {
			t.Logf("worker log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startWorker runs a worker until the test ends; stop() shuts it down early
// and returns Run's error.
func (h *harness) startWorker(cfg queue.WorkerConfig) (w *queue.Worker, stop func() error) {
	h.t.Helper()
	if cfg.Queues == nil {
		cfg.Queues = []string{h.queue}
	}
	if cfg.Logger == nil {
		cfg.Logger = h.logger()
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	w = queue.NewWorker(h.b, h.reg, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(60 * time.Second):
				h.t.Error("worker did not stop within 60s")
			}
		})
		return err
	}
	h.t.Cleanup(func() { _ = stop() })
	select {
	case <-w.Ready():
	case err := <-errc:
		h.t.Fatalf("worker stopped: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("worker not ready within 10s")
	}
	return w, stop
}

func (h *harness) newClient() *queue.Client {
	h.t.Helper()
	c, err := queue.NewClient(h.ctx(), h.b, queue.ClientConfig{Queue: h.queue})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func (h *harness) get(c *queue.Client, task *celery.Task) (any, error) {
	h.t.Helper()
	ar, err := c.Submit(h.ctx(), task)
	if err != nil {
		h.t.Fatal(err)
	}
	return ar.Get(h.ctx())
}
