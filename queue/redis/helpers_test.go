package redis_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/redis"
)

// harness is a Redis transport with a key prefix and a queue of the
// test's own, and a registry of the built-ins also under Celery's names
// (tasks.add, tasks.tsum, ...).
type harness struct {
	t      *testing.T
	url    string
	prefix string
	queue  string
	tr     *redis.Transport
	reg    *queue.Registry
	logs   *testenv.SyncBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	url := testenv.Redis(t)
	return newHarnessOn(t, url, prefix(t, url), redis.Options{})
}

func newHarnessOn(t *testing.T, url, p string, opts redis.Options) *harness {
	t.Helper()
	h := &harness{t: t, url: url, prefix: p, queue: testenv.UniqueName(t, "q"), reg: queue.NewRegistry(), logs: &testenv.SyncBuffer{}}
	opts.KeyPrefix, opts.Logger = p, h.logger()
	if opts.ResultExpires == 0 {
		opts.ResultExpires = 10 * time.Minute
	}
	h.tr = dial(t, url, opts)
	t.Cleanup(func() {
		h.tr.Close()
		if t.Failed() {
			t.Logf("dsys log:\n%s", h.logs.String())
		}
	})
	if err := queue.RegisterBuiltins(h.reg); err != nil {
		t.Fatal(err)
	}
	for _, n := range queue.BuiltinNames() {
		f, _ := queue.Builtin(n)
		if err := h.reg.Register(queue.TaskDef{Name: "tasks." + n, Func: f}); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := queue.Builtin("sum")
	if err := h.reg.Register(queue.TaskDef{Name: "tasks.tsum", Func: f}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// startWorker runs a worker on the harness's queue until the test ends.
func (h *harness) startWorker(cfg queue.WorkerConfig) *queue.Worker {
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
	w := queue.NewWorker(h.tr, h.reg, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(60 * time.Second):
			h.t.Error("worker did not stop within 60s")
		}
	})
	select {
	case <-w.Ready():
	case err := <-errc:
		h.t.Fatalf("worker stopped: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("worker not ready within 10s")
	}
	return w
}

func (h *harness) newClient() *queue.Client {
	h.t.Helper()
	c, err := queue.NewClient(h.ctx(), h.tr, queue.ClientConfig{Queue: h.queue})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// peer is Debian's Celery on Redis (testdata/celery_redis_peer.py).
func peer(t testing.TB) (python, script string) {
	t.Helper()
	python = testenv.Python(t, "celery", "redis")
	script, err := filepath.Abs(filepath.Join("testdata", "celery_redis_peer.py"))
	if err != nil {
		t.Fatal(err)
	}
	return python, script
}

// runPeer runs the peer in a mode and decodes the JSON object it prints.
func (h *harness) runPeer(timeout time.Duration, mode string, args ...string) map[string]any {
	h.t.Helper()
	python, script := peer(h.t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, append([]string{script, mode, h.url, h.prefix, h.queue}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			h.t.Fatalf("celery %s: %v\n%s", mode, err, ee.Stderr)
		}
		h.t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		h.t.Fatalf("celery %s printed %q: %v", mode, out, err)
	}
	return got
}

// celeryWorker is a real Celery worker on the harness's queue.
type celeryWorker struct {
	log  *testenv.SyncBuffer
	stop func()
}

// startCeleryWorker runs a Celery worker until the test ends (or stop).
func (h *harness) startCeleryWorker(concurrency, pool string) *celeryWorker {
	h.t.Helper()
	python, script := peer(h.t)
	cmd := exec.Command(python, script, "worker", h.url, h.prefix, h.queue, concurrency, pool)
	ownGroup(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	cw := &celeryWorker{log: &testenv.SyncBuffer{}}
	ready, exited, logDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			line := sc.Text()
			cw.log.Write([]byte(line + "\n"))
			if !once && strings.Contains(line, " ready.") {
				once = true
				close(ready)
			}
		}
	}()
	go func() {
		<-logDone
		_ = cmd.Wait()
		close(exited)
	}()
	var once sync.Once
	cw.stop = func() {
		once.Do(func() {
			signalGroup(cmd, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				signalGroup(cmd, syscall.SIGKILL)
				<-exited
			}
		})
	}
	h.t.Cleanup(func() {
		cw.stop()
		if h.t.Failed() {
			h.t.Logf("celery worker log:\n%s", cw.log.String())
		}
	})
	select {
	case <-ready:
	case <-exited:
		h.t.Fatalf("celery worker exited:\n%s", cw.log.String())
	case <-time.After(60 * time.Second):
		h.t.Fatal("celery worker not ready within 60s")
	}
	return cw
}
