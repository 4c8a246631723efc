package cmd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// maxRerunsPerKill is the README's bound on the tasks a SIGKILLed worker
// leaves to run a second time, at any prefetch.
const maxRerunsPerKill = 64

// A worker with queue.prefetch 512 SIGKILLed three times in the middle of
// 12,000 quick tasks (a new one started after each kill) leaves at most
// maxRerunsPerKill tasks per kill to run again, counted from every worker's
// "task started" lines, and on RabbitMQ at most that many second SUCCESS
// results, counted in the reply queue. (The embedded broker and Redis keep
// the first SUCCESS of a task, so a client never sees a second one there.)
func TestQueueKilledWorkerRerunsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("kills three workers under load on each broker")
	}
	for _, name := range []string{"amqp", "sqlite", "redis"} {
		t.Run(name, func(t *testing.T) { killedWorkerReruns(t, name) })
	}
}

func killedWorkerReruns(t *testing.T, brokerName string) {
	const n, kills = 12000, 3
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := newKillEnv(t, ctx, brokerName)
	client, err := queue.NewClient(ctx, env.tr, queue.ClientConfig{Queue: env.q})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tasks := make([]*celery.Task, n)
	for i := range tasks {
		tasks[i] = &celery.Task{Name: "add", Args: []any{i, i}, ReplyTo: env.replyTo}
	}
	ars, err := client.SendAll(ctx, tasks)
	if err != nil {
		t.Fatal(err)
	}
	successes := env.successes
	if successes == nil { // the client's own results: the first per task
		ch := make(chan string, n)
		go func() {
			_ = queue.Gather(ctx, ars, func(i int, r *celery.Result, _ error) error {
				if r != nil && r.State == celery.StateSuccess {
					ch <- ars[i].ID
				}
				return nil
			})
		}()
		successes = ch
	}

	args := []string{"--broker", env.url, "--queue", env.q, "--concurrency", "2", "--prefetch", "512", "--log-level", "debug"}
	var logs []string // the workers' logs, in order
	// Each worker but the last is killed once it has started its share of
	// the tasks (results may trail far behind the worker).
	const share = n / (kills + 1)
	w := startLoggedWorker(t, share, args...)
	seen := map[string]int{} // SUCCESS results per task
	phase := 0
	for len(seen) < n {
		var reached <-chan struct{}
		if phase < kills {
			reached = w.reached
		}
		select {
		case id := <-successes:
			seen[id]++
		case <-reached:
			if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			logs = append(logs, w.wait(t))
			phase++
			w = startLoggedWorker(t, share, args...)
		case <-ctx.Done():
			info, err := env.tr.Inspect(context.Background(), env.q)
			t.Fatalf("%d of %d tasks succeeded after %d kills; the queue: %+v %v; the last worker's log: %s",
				len(seen), n, phase, info, err, w.path)
		}
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	logs = append(logs, w.wait(t))
	if env.drain != nil { // the SUCCESS results still on their way
		env.drain(t, func(id string) { seen[id]++ })
	}

	started := make([]map[string]bool, len(logs))
	firstBy := map[string]int{} // the worker that started a task first
	for i := len(logs) - 1; i >= 0; i-- {
		started[i] = startedTasks(logs[i])
		for id := range started[i] {
			firstBy[id] = i
		}
	}
	failed := false
	for k := range kills {
		reruns, dups := 0, 0
		for id := range started[k] {
			for _, later := range started[k+1:] {
				if later[id] {
					reruns++
					break
				}
			}
			if seen[id] > 1 && firstBy[id] == k {
				dups++
			}
		}
		t.Logf("kill %d: the worker had started %d tasks; %d of them started again, %d a second SUCCESS result",
			k+1, len(started[k]), reruns, dups)
		if reruns > maxRerunsPerKill || dups > maxRerunsPerKill {
			failed = true
		}
		if len(started[k]) == 0 {
			t.Errorf("worker %d was killed before it started any task", k+1)
		}
	}
	if failed {
		t.Errorf("a SIGKILLed worker at prefetch 512 left more than %d tasks to run again", maxRerunsPerKill)
	}
	for i, ar := range ars {
		if seen[ar.ID] == 0 {
			t.Fatalf("task %d (%s) never succeeded", i, ar.ID)
		}
	}
}

// startedTasks is the set of task ids a worker log says it started.
func startedTasks(log string) map[string]bool {
	ids := map[string]bool{}
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `msg="task started"`) {
			continue
		}
		if _, rest, ok := strings.Cut(line, " id="); ok {
			ids[strings.Fields(rest)[0]] = true
		}
	}
	return ids
}

// killRedisDB is the Redis database of the kill test.
const killRedisDB = "13"

// killEnv is a broker for the kill test: its URL for the workers, a
// transport for the test, and on RabbitMQ a reply queue of its own whose
// every SUCCESS result is counted.
type killEnv struct {
	url, q    string
	tr        broker.Transport
	replyTo   string                                // "" = the client's
	successes <-chan string                         // nil = the client's results
	drain     func(t *testing.T, seen func(string)) // reads what is left of successes
}

