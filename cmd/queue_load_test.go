package cmd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

// cpuTicks is a process's user+system CPU time from /proc, in clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	s, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + s
}

// An idle worker uses at most 1% of a core: it waits for file change
// notifications (embedded broker) or deliveries (RabbitMQ), never polls busily.
func TestQueueIdleWorkerCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 4 s of idleness per broker")
	}
	brokers := map[string]func(t *testing.T) (url, queue string){
		"sqlite": func(t *testing.T) (string, string) { return "sqlite://" + filepath.Join(t.TempDir(), "q.db"), "idle" },
		"amqp":   queueEnv, // its queues are deleted after the test
	}
	for name, env := range brokers {
		t.Run(name, func(t *testing.T) {
			u, q := env(t)
			testenv.Binary(t)
			isolateConfig(t)
			w := startWorkerProc(t, "--broker", u, "--queue", q)
			pid := w.cmd.Process.Pid
			start, t0 := cpuTicks(t, pid), time.Now()
			select {
			case <-w.exited:
				t.Fatal("the worker exited")
			case <-time.After(4 * time.Second): // the idle period measured
			}
			used := float64(cpuTicks(t, pid)-start) / 100 // USER_HZ is 100 on Linux
			if share := used / time.Since(t0).Seconds(); share > 0.01 {
				t.Errorf("an idle worker used %.1f%% of a core (%.2f s over %v), want at most 1%%", 100*share, used, time.Since(t0))
			}
		})
	}
}

// Four workers on one embedded broker, 10,000 tasks: every task gets
// exactly one SUCCESS, and no task is run twice.
func TestQueueEmbeddedExactlyOnceClaim(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 10,000 tasks through 4 worker processes")
	}
	broker := embeddedEnv(t)
	const n = 10000
	var workers []*workerProc
	for range 4 {
		workers = append(workers, startWorkerProc(t, append(broker, "--queue", "load", "--concurrency", "2", "--prefetch", "64")...))
	}
	var in strings.Builder
	var want strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "[%d, %d]\n", i, n)
		fmt.Fprintf(&want, "%d\n", i+n)
	}
	out, errOut, code := runDsys(t, in.String(), append(broker, "queue", "submit", "--queue", "load", "--wait", "--timeout", "3m", "add", "-")...)
	if code != 0 || out != want.String() {
		t.Fatalf("exit %d, %d result lines; stderr %q", code, strings.Count(out, "\n"), errOut)
	}
	for _, w := range workers { // the log lines follow the results: stop, then count
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		<-w.exited
	}
	runs := map[string]int{}
	perWorker := make([]int, len(workers))
	for i, w := range workers {
		for _, line := range strings.Split(w.log.String(), "\n") {
			if strings.Contains(line, "msg=task ") && strings.Contains(line, "state=SUCCESS") {
				id := strings.Fields(line[strings.Index(line, "id="):])[0]
				runs[id]++
				perWorker[i]++
			}
		}
	}
	if len(runs) != n {
		t.Errorf("%d tasks ran, want %d", len(runs), n)
	}
	for id, k := range runs {
		if k != 1 {
			t.Errorf("task %s ran %d times", id, k)
		}
	}
	t.Logf("tasks per worker: %v", perWorker)
}

// kill -9 of every process (two workers, the submitter) in the middle of
// the load loses nothing: every task the broker had confirmed (its id
// printed) is run once the broker's file is used again.
func TestQueueEmbeddedKillEverythingLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills workers and a submitter mid-load")
	}
	testenv.Binary(t)
	dir := isolateConfig(t)
	path := filepath.Join(dir, "q.db")
	args := []string{"--broker", "sqlite://" + path, "--queue", "k"}
	t.Setenv("DSYS_QUEUE_VISIBILITY_TIMEOUT", "3s") // leases of the killed workers run out quickly
	var workers []*workerProc
	for range 2 {
		workers = append(workers, startWorkerProc(t, append(args, "--concurrency", "2")...))
	}
	// Tasks that take a moment, so that work is in flight at the kill.
	const n = 3000
	sub := exec.Command(testenv.Binary(t), append([]string{"queue", "submit", "sleep", "-"}, args...)...)
	var in strings.Builder
	for range n {
		in.WriteString("[0.001]\n")
	}
	sub.Stdin = strings.NewReader(in.String())
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	ids := make(chan string, n)
	go func() {
		defer close(ids)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ids <- sc.Text()
		}
	}()
	var confirmed []string
	for id := range ids {
		if !uuidRE.MatchString(id) {
			continue // the line the kill cut short
		}
		confirmed = append(confirmed, id)
		if len(confirmed) == n/2 { // mid-load: everything dies at once
			_ = sub.Process.Kill()
			for _, w := range workers {
				_ = w.cmd.Process.Kill()
			}
		}
	}
	_ = sub.Wait()
	for _, w := range workers {
		<-w.exited
	}
	if len(confirmed) < n/2 {
		t.Fatalf("only %d tasks confirmed before the kill", len(confirmed))
	}
	// A new worker serves everything that was confirmed.
	startWorkerProc(t, append(args, "--concurrency", "2")...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	client, err := queue.NewClient(ctx, tr, queue.ClientConfig{Queue: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ars := make([]*queue.AsyncResult, len(confirmed))
	for i, id := range confirmed {
		ars[i] = client.Result(id)
	}
	missing := 0
	for i, ar := range ars {
		res, err := ar.Wait(ctx)
		if err != nil {
			missing++
			r, gerr := tr.Results().Get(context.Background(), confirmed[i])
			info, _ := tr.Inspect(context.Background(), "k")
			t.Errorf("task %s: no result (%v); stored: %+v %v; queue %+v", confirmed[i], err, r, gerr, info)
			continue
		}
		if res.State != celery.StateSuccess {
			t.Fatalf("task %s: %+v", confirmed[i], res)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d confirmed tasks never ran after kill -9 of every process", missing, len(confirmed))
	}
	t.Logf("%d tasks confirmed before the kill; all ran", len(confirmed))
}
