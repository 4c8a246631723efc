package cmd

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// seedRedisDB is the Redis database of the seed client's test: the seed's
// code cannot name a key prefix or a queue, so it has a database of its own
// (its "celery" queue and results are deleted afterwards).
const seedRedisDB = "10"

// The seed's Celery client, broker and backend pointed at Redis, gets 8
// from `dsys queue worker --broker redis://…`; `dsys queue submit --wait`
// reads the same worker's result from Redis.
func TestSeedCeleryClientOnRedis(t *testing.T) {
	url := testenv.Redis(t)
	url = url[:strings.LastIndexByte(url, '/')+1] + seedRedisDB
	python := testenv.Python(t, "celery", "redis")
	testenv.Binary(t)
	isolateConfig(t)
	t.Cleanup(func() { cleanSeedDB(t, url) })
	w := startWorkerProc(t, "--broker", url)
	seed := `from celery import Celery
app = Celery('tasks', broker='` + url + `', backend='` + url + `')

@app.task
def add(x, y):
    return x + y

print(add.delay(4, 4).get(timeout=30))
`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", seed).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "8" {
		t.Fatalf("the seed client: %v\n%s", err, out)
	}
	w.waitFor(t, "name=tasks.add state=SUCCESS")
	if out, errOut, code := runDsys(t, "", "queue", "submit", "--broker", url, "--wait", "--timeout", "30s", "tasks.add", "4", "4"); code != 0 || out != "8\n" {
		t.Fatalf("submit --wait: %q %q exit %d", out, errOut, code)
	}
	out2, errOut, code := runDsys(t, "", "-o", "json", "queue", "inspect", "--broker", url)
	if code != 0 || !strings.Contains(out2, `"queue":"celery"`) || !strings.Contains(out2, `"consumers":1`) {
		t.Fatalf("inspect: %q %q exit %d", out2, errOut, code)
	}
}

// cleanSeedDB deletes what the seed test left in its database: the
// "celery" queue's keys, results, and the keys matching more patterns.
func cleanSeedDB(t *testing.T, url string, more ...string) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pattern := range append([]string{"celery-task-meta-*", "celery", "celery\x06\x16*", "_kombu.binding.celery*", "_dsys.*celery*"}, more...) {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			_ = rdb.Del(ctx, iter.Val()).Err()
		}
	}
}

// `dsys queue worker --broker redis://…` SIGKILLed mid-task: with
// queue.visibility_timeout 3s its task comes back to the queue 3 s later
// and the next worker runs it (counted as a redelivery).
func TestKilledRedisWorkerTaskRunsAgain(t *testing.T) {
	url := testenv.Redis(t)
	url = url[:strings.LastIndexByte(url, '/')+1] + seedRedisDB
	testenv.Binary(t)
	isolateConfig(t)
	t.Setenv("DSYS_QUEUE_VISIBILITY_TIMEOUT", "3s")
	t.Setenv("DSYS_LOG_LEVEL", "debug")
	q := testenv.UniqueName(t, "killq")
	t.Cleanup(func() { cleanSeedDB(t, url, "*"+q+"*") })
	w1 := startWorkerProc(t, "--broker", url, "--queue", q, "--concurrency", "1")
	id, errOut, code := runDsys(t, "", "queue", "submit", "--broker", url, "--queue", q, "sleep", "2")
	if code != 0 {
		t.Fatalf("submit: %q exit %d", errOut, code)
	}
	id = strings.TrimSpace(id)
	w1.waitFor(t, "task started")
	if err := w1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w1.exited
	killed := time.Now()
	w2 := startWorkerProc(t, "--broker", url, "--queue", q, "--concurrency", "1")
	if _, errOut, code := runDsys(t, "", "queue", "result", "--broker", url, "--wait", "--timeout", "30s", id); code != 0 {
		t.Fatalf("result after the kill: %q exit %d", errOut, code)
	}
	if el := time.Since(killed); el < 2500*time.Millisecond {
		t.Errorf("the task ran again %v after the kill, before the 3 s visibility timeout", el)
	}
	w2.waitFor(t, "redelivered")
}