func newKillEnv(t *testing.T, ctx context.Context, name string) *killEnv {
	t.Helper()
	testenv.Binary(t)
	isolateConfig(t)
	// The killed workers' leases (embedded broker, Redis) run out quickly.
	t.Setenv("DSYS_QUEUE_VISIBILITY_TIMEOUT", "3s")
	t.Setenv("DSYS_QUEUE_RESULT_EXPIRES", "10m")
	env := &killEnv{q: testenv.UniqueName(t, "killq")}
	switch name {
	case "sqlite":
		env.url = "sqlite://" + filepath.Join(t.TempDir(), "q.db")
		tr, err := sqlite.Open(ctx, strings.TrimPrefix(env.url, "sqlite://"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		env.tr = tr
	case "redis":
		// A database of its own (killRedisDB): kombu's unacked mutex is
		// one per database, and workers other tests kill may hold it.
		env.url = testenv.Redis(t)
		env.url = env.url[:strings.LastIndexByte(env.url, '/')+1] + killRedisDB
		tr, err := redis.Dial(ctx, env.url, redis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = tr.Close()
			opts, err := goredis.ParseURL(env.url)
			if err != nil {
				return
			}
			rdb := goredis.NewClient(opts)
			defer rdb.Close()
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			iter := rdb.Scan(cctx, 0, "*"+env.q+"*", 1000).Iterator()
			for iter.Next(cctx) {
				_ = rdb.Del(cctx, iter.Val()).Err()
			}
		})
		env.tr = tr
	case "amqp":
		env.url = testenv.RabbitMQ(t)
		tr, err := amqp.Dial(ctx, env.url, amqp.Options{ManagementURL: "-"})
		if err != nil {
			t.Fatal(err)
		}
		env.tr = tr
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, q := range []string{env.q, env.q + ".dead", env.q + ".claimed"} {
				_ = tr.Delete(cctx, q)
			}
			_ = tr.Close()
		})
		// Every result, as it comes (the client would keep the first).
		sub, err := tr.Results().Subscribe(ctx, broker.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		env.replyTo = sub.ReplyTo()
		const sentinel = "end-of-results"
		ch := make(chan string, 1024)
		go func() {
			for res := range sub.Results() {
				if res.TaskID == sentinel {
					ch <- sentinel
				} else if r, err := celery.DecodeResult(res.Body, res.TaskID); err == nil && r.State == celery.StateSuccess {
					ch <- res.TaskID
				}
			}
		}()
		env.successes = ch
		env.drain = func(t *testing.T, seen func(string)) {
			// Behind every result the workers sent, in the same queue.
			conf, err := tr.Publish(ctx, broker.Publishing{Queue: env.replyTo, Message: &broker.Message{
				CorrelationID: sentinel, ContentType: "application/json", Body: []byte(`{}`)}})
			if err == nil {
				err = broker.WaitConfirm(ctx, conf)
			}
			if err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case id := <-ch:
					if id == sentinel {
						return
					}
					seen(id)
				case <-ctx.Done():
					t.Fatal("the results left in the reply queue never came")
				}
			}
		}
	default:
		t.Fatalf("no broker %q", name)
	}
	return env
}

// loggedWorker is a dsys worker process whose log goes to a file.
type loggedWorker struct {
	cmd     *exec.Cmd
	path    string
	exited  chan struct{}
	reached chan struct{} // closed once it has logged the start of its share of tasks
}

// startLoggedWorker runs the dsys binary as a worker (with --log-level
// debug), its log in a file (the task lines of a load are too many for a
// test's output), and waits until it consumes.
func startLoggedWorker(t *testing.T, share int, args ...string) *loggedWorker {
	t.Helper()
	w := &loggedWorker{path: filepath.Join(t.TempDir(), "worker.log"), exited: make(chan struct{}), reached: make(chan struct{})}
	f, err := os.Create(w.path)
	if err != nil {
		t.Fatal(err)
	}
	w.cmd = exec.Command(testenv.Binary(t), append([]string{"queue", "worker"}, args...)...)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(w.exited)
		sc := bufio.NewScanner(stderr)
		bw := bufio.NewWriter(f)
		signalled, started := false, 0
		for sc.Scan() {
			fmt.Fprintln(bw, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "worker ready") {
				close(ready)
				signalled = true
			}
			if strings.Contains(sc.Text(), `msg="task started"`) {
				if started++; started == share {
					close(w.reached)
				}
			}
		}
		_ = bw.Flush()
		_ = f.Close()
		_ = w.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
	})
	select {
	case <-ready:
	case <-w.exited:
		t.Fatalf("the worker exited before it was ready; its log: %s", w.path)
	case <-time.After(30 * time.Second):
		t.Fatal("the worker was not ready within 30s")
	}
	return w
}

// wait waits until the worker has exited and returns its log.
func (w *loggedWorker) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not exit within 30s")
	}
	b, err := os.ReadFile(w.path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
