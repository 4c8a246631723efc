package cmd

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// `celery inspect ping` over Redis reaches a dsys worker: remote control's
// broadcast goes over Redis pub/sub and the reply through kombu's direct
// bindings, as with Celery's own workers on Redis.
func TestCeleryInspectPingOverRedis(t *testing.T) {
	url := testenv.Redis(t)
	url = url[:strings.LastIndexByte(url, '/')+1] + seedRedisDB
	python := testenv.Python(t, "celery", "redis")
	testenv.Binary(t)
	isolateConfig(t)
	node := strings.ReplaceAll(testenv.UniqueName(t, "ping"), ".", "-") + "@dsys"
	q := testenv.UniqueName(t, "pingq")
	t.Cleanup(func() {
		cleanSeedDB(t, url, "*"+q+"*", "*"+node+"*", "_kombu.binding.*pidbox*", "_kombu.binding.celeryev*")
	})
	startWorkerProc(t, "--broker", url, "--queue", q, "--hostname", node)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-m", "celery", "--broker="+url, "inspect", "ping", "-d", node, "--timeout", "5").CombinedOutput()
	if err != nil || !strings.Contains(string(out), node+": OK") || !strings.Contains(string(out), "pong") {
		t.Fatalf("celery inspect ping: %v\n%s", err, out)
	}
}

// `celery events --dump` over Redis sees a dsys worker's task and worker
// events (Celery's event exchange is fanout on Redis: pub/sub channels).
func TestCeleryEventsOverRedis(t *testing.T) {
	url := testenv.Redis(t)
	url = url[:strings.LastIndexByte(url, '/')+1] + seedRedisDB
	python := testenv.Python(t, "celery", "redis")
	testenv.Binary(t)
	isolateConfig(t)
	node := strings.ReplaceAll(testenv.UniqueName(t, "ev"), ".", "-") + "@dsys"
	q := testenv.UniqueName(t, "evq")
	t.Cleanup(func() {
		cleanSeedDB(t, url, "*"+q+"*", "*"+node+"*", "_kombu.binding.*pidbox*", "_kombu.binding.celeryev*")
	})
	startWorkerProc(t, "--broker", url, "--queue", q, "--hostname", node, "-E")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dump := exec.CommandContext(ctx, python, "-m", "celery", "--broker="+url, "events", "--dump")
	out := &syncWriter{}
	dump.Stdout, dump.Stderr = out, out
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dump.Process.Kill(); _ = dump.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), node+" [") { // its heartbeats arrive every 2 s
		if time.Now().After(deadline) {
			t.Fatalf("celery events saw nothing of %s:\n%s", node, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, errOut, code := runDsys(t, "", "queue", "submit", "--broker", url, "--queue", q, "--wait", "--timeout", "30s", "add", "1", "2"); code != 0 {
		t.Fatalf("submit: %q exit %d", errOut, code)
	}
	for !strings.Contains(out.String(), "task succeeded: add(") {
		if time.Now().After(deadline) {
			t.Fatalf("celery events saw no task-succeeded:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncWriter is an output sink a test reads while a process writes.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
