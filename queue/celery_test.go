package queue_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/celery"
)

func celeryPeer(t testing.TB) (python, script string) {
	t.Helper()
	python = testenv.Python(t, "celery")
	script, err := filepath.Abs(filepath.Join("testdata", "celery_peer.py"))
	if err != nil {
		t.Fatal(err)
	}
	return python, script
}

// startCeleryWorker runs a real Celery worker on queue until the test ends.
func startCeleryWorker(t *testing.T, url, queueName string) {
	t.Helper()
	python, script := celeryPeer(t)
	cmd := exec.Command(python, script, "worker", url, queueName)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan struct{})
	var log strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			line := sc.Text()
			log.WriteString(line + "\n")
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
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("celery worker log:\n%s", log.String())
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("celery worker exited:\n%s", log.String())
	case <-time.After(60 * time.Second):
		t.Fatal("celery worker not ready within 60s")
	}
}

// celeryOutcomes runs a Python Celery client script for at most limit and
// reads the JSON object it prints: call name → outcome.
func celeryOutcomes(t *testing.T, limit time.Duration, python string, args ...string) map[string]map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("celery client: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

// A Python Celery 5 client calls tasks served by a dsys worker.
func TestCeleryClientAgainstDsysWorker(t *testing.T) {
	h := newHarness(t)
	python, script := celeryPeer(t)
	h.startWorker(queue.WorkerConfig{})
	got := celeryOutcomes(t, 90*time.Second, python, script, "client", testenv.RabbitMQ(t), h.queue)
	ok := func(name string, want any) {
		t.Helper()
		if got[name]["ok"] != want {
			t.Errorf("%s: %v, want %v", name, got[name], want)
		}
	}
	exc := func(name, typ, msg string) {
		t.Helper()
		r := got[name]
		if r["exc_type"] != typ || !strings.Contains(r["message"].(string), msg) {
			t.Errorf("%s: %v, want %s(%q)", name, r, typ, msg)
		}
	}
	ok("add", 8.0)
	ok("float", 3.5)
	ok("chain", 7.0)
	ok("countdown", 5.0)
	ok("v1", 42.0)
	exc("fail", "TaskError", "boom")
	exc("unknown", "NotRegistered", "tasks.nope")
	exc("expired", "TaskRevokedError", "expired")
}

// A dsys client calls tasks served by a Python Celery 5 worker.
func TestDsysClientAgainstCeleryWorker(t *testing.T) {
	h := newHarness(t)
	url := testenv.RabbitMQ(t)
	startCeleryWorker(t, url, h.queue)
	c := h.newClient()
	if v, err := h.get(c, &celery.Task{Name: "tasks.add", Args: []any{n("4"), n("4")}}); err != nil || v != n("8") {
		t.Fatalf("tasks.add(4, 4) = %v, %v", v, err)
	}
	if v, err := h.get(c, &celery.Task{Name: "tasks.add", Args: []any{n("1.5"), n("2")}}); err != nil || v != n("3.5") {
		t.Fatalf("tasks.add(1.5, 2) = %v, %v", v, err)
	}
	_, err := h.get(c, &celery.Task{Name: "tasks.fail", Args: []any{"boom"}})
	var re *celery.RemoteError
	if !errors.As(err, &re) || re.Type != "ValueError" || re.Module != "builtins" || re.Error() != "ValueError: boom" ||
		!strings.Contains(re.Traceback, "ValueError: boom") {
		t.Fatalf("tasks.fail: %#v", err)
	}
	_, err = h.get(c, &celery.Task{Name: "tasks.nope", Args: []any{n("1")}})
	if !errors.As(err, &re) || re.Type != "NotRegistered" {
		t.Fatalf("unknown task: %#v", err)
	}
	_, err = h.get(c, &celery.Task{Name: "tasks.add", Args: []any{n("1"), n("1")}, Expires: time.Now().Add(-time.Minute)})
	if !errors.As(err, &re) || re.Type != "TaskRevokedError" || re.State != celery.StateRevoked {
		t.Fatalf("expired: %#v", err)
	}
	// A chain encoded by dsys, run by Celery: add(1, 1) | add(2) | add(3).
	last := c.Result(testenv.UniqueName(t, "last"))
	sig := func(id string, arg json.Number) celery.Signature {
		return celery.Signature{Task: "tasks.add", Args: []any{arg}, Options: map[string]any{"task_id": id, "reply_to": c.ReplyTo()}}
	}
	if _, err := c.Submit(h.ctx(), &celery.Task{Name: "tasks.add", Args: []any{n("1"), n("1")},
		Chain: []celery.Signature{sig(last.ID, "3"), sig(testenv.UniqueName(t, "mid"), "2")}}); err != nil {
		t.Fatal(err)
	}
	if v, err := last.Get(h.ctx()); err != nil || v != n("7") {
		t.Fatalf("chain: %v %v", v, err)
	}
}
