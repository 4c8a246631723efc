package cluster_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/compute/cluster"
	"github.com/dsys-dev/dsys/compute/npy"
	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/redis"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

// env is a broker with a queue of the test's own: transports for the
// client and for each worker (separate connections, as separate
// processes would have), and the workers' log.
type env struct {
	t     *testing.T
	dial  func(t *testing.T) broker.Transport
	queue string
	logs  *testenv.SyncBuffer
}

// brokers runs f on every broker: the embedded one (a file of the test's
// own, a transport per worker as separate processes would open it), Redis
// and RabbitMQ (skipped, or failed under DSYS_TEST_REQUIRE_SERVICES=1, when
// they are not running).
func brokers(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "queue.db")
		f(t, newEnv(t, "sqlite.Open", func(ctx context.Context) (broker.Transport, error) {
			return sqlite.Open(ctx, path, sqlite.Options{VisibilityTimeout: 3 * time.Second})
		}, false))
	})
	t.Run("redis", func(t *testing.T) {
		url := redisDB(t, 11)
		f(t, newEnv(t, "redis.Dial", func(ctx context.Context) (broker.Transport, error) {
			return redis.Dial(ctx, url, redis.Options{VisibilityTimeout: 3 * time.Second, ResultExpires: time.Minute})
		}, true))
	})
	t.Run("amqp", func(t *testing.T) {
		url := testenv.RabbitMQ(t)
		f(t, newEnv(t, "amqp.Dial", func(ctx context.Context) (broker.Transport, error) {
			return amqp.Dial(ctx, url, amqp.Options{ManagementURL: "-"})
		}, true))
	})
}

