package cmd

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
)

// embeddedEnv isolates the config and returns a --broker for an embedded
// broker in the test's own directory.
func embeddedEnv(t *testing.T) []string {
	t.Helper()
	testenv.Binary(t)
	dir := isolateConfig(t)
	return []string{"--broker", "sqlite://" + filepath.Join(dir, "queue.db")}
}

// With no configuration at all the worker and submit --wait add 4 4 work:
// the default broker is an embedded one in $XDG_DATA_HOME.
func TestQueueZeroConfig(t *testing.T) {
	testenv.Binary(t) // builds from the module, before the test leaves it
	dir := isolateConfig(t)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	w := startWorkerProc(t, "--concurrency", "2")
	banner := w.log.String()
	for _, want := range []string{"broker=sqlite://" + filepath.Join(dir, "data", "dsys", "queue.db"), "queue.broker: amqp://",
		"queues=celery", "concurrency=2", "tasks=add,dsys.compute.chunk,echo,fail,mul,sleep,sum,tasks.add"} {
		if !strings.Contains(banner, want) {
			t.Errorf("worker banner lacks %q:\n%s", want, banner)
		}
	}
	out, errOut, code := runDsys(t, "", "queue", "submit", "--wait", "add", "4", "4")
	if code != 0 || out != "8\n" {
		t.Fatalf("submit --wait add 4 4: %q %q exit %d", out, errOut, code)
	}
}

func TestQueueResult(t *testing.T) {
	broker := embeddedEnv(t)
	q := []string{"--queue", "r"}
	id, errOut, code := runDsys(t, "", append(append([]string{"queue", "submit", "sum", "[1, 2, 3]"}, broker...), q...)...)
	if code != 0 {
		t.Fatalf("submit: %q exit %d", errOut, code)
	}
	id = strings.TrimSpace(id)
	if _, errOut, code := runDsys(t, "", append([]string{"queue", "result", id}, broker...)...); code != 3 || !strings.Contains(errOut, "no result for task "+id+" yet") {
		t.Fatalf("result before it is there: %q exit %d, want 3", errOut, code)
	}
	startWorkerProc(t, append(broker, q...)...)
	for range 2 { // readable more than once
		out, errOut, code := runDsys(t, "", append([]string{"queue", "result", "--wait", "--timeout", "20s", id}, broker...)...)
		if code != 0 || out != "6\n" {
			t.Fatalf("result --wait: %q %q exit %d", out, errOut, code)
		}
	}
	out, _, code := runDsys(t, "", append([]string{"-o", "json", "queue", "result", id}, broker...)...)
	if code != 0 || out != `{"id":"`+id+`","state":"SUCCESS","result":6}`+"\n" {
		t.Fatalf("result -o json: %q exit %d", out, code)
	}
	fid, _, _ := runDsys(t, "", append(append([]string{"queue", "submit", "fail", "boom"}, broker...), q...)...)
	_, errOut, code = runDsys(t, "", append([]string{"queue", "result", "--wait", "--timeout", "20s", strings.TrimSpace(fid)}, broker...)...)
	if code != 1 || !strings.Contains(errOut, "TaskError: boom") {
		t.Fatalf("result of a failed task: %q exit %d, want 1", errOut, code)
	}
}

// submit --wait with no worker says so on stderr within 2 s and keeps
// waiting (here until --timeout).
func TestQueueSubmitHintsNoWorker(t *testing.T) {
	broker := embeddedEnv(t)
	start := time.Now()
	_, errOut, code := runDsys(t, "", append([]string{"queue", "submit", "--wait", "--timeout", "2500ms", "--queue", "idle", "add", "1", "1"}, broker...)...)
	if code != 3 || !strings.Contains(errOut, "no worker is consuming queue idle; waiting — --timeout bounds it") {
		t.Fatalf("submit --wait without a worker: %q exit %d", errOut, code)
	}
	if strings.Count(strings.TrimSpace(errOut), "\n") != 1 { // the hint, then the timeout
		t.Errorf("want the hint on one line, then the timeout:\n%s", errOut)
	}
	if el := time.Since(start); el < 2500*time.Millisecond {
		t.Errorf("gave up after %v, before --timeout", el)
	}
}

func TestQueueSubmitOneQueue(t *testing.T) {
	broker := embeddedEnv(t)
	for _, tc := range []struct{ queue, want string }{{"", "--queue: expected a queue name"}, {"a,b", "a task goes to one queue"}} {
		_, errOut, code := runDsys(t, "", append([]string{"queue", "submit", "--queue", tc.queue, "add", "1", "1"}, broker...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("--queue %q: %q exit %d, want 2 and %q", tc.queue, errOut, code, tc.want)
		}
	}
}

// The queue's built-ins and configured tasks complete as submit's first argument.
func TestQueueSubmitCompletesTaskNames(t *testing.T) {
	embeddedEnv(t)
	out, _, code := runDsys(t, "", "__complete", "queue", "submit", "")
	if code != 0 || !strings.Contains(out, "add\n") || !strings.Contains(out, "tasks.add\n") {
		t.Fatalf("completion: %q exit %d", out, code)
	}
}

// submit --wait cancelled (an interrupt, or a broken stdout, which cancels
// the command's context) cleans up: its rpc:// reply queue is deleted, not
// left behind for a day.
func TestQueueSubmitCancelledCleansUp(t *testing.T) {
	brokerURL, q := queueEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan string, 1)
	go func() {
		_, errOut, _ := runDsysContext(t, ctx, "", "--log-level", "debug", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "add", "1", "1")
		done <- errOut
	}()
	// No worker: it waits until cancelled.
	select {
	case errOut := <-done:
		t.Fatalf("submit returned without a worker: %s", errOut)
	case <-time.After(time.Second):
	}
	cancel()
	var errOut string
	select {
	case errOut = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("submit did not stop when cancelled")
	}
	m := regexp.MustCompile(`reply_to=(\S+)`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no reply queue in the log:\n%s", errOut)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	b, err := amqp.Dial(ctx2, brokerURL, amqp.Options{ManagementURL: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Inspect(ctx2, m[1]); !errors.Is(err, broker.ErrQueueNotFound) {
		t.Fatalf("the reply queue %s after a cancelled submit: %v, want it deleted", m[1], err)
	}
}