// newEnv is a test's broker: open (named what for its errors) gives each
// worker or client a transport of its own; on a shared server (shared) the
// test's queues are deleted when it ends.
func newEnv(t *testing.T, what string, open func(context.Context) (broker.Transport, error), shared bool) *env {
	e := &env{t: t, queue: testenv.UniqueName(t, "cluster"), logs: &testenv.SyncBuffer{}}
	e.dial = func(t *testing.T) broker.Transport {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := open(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	if shared {
		cleanup := e.dial(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, q := range []string{e.queue, e.queue + ".dead"} {
				_ = cleanup.Delete(ctx, q)
			}
		})
	}
	return e
}

// redisDB is the shared test Redis on database db of this package's own.
func redisDB(t *testing.T, db int) string {
	u, err := url.Parse(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/%d", db)
	return u.String()
}

// startWorker runs a dsys worker serving the chunk task until the test
// ends (or stop is called).
func (e *env) startWorker(t *testing.T, node string, cfg cluster.WorkerConfig) (stop func()) {
	t.Helper()
	b := e.dial(t)
	cfg.Node, cfg.Markers = node, func() broker.Transport { return b }
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", node)
	cfg.Logger = log
	reg := queue.NewRegistry()
	if err := cluster.Register(reg, cfg); err != nil {
		t.Fatal(err)
	}
	w := queue.NewWorker(b, reg, queue.WorkerConfig{Queues: []string{e.queue}, Concurrency: 1, Hostname: node, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-errc:
			case <-time.After(30 * time.Second):
				t.Error("worker did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-w.Ready():
	case err := <-errc:
		t.Fatalf("worker stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("worker not ready within 10s")
	}
	return stop
}

func (e *env) run(ctx context.Context, t *testing.T, p *compute.Plan, cfg cluster.Config) (*compute.Result, *cluster.Report, error) {
	t.Helper()
	cfg.Queue = e.queue
	return cluster.Run(ctx, e.dial(t), p, cfg)
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sameResult holds got to want bit for bit, element by element.
func sameResult(t *testing.T, what string, got, want *compute.Result) {
	t.Helper()
	if got.Len() != want.Len() || fmt.Sprint(got.Shape, got.Names) != fmt.Sprint(want.Shape, want.Names) {
		t.Fatalf("%s: shape %v names %v, want %v %v", what, got.Shape, got.Names, want.Shape, want.Names)
	}
	for i := range want.Len() {
		g, w := got.Elem(i), want.Elem(i)
		if g.String() != w.String() || math.Float64bits(g.Float) != math.Float64bits(w.Float) || got.Summary(i) != want.Summary(i) {
			t.Fatalf("%s [%d]: %v, want %v", what, i, g, w)
		}
	}
}

// sources are the inputs of the bit-parity test, each opened afresh.
func sources(t *testing.T) map[string]func() compute.Source {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var f8, i4 []byte
	for range 60 * 50 {
		f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(rng.NormFloat64()*1e3+1e6))
		i4 = binary.BigEndian.AppendUint32(i4, uint32(rng.Int32()))
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f8p := write("f8.npy", append(npy.EncodeHeader(npy.Float64, false, []int{60, 50}), f8...))
	i4p := write("i4.npy", append(npy.EncodeHeader(npy.DType{Kind: 'i', Size: 4, BigEndian: true}, true, []int{60, 50}), i4...))
	var text strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&text, "%g\n", rng.ExpFloat64()*float64(i))
	}
	txt := write("x.txt", []byte(text.String()))
	open := func(path string, f compute.Format, chunks []int) func() compute.Source {
		return func() compute.Source {
			in, err := compute.OpenInput(context.Background(), path, nil, f)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close() })
			if f == compute.FormatText {
				return in.Text("", 4096)
			}
			a, err := in.NPY(context.Background(), compute.FileOptions{Chunks: chunks})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			return a
		}
	}
	random := func(dist compute.Dist, gen compute.RNG) func() compute.Source {
		return func() compute.Source {
			r, err := compute.NewRandom([]int{300, 200}, []int{70, 50}, 7, dist, gen)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	return map[string]func() compute.Source{
		"random":      random(compute.Uniform, compute.FastRNG),
		"random-dask": random(compute.Normal, compute.DaskRNG),
		"f8.npy":      open(f8p, compute.FormatNPY, []int{13, 20}),
		"i4.npy":      open(i4p, compute.FormatNPY, []int{7, 50}),
		"x.txt":       open(txt, compute.FormatText, nil),
	}
}

// Two workers compute a job's chunks; the result has the local run's bits
// for every op and axis, and every chunk is counted once.
func TestRunHasLocalBits(t *testing.T) {
	brokers(t, func(t *testing.T, e *env) {
		e.startWorker(t, "w1", cluster.WorkerConfig{})
		e.startWorker(t, "w2", cluster.WorkerConfig{})
		for name, open := range sources(t) {
			axes := [][]int{nil, {0}, {-1}}
			if name == "x.txt" {
				axes = [][]int{nil}
			}
			for _, axis := range axes {
				for _, op := range []compute.Op{compute.Mean, compute.Sum, compute.Var, compute.Max, compute.Stats} {
					what := fmt.Sprintf("%s %v axis %v", name, op, axis)
					o := compute.Options{Op: op, Axis: axis, DDOF: 1}
					want, err := compute.Reduce(context.Background(), open(), o)
					if err != nil {
						t.Fatal(err)
					}
					p, err := compute.NewPlan(context.Background(), open(), o, compute.PlanOptions{TaskBytes: 16384})
					if err != nil {
						t.Fatal(err)
					}
					got, rep, err := e.run(testCtx(t, 60*time.Second), t, p, cluster.Config{})
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					sameResult(t, what, got, want)
					n := 0
					for _, w := range rep.Workers {
						n += w.Chunks
						if w.Node != "w1" && w.Node != "w2" || w.PID != os.Getpid() {
							t.Fatalf("%s: worker %+v", what, w)
						}
					}
					if n != p.Tasks() || rep.Chunks != p.Tasks() {
						t.Fatalf("%s: %d chunks counted of %d (report %+v)", what, n, p.Tasks(), rep)
					}
				}
			}
		}
		if t.Failed() {
			t.Log(e.logs.String())
		}
	})
}

// A chunk that fails on a worker ends the job with one error naming the
// chunk, the worker and the reason; an input fault stays an input error.
func TestRunFailingChunk(t *testing.T) {
	brokers(t, func(t *testing.T, e *env) {
		path := filepath.Join(t.TempDir(), "gone.npy")
		data := make([]byte, 8*40*10)
		if err := os.WriteFile(path, append(npy.EncodeHeader(npy.Float64, false, []int{40, 10}), data...), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := compute.OpenNPY(path, compute.FileOptions{Chunks: []int{10, 10}})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		p, err := compute.NewPlan(context.Background(), a, compute.Options{}, compute.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil { // the workers do not have the file
			t.Fatal(err)
		}
		e.startWorker(t, "w1", cluster.WorkerConfig{})
		_, _, err = e.run(testCtx(t, 30*time.Second), t, p, cluster.Config{})
		var ce *cluster.ChunkError
		if !errors.As(err, &ce) || !errors.Is(err, compute.ErrInput) {
			t.Fatalf("error %v (%T), want a ChunkError that is an input error", err, err)
		}
		k := chunkOf(ce.Where)
		want := fmt.Sprintf("compute: chunk %d (block %d,0 of 4,1) failed on worker w1 (pid %d): %s: no such file or directory",
			k, k, os.Getpid(), path)
		if err.Error() != want || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %q\nwant  %q", err, want)
		}
	})
}

// chunkOf reads the chunk number of a "chunk N (...)" description.
func chunkOf(where string) int {
	var k int
	fmt.Sscanf(where, "chunk %d", &k)
	return k
}

// With no worker, the job ends at its deadline saying so, after the
// waiting hint; its marker is gone and its chunk tasks expire.
func TestRunNoWorker(t *testing.T) {
	brokers(t, func(t *testing.T, e *env) {
		r, err := compute.NewRandom([]int{100}, []int{10}, 0, compute.Uniform, compute.FastRNG)
		if err != nil {
			t.Fatal(err)
		}
		p, err := compute.NewPlan(context.Background(), r, compute.Options{}, compute.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hinted := make(chan struct{})
		start := time.Now()
		_, rep, err := e.run(testCtx(t, 1500*time.Millisecond), t, p, cluster.Config{
			WaitingAfter: 200 * time.Millisecond, Waiting: func() { close(hinted) }})
		if !errors.Is(err, cluster.ErrNoWorker) || !errors.Is(err, queue.ErrTimeout) {
			t.Fatalf("error %v, want ErrNoWorker and queue.ErrTimeout", err)
		}
		if !strings.Contains(err.Error(), "no worker took the work") || !strings.Contains(err.Error(), e.queue) || time.Since(start) > 10*time.Second {
			t.Fatalf("error %q after %s", err, time.Since(start))
		}
		select {
		case <-hinted:
		default:
			t.Fatal("the waiting hint was not given")
		}
		if len(rep.Workers) != 0 {
			t.Fatalf("workers %+v", rep.Workers)
		}
		// The chunk tasks expired with the job: a worker started now
		// computes none (RabbitMQ drops them, the embedded broker's worker
		// answers them as expired), and the queue drains.
		e.startWorker(t, "late", cluster.WorkerConfig{})
		b := e.dial(t)
		deadline := time.Now().Add(20 * time.Second)
		for {
			info, err := b.Inspect(context.Background(), e.queue)
			if err == nil && info.Ready == 0 && info.Unacked <= 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job's tasks are still queued 20s after its deadline: %+v %v", info, err)
			}
			time.Sleep(50 * time.Millisecond) // polling a broker count, bounded by deadline
		}
		if strings.Contains(e.logs.String(), "state=SUCCESS") {
			t.Fatalf("a late worker computed chunks of a job that had ended:\n%s", e.logs.String())
		}
		if _, err := b.Inspect(context.Background(), cluster.JobMarker(rep.JobID)); !errors.Is(err, broker.ErrQueueNotFound) {
			t.Fatalf("the job's marker after its end: %v, want it deleted", err)
		}
	})
}

// Once a job has ended, a worker answers its remaining chunks without
// computing them.
func TestEndedJobsChunksAreDiscarded(t *testing.T) {
	brokers(t, func(t *testing.T, e *env) {
		var text strings.Builder
		text.WriteString("1 2 x3\n") // the first chunk fails
		for range 400000 {
			text.WriteString("12345.678 ")
		}
		path := filepath.Join(t.TempDir(), "bad.txt")
		if err := os.WriteFile(path, []byte(text.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := compute.OpenInput(context.Background(), path, nil, compute.FormatText)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		p, err := compute.NewPlan(context.Background(), in.Text("", 4096), compute.Options{Op: compute.Var}, compute.PlanOptions{TaskBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		e.startWorker(t, "w1", cluster.WorkerConfig{})
		_, _, err = e.run(testCtx(t, 30*time.Second), t, p, cluster.Config{})
		if !errors.Is(err, compute.ErrInput) || !strings.Contains(err.Error(), `bad.txt:1:5: malformed number "x3"`) {
			t.Fatalf("error %v, want the malformed number of chunk 0", err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(e.logs.String(), "TaskRevokedError") {
			if time.Now().After(deadline) {
				t.Fatalf("no chunk of %d was discarded within 30s of the failure", p.Tasks())
			}
			time.Sleep(20 * time.Millisecond) // polling the worker's log, bounded by deadline
		}
	})
}
