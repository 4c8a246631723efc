package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// celeryTools runs Celery's own CLI and an app of celery_app.py against
// exchanges of the test's own (control and event), so that tests running
// at the same time never answer each other.
type celeryTools struct {
	t        *testing.T
	python   string
	dir      string
	url      string
	queue    string
	control  string
	events   string
	extraEnv []string
}

func newCeleryTools(t *testing.T, url, queueName string) *celeryTools {
	t.Helper()
	python := testenv.Python(t, "celery")
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	c := &celeryTools{t: t, python: python, dir: dir, url: url, queue: queueName,
		control: testenv.UniqueName(t, "cx"), events: testenv.UniqueName(t, "ev")}
	t.Cleanup(func() {
		conn, err := amqp091.Dial(url)
		if err != nil {
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		for _, ex := range []string{c.control + ".pidbox", "reply." + c.control + ".pidbox", c.events, c.queue} {
			_ = ch.ExchangeDelete(ex, false, false)
		}
		for _, q := range []string{c.queue, c.queue + ".dead"} {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})
	return c
}

func (c *celeryTools) controlConfig(events bool) *queue.ControlConfig {
	return &queue.ControlConfig{Exchange: c.control, EventExchange: c.events, Events: events}
}

func (c *celeryTools) env() []string {
	return append(append(os.Environ(), "PYTHONPATH="+c.dir, "DSYS_TEST_BROKER="+c.url, "DSYS_TEST_QUEUE="+c.queue,
		"DSYS_TEST_CONTROL="+c.control, "DSYS_TEST_EVENTS="+c.events), c.extraEnv...)
}

// cli runs `celery -A celery_app ARGS…` and returns its stdout.
func (c *celeryTools) cli(args ...string) (string, error) {
	c.t.Helper()
	return c.run(append([]string{"-m", "celery", "-A", "celery_app"}, args...)...)
}

// script runs celery_app.py ARGS… and returns its stdout.
func (c *celeryTools) script(args ...string) (string, error) {
	c.t.Helper()
	return c.run(append([]string{filepath.Join(c.dir, "celery_app.py")}, args...)...)
}

func (c *celeryTools) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.python, args...)
	cmd.Dir, cmd.Env = c.dir, c.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// inspect runs `celery inspect METHOD -j -d node` and decodes node's reply.
func (c *celeryTools) inspect(node, method string, args ...string) any {
	c.t.Helper()
	out, err := c.cli(append([]string{"inspect", method, "-j", "-t", "5", "-d", node}, args...)...)
	if err != nil {
		c.t.Fatalf("celery inspect %s: %v", method, err)
	}
	var replies map[string]any
	if err := celery.DecodeJSON([]byte(lastJSONLine(out)), &replies); err != nil {
		c.t.Fatalf("celery inspect %s: %v in %q", method, err, out)
	}
	return replies[node]
}

func lastJSONLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "{") || strings.HasPrefix(lines[i], "[") {
			return lines[i]
		}
	}
	return s
}

// process is a subprocess whose stdout lines the test reads.
type process struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	mu    sync.Mutex
	out   strings.Builder
}

func (c *celeryTools) start(args ...string) *process {
	c.t.Helper()
	cmd := exec.Command(c.python, args...)
	cmd.Dir, cmd.Env = c.dir, c.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	p := &process{cmd: cmd, lines: make(chan string, 4096), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_ = cmd.Wait()
	}()
	c.t.Cleanup(func() {
		p.stop()
		if c.t.Failed() {
			c.t.Logf("%v output:\n%s", args, p.output())
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitLine waits for a line containing s.
func (p *process) waitLine(t *testing.T, s string, within time.Duration) string {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return l
			}
		case <-p.done:
			for {
				select {
				case l := <-p.lines:
					if strings.Contains(l, s) {
						return l
					}
					continue
				default:
				}
				break
			}
			t.Fatalf("process ended before printing %q:\n%s", s, p.output())
		case <-timer.C:
			t.Fatalf("no %q within %v:\n%s", s, within, p.output())
		}
	}
}

// stop ends the process (SIGINT, then SIGKILL) and waits for it.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startCeleryNode runs a real Celery worker named node on the tools' queue
// and control exchange.
func (c *celeryTools) startCeleryNode(node string) *process {
	c.t.Helper()
	p := c.start(filepath.Join(c.dir, "celery_app.py"), "worker", node)
	p.waitLine(c.t, " ready.", 60*time.Second)
	return p
}

// runWorker runs a dsys worker until the test ends; done is closed when
// Run returns (its error in *err).
func runWorker(t *testing.T, h *harness, cfg queue.WorkerConfig) (w *queue.Worker, done chan struct{}, runErr *error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = h.logger()
	}
	w = queue.NewWorker(h.b, h.reg, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	runErr = new(error)
	go func() {
		*runErr = w.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("worker did not stop within 60s")
		}
	})
	select {
	case <-w.Ready():
	case <-done:
		t.Fatalf("worker stopped: %v", *runErr)
	case <-time.After(10 * time.Second):
		t.Fatal("worker not ready within 10s")
	}
	return w, done, runErr
}

func nodeName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s-%d-%d@test", prefix, os.Getpid(), time.Now().UnixNano())
}

// eventually retries check until it is true, at most 50 times 200ms apart.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	for range 50 {
		if check() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not so within 10s", what)
}

func ids(list any) []string {
	var out []string
	items, _ := list.([]any)
	for _, it := range items {
		switch x := it.(type) {
		case map[string]any:
			if r, ok := x["request"].(map[string]any); ok {
				x = r
			}
			out = append(out, fmt.Sprint(x["id"]))
		case string:
			out = append(out, x)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func revokedWith(t *testing.T, c *queue.Client, ar *queue.AsyncResult, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ar.Wait(ctx)
	var re *celery.RemoteError
	if !errors.As(err, &re) || re.State != celery.StateRevoked || re.Type != "TaskRevokedError" || fmt.Sprint(re.Message) != "["+reason+"]" {
		t.Fatalf("task %s: %v, want REVOKED TaskRevokedError(%s)", ar.ID, err, reason)
	}
}

// Celery's CLI inspects and steers a dsys worker as one of its own:
// status, ping, active, reserved, registered, stats; revoke of a reserved
// task, terminate of a running one, a revoked id remembered; shutdown.
func TestCeleryInspectAndControlDsysWorker(t *testing.T) {
	h := newHarness(t)
	tools := newCeleryTools(t, testenv.RabbitMQ(t), h.queue)
	node := nodeName(t, "dsys")
	_, done, runErr := runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}, Concurrency: 1, Prefetch: 2,
		Hostname: node, Control: tools.controlConfig(false)})
	out, err := tools.cli("status", "-t", "3")
	if err != nil || !strings.Contains(out, node+": OK") || !strings.Contains(out, "online.") {
		t.Fatalf("celery status: %v\n%s", err, out)
	}
	if got := tools.inspect(node, "ping"); fmt.Sprint(got) != "map[ok:pong]" {
		t.Errorf("ping: %v", got)
	}
	c := h.newClient()
	running, err := c.Submit(h.ctx(), &celery.Task{Name: "sleep", Args: []any{n("30")}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sleep task active", func() bool { return contains(ids(tools.inspect(node, "active")), running.ID) })
	queued, err := c.Submit(h.ctx(), &celery.Task{Name: "sleep", Args: []any{n("30")}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second task reserved", func() bool { return contains(ids(tools.inspect(node, "reserved")), queued.ID) })
	if reg := tools.inspect(node, "registered"); !contains(ids(reg), "tasks.add") || contains(ids(reg), "celery.map") {
		t.Errorf("registered: %v", reg)
	}
	if conf, _ := tools.inspect(node, "conf").(map[string]any); fmt.Sprint(conf["worker_concurrency"]) != "1" || conf["control_exchange"] != tools.control {
		t.Errorf("conf: %v", conf)
	}
	stats, _ := tools.inspect(node, "stats").(map[string]any)
	if pool, _ := stats["pool"].(map[string]any); fmt.Sprint(pool["max-concurrency"]) != "1" || fmt.Sprint(stats["prefetch_count"]) != "2" {
		t.Errorf("stats: %v", stats)
	}
	// Revoke the queued task, terminate the running one.
	if out, err := tools.cli("control", "revoke", queued.ID, "-t", "5", "-d", node); err != nil || !strings.Contains(out, "flagged as revoked") {
		t.Fatalf("celery control revoke: %v\n%s", err, out)
	}
	if out, err := tools.cli("control", "terminate", "SIGKILL", running.ID, "-t", "5", "-d", node); err != nil ||
		!strings.Contains(out, "terminate: "+running.ID) {
		t.Fatalf("celery control terminate: %v\n%s", err, out)
	}
	revokedWith(t, c, running, "terminated")
	revokedWith(t, c, queued, "revoked")
	if r := ids(tools.inspect(node, "revoked")); !contains(r, queued.ID) || !contains(r, running.ID) {
		t.Errorf("revoked: %v", r)
	}
	// Remembered: a task revoked before it arrives is not run.
	later := testenv.UniqueName(t, "later")
	if out, err := tools.cli("control", "revoke", later, "-t", "5", "-d", node); err != nil || !strings.Contains(out, "flagged as revoked") {
		t.Fatalf("celery control revoke: %v\n%s", err, out)
	}
	again, err := c.Submit(h.ctx(), &celery.Task{ID: later, Name: "add", Args: []any{n("1"), n("1")}})
	if err != nil {
		t.Fatal(err)
	}
	revokedWith(t, c, again, "revoked")
	// Celery's workers do not answer shutdown (they exit first), so the
	// CLI reports no reply, from them as from dsys.
	_, _ = tools.cli("control", "shutdown", "-d", node)
	select {
	case <-done:
		if *runErr != nil {
			t.Errorf("Run after a remote shutdown: %v", *runErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker still running 30s after celery control shutdown")
	}
}

// terminate=True with a signal reaches a command task's process group.
func TestTerminateCommandTaskWithSignal(t *testing.T) {
	h := newHarness(t)
	tools := newCeleryTools(t, testenv.RabbitMQ(t), h.queue)
	mark := filepath.Join(t.TempDir(), "signal")
	f, err := queue.CommandTask([]string{"sh", "-c", "trap 'echo USR1 > " + mark + "; exit 3' USR1; echo started > " + mark + ".up; sleep 30 & wait"}, queue.CommandOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.reg.Register(queue.TaskDef{Name: "tasks.trap", Func: f}); err != nil {
		t.Fatal(err)
	}
	node := nodeName(t, "dsys")
	runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}, Concurrency: 1, Hostname: node, Control: tools.controlConfig(false)})
	c := h.newClient()
	ar, err := c.Submit(h.ctx(), &celery.Task{Name: "tasks.trap"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the command running", func() bool { _, err := os.Stat(mark + ".up"); return err == nil })
	if out, err := tools.cli("control", "terminate", "SIGUSR1", ar.ID, "-t", "5", "-d", node); err != nil ||
		!strings.Contains(out, "terminate: "+ar.ID) {
		t.Fatalf("celery control terminate SIGUSR1: %v\n%s", err, out)
	}
	revokedWith(t, c, ar, "terminated")
	if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != "USR1" {
		t.Errorf("the command's trap saw %q (%v), want USR1", b, err)
	}
}

// In a pool of a Celery worker and a dsys worker, celery status lists
// both and a revoke reaches both; a dsys worker that starts later learns
// the revoked ids from the Celery worker (mingle), and does not run them.
func TestMixedPoolStatusAndSharedRevokes(t *testing.T) {
	h := newHarness(t)
	url := testenv.RabbitMQ(t)
	tools := newCeleryTools(t, url, h.queue)
	celeryNode := nodeName(t, "py")
	tools.startCeleryNode(celeryNode)
	dsysNode := nodeName(t, "dsys")
	runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}, Hostname: dsysNode, Control: tools.controlConfig(false)})
	out, err := tools.cli("status", "-j", "-t", "3")
	if err != nil || !strings.Contains(out, celeryNode) || !strings.Contains(out, dsysNode) {
		t.Fatalf("celery status: %v\n%s", err, out)
	}
	revoked := testenv.UniqueName(t, "revoked")
	out, err = tools.cli("control", "revoke", revoked, "-j", "-t", "3")
	if err != nil || !strings.Contains(out, celeryNode) || !strings.Contains(out, dsysNode) {
		t.Fatalf("celery control revoke: %v\n%s", err, out)
	}
	// A dsys worker on a queue of its own, started after the revoke.
	late := newHarnessOn(t, url)
	lateNode := nodeName(t, "late")
	runWorker(t, late, queue.WorkerConfig{Queues: []string{late.queue}, Hostname: lateNode, Control: tools.controlConfig(false)})
	eventually(t, "the late worker knows the revoked id", func() bool {
		return contains(ids(tools.inspect(lateNode, "revoked")), revoked)
	})
	c := late.newClient()
	ar, err := c.Submit(late.ctx(), &celery.Task{ID: revoked, Name: "add", Args: []any{n("1"), n("2")}})
	if err != nil {
		t.Fatal(err)
	}
	revokedWith(t, c, ar, "revoked")
}

// Events from a dsys worker as app.events.Receiver (what Flower uses)
// and `celery events --dump` read them.
func TestCeleryEventsFromDsysWorker(t *testing.T) {
	h := newHarness(t)
	tools := newCeleryTools(t, testenv.RabbitMQ(t), h.queue)
	fail, _ := queue.Builtin("fail")
	if err := h.reg.Register(queue.TaskDef{Name: "tasks.flaky", Func: fail, Retries: 1}); err != nil {
		t.Fatal(err)
	}
	node := nodeName(t, "dsys")
	recv := tools.start(filepath.Join(tools.dir, "celery_app.py"), "receive", "60", node)
	recv.waitLine(t, "receiver-ready", 60*time.Second)
	dump := tools.start("-m", "celery", "-A", "celery_app", "events", "--dump")
	dump.waitLine(t, "starting capture", 60*time.Second)
	w, _, _ := runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}, Concurrency: 1, Hostname: node, Control: tools.controlConfig(false),
		MaxMessageSize: 4096})
	// Task events are off until enable_events; a heartbeat on request.
	if out, err := tools.cli("control", "enable_events", "-t", "5", "-d", node); err != nil || !strings.Contains(out, "task events enabled") {
		t.Fatalf("enable_events: %v\n%s", err, out)
	}
	if _, err := tools.cli("control", "heartbeat", "-t", "5", "-d", node); err != nil {
		t.Fatal(err)
	}
	c := h.newClient()
	if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("2"), n("3")}}); err != nil || v != n("5") {
		t.Fatalf("add: %v %v", v, err)
	}
	if _, err := h.get(c, &celery.Task{Name: "tasks.flaky", Args: []any{"boom"}}); err == nil {
		t.Fatal("tasks.flaky succeeded")
	}
	if _, err := h.get(c, &celery.Task{Name: "echo", Args: []any{strings.Repeat("x", 5000)}}); err == nil { // oversized: dead-lettered
		t.Fatal("an oversized echo succeeded")
	}
	revokedID := testenv.UniqueName(t, "revoked")
	w.Revoke(revokedID)
	if _, err := h.get(c, &celery.Task{ID: revokedID, Name: "add", Args: []any{n("1"), n("1")}}); err == nil {
		t.Fatal("a revoked task ran")
	}
	dump.waitLine(t, "task succeeded: add", 30*time.Second)
	_, _ = tools.cli("control", "shutdown", "-d", node) // no reply, as from Celery's workers
	recv.waitLine(t, `"worker-offline"`, 30*time.Second)
	seen := map[string]map[string]any{}
	for _, line := range strings.Split(recv.output(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil || e["hostname"] != node {
			continue
		}
		typ := fmt.Sprint(e["type"])
		if typ == "task-failed" && e["uuid"] != nil && seen[typ] != nil && strings.Contains(fmt.Sprint(seen[typ]["exception"]), "TaskError") {
			continue // keep the first
		}
		seen[typ] = e
	}
	for _, typ := range []string{"worker-online", "worker-heartbeat", "worker-offline", "task-received", "task-started",
		"task-succeeded", "task-failed", "task-retried", "task-revoked", "task-rejected"} {
		if seen[typ] == nil {
			t.Errorf("no %s event from %s", typ, node)
		}
	}
	if e := seen["task-succeeded"]; e != nil && (e["result"] != "5" || e["runtime"] == nil || e["clock"] == nil) {
		t.Errorf("task-succeeded %v", e)
	}
	if e := seen["task-received"]; e != nil && (e["name"] == nil || e["args"] == nil || e["root_id"] == nil) {
		t.Errorf("task-received %v", e)
	}
	if e := seen["worker-heartbeat"]; e != nil && (e["freq"] != 2.0 || e["sw_ident"] != "dsys" || e["processed"] == nil) {
		t.Errorf("worker-heartbeat %v", e)
	}
	if e := seen["task-failed"]; e != nil && (!strings.Contains(fmt.Sprint(e["exception"]), "(") || !strings.Contains(fmt.Sprint(e["traceback"]), "Traceback")) {
		t.Errorf("task-failed %v", e)
	}
	if e := seen["task-revoked"]; e != nil && e["uuid"] != revokedID {
		t.Errorf("task-revoked %v", e)
	}
	for _, want := range []string{"task received: add", "task started: add", "task failed: ", "task revoked: ", "shutdown: "} {
		dumpOut := dump.output()
		if !strings.Contains(dumpOut, want) {
			t.Errorf("celery events --dump shows no %q", want)
		}
	}
}

// A Celery client calls a dsys worker with keyword arguments and the
// canvas; failures carry tracebacks; STARTED is tracked; a new-style
// errback served by a Celery worker gets (request, exc, traceback).
func TestCeleryClientCanvasKwargsErrbacks(t *testing.T) {
	h := newHarness(t)
	url := testenv.RabbitMQ(t)
	tools := newCeleryTools(t, url, h.queue)
	runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}, Hostname: nodeName(t, "dsys"), TrackStarted: true})
	errbacks := newCeleryTools(t, url, testenv.UniqueName(t, "errbacks"))
	errbacks.control = tools.control
	errbacks.startCeleryNode(nodeName(t, "py"))
	out, err := tools.script("calls", errbacks.queue)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal([]byte(lastJSONLine(out)), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for name, want := range map[string]string{
		"kwargs": `{"ok":5}`, "mixed": `{"ok":42}`, "echo_kwargs": `{"ok":{"args":[1],"kwargs":{"k":"v"}}}`,
		"map": `{"ok":[3,7]}`, "starmap": `{"ok":[3,7]}`, "chunks": `{"ok":[[3,7],[11]]}`,
		"chain_group": `{"ok":[12,22]}`, "group": `{"ok":[3,12]}`, "accumulate": `{"ok":[1,2,3]}`,
	} {
		if js(got[name]) != want {
			t.Errorf("%s: %s, want %s", name, js(got[name]), want)
		}
	}
	if r := got["bad_kwarg"]; r["exc_type"] != "TypeError" || !strings.Contains(fmt.Sprint(r["message"]), "unexpected keyword argument 'z'") {
		t.Errorf("bad_kwarg: %v", r)
	}
	if r := got["traceback"]; r["exc_type"] != "TaskError" || !strings.HasPrefix(fmt.Sprint(r["traceback"]), "Traceback (most recent call last):") ||
		!strings.HasSuffix(fmt.Sprint(r["traceback"]), "dsys.errors.TaskError: boom\n") {
		t.Errorf("traceback: %v", r)
	}
	if out, err := tools.script("states", "sleep", "[1]"); err != nil || !strings.Contains(out, `"STARTED", "SUCCESS"]`) {
		t.Errorf("track_started: AsyncResult.state went %s (%v), want STARTED then SUCCESS", out, err)
	}
	if r, _ := got["errback"]["ok"].(map[string]any); r["exc_type"] != "TaskError" || r["traceback_ok"] != true || r["request_id"] == nil {
		t.Errorf("errback: %v", got["errback"])
	}
}

// A queue Celery declared with arguments (priority, quorum) is served by a
// dsys worker, and a Celery app whose task_queues say x-max-priority: 10
// publishes to a queue dsys declared with queue_arguments; before, both
// sides met PRECONDITION_FAILED.
func TestQueuesAsCeleryDeclaresThem(t *testing.T) {
	url := testenv.RabbitMQ(t)
	for _, args := range []string{`{"x-max-priority": 10}`, `{"x-queue-type": "quorum"}`} {
		t.Run("celery first "+args, func(t *testing.T) {
			h := newHarnessOn(t, url)
			tools := newCeleryTools(t, url, h.queue)
			tools.extraEnv = []string{"DSYS_TEST_QUEUE_ARGS=" + args}
			if _, err := tools.script("send", "tasks.add", "[2, 2]"); err != nil { // Celery declares the queue
				t.Fatal(err)
			}
			runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}})
			if v, err := h.get(h.newClient(), &celery.Task{Name: "tasks.add", Args: []any{n("3"), n("4")}}); err != nil || v != n("7") {
				t.Fatalf("a dsys client and worker on the queue: %v %v", v, err)
			}
			if out, err := tools.script("call", "tasks.add", "[5, 6]"); err != nil || !strings.Contains(out, `{"ok": 11}`) {
				t.Fatalf("a Celery client on the queue: %v\n%s", err, out)
			}
		})
	}
	t.Run("dsys first with queue_arguments", func(t *testing.T) {
		h := newPriorityHarness(t, url)
		runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}})
		tools := newCeleryTools(t, url, h.queue)
		tools.extraEnv = []string{`DSYS_TEST_QUEUE_ARGS={"x-max-priority": 10}`}
		if out, err := tools.script("call", "tasks.add", "[5, 6]", "{}", `{"priority": 7}`); err != nil || !strings.Contains(out, `{"ok": 11}`) {
			t.Fatalf("a Celery app with x-max-priority on a queue dsys declared: %v\n%s", err, out)
		}
	})
}

// newPriorityHarness is a harness whose transport creates queues with
// x-max-priority 10 (queue_arguments).
func newPriorityHarness(t *testing.T, url string) *harness {
	t.Helper()
	h := newHarnessOn(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, url, amqp.Options{ManagementURL: "-", Logger: h.logger(),
		QueueArguments: amqp.QueueArguments(map[string]string{"x-max-priority": "10"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h.b = b
	return h
}

// On a priority queue, waiting tasks run highest priority first.
func TestPrioritiesHonoured(t *testing.T) {
	h := newPriorityHarness(t, testenv.RabbitMQ(t))
	runWorker(t, h, queue.WorkerConfig{Queues: []string{h.queue}, Concurrency: 1, Prefetch: 1})
	ctx := h.ctx()
	c := h.newClient()
	busy, err := c.Submit(ctx, &celery.Task{Name: "sleep", Args: []any{n("1")}})
	if err != nil {
		t.Fatal(err)
	}
	var ars []*queue.AsyncResult
	for _, p := range []uint8{1, 9, 5} {
		ar, err := c.Submit(ctx, &celery.Task{Name: "echo", Args: []any{n(fmt.Sprint(p))}, Priority: p})
		if err != nil {
			t.Fatal(err)
		}
		ars = append(ars, ar)
	}
	if _, err := busy.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var order []string
	if err := queue.Gather(ctx, ars, func(_ int, r *celery.Result, err error) error {
		order = append(order, fmt.Sprint(r.Value))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(order) != "[9 5 1]" {
		t.Errorf("ran in the order %v, want [9 5 1]", order)
	}
}

// The other direction: a dsys client calls a Celery worker with keyword
// arguments, Celery's canvas tasks, and a chain ending in a group.
func TestDsysClientKwargsCanvasAgainstCeleryWorker(t *testing.T) {
	h := newHarness(t)
	tools := newCeleryTools(t, testenv.RabbitMQ(t), h.queue)
	tools.startCeleryNode(nodeName(t, "py"))
	c := h.newClient()
	if v, err := h.get(c, &celery.Task{Name: "tasks.add", Kwargs: map[string]any{"x": n("2"), "y": n("3")}}); err != nil || v != n("5") {
		t.Fatalf("tasks.add(x=2, y=3) = %v, %v", v, err)
	}
	add := map[string]any{"task": "tasks.add", "args": []any{}, "kwargs": map[string]any{}, "options": map[string]any{}, "subtask_type": nil, "immutable": false}
	v, err := h.get(c, &celery.Task{Name: "celery.starmap", Kwargs: map[string]any{"task": add, "it": []any{[]any{n("1"), n("2")}, []any{n("3"), n("4")}}}})
	if err != nil || fmt.Sprint(v) != "[3 7]" {
		t.Fatalf("celery.starmap on a Celery worker = %v, %v", v, err)
	}
	// add(1, 1) | group(add(10), add(20)), as a dsys client encodes it.
	a, b := c.Result(testenv.UniqueName(t, "a")), c.Result(testenv.UniqueName(t, "b"))
	member := func(id string, arg string) map[string]any {
		return map[string]any{"task": "tasks.add", "args": []any{n(arg)}, "kwargs": map[string]any{}, "subtask_type": nil, "immutable": false,
			"options": map[string]any{"task_id": id, "reply_to": c.ReplyTo()}}
	}
	typ := "group"
	g := celery.Signature{Task: "celery.group", SubtaskType: &typ, Kwargs: map[string]any{"tasks": []any{member(a.ID, "10"), member(b.ID, "20")}},
		Options: map[string]any{"task_id": testenv.UniqueName(t, "g")}}
	if _, err := c.Submit(h.ctx(), &celery.Task{Name: "tasks.add", Args: []any{n("1"), n("1")}, Chain: []celery.Signature{g}}); err != nil {
		t.Fatal(err)
	}
	for ar, want := range map[*queue.AsyncResult]string{a: "12", b: "22"} {
		if v, err := ar.Get(h.ctx()); err != nil || fmt.Sprint(v) != want {
			t.Errorf("group member %s = %v, %v; want %s", ar.ID, v, err, want)
		}
	}
}

// What does not need broadcasts holds on every transport, the embedded
// broker included: keyword arguments, tracebacks, STARTED, the canvas,
// new-style errbacks and revoked ids.
func TestCeleryBreadthOnEachTransport(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		w, _ := h.startWorker(queue.WorkerConfig{TrackStarted: true, Concurrency: 2})
		c := h.newClient()
		if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("2")}, Kwargs: map[string]any{"y": n("40")}}); err != nil || v != n("42") {
			t.Errorf("add(2, y=40) = %v, %v", v, err)
		}
		_, err := h.get(c, &celery.Task{Name: "fail", Kwargs: map[string]any{"message": "boom"}})
		var re *celery.RemoteError
		if !errors.As(err, &re) || !strings.HasSuffix(re.Traceback, "dsys.errors.TaskError: boom\n") {
			t.Errorf("fail(message='boom'): %v, traceback %q", err, re.Traceback)
		}
		add := map[string]any{"task": "add", "args": []any{}, "kwargs": map[string]any{}, "options": map[string]any{}}
		if v, err := h.get(c, &celery.Task{Name: "celery.starmap", Kwargs: map[string]any{"task": add,
			"it": []any{[]any{n("1"), n("2")}, []any{n("3"), n("4")}}}}); err != nil || fmt.Sprint(v) != "[3 7]" {
			t.Errorf("celery.starmap = %v, %v", v, err)
		}
		// add(1, 1) | group(add(10), add(20)): the group's members answer.
		a, b := c.Result(testenv.UniqueName(t, "a")), c.Result(testenv.UniqueName(t, "b"))
		member := func(id, arg string) map[string]any {
			return map[string]any{"task": "add", "args": []any{n(arg)}, "kwargs": map[string]any{},
				"options": map[string]any{"task_id": id, "reply_to": c.ReplyTo()}}
		}
		typ := "group"
		g := celery.Signature{Task: "celery.group", SubtaskType: &typ, Kwargs: map[string]any{"tasks": []any{member(a.ID, "10"), member(b.ID, "20")}},
			Options: map[string]any{"task_id": testenv.UniqueName(t, "g")}}
		eb := c.Result(testenv.UniqueName(t, "errback"))
		ebSig := celery.Signature{Task: "echo", Options: map[string]any{"task_id": eb.ID, "reply_to": c.ReplyTo()}}
		if _, err := c.Submit(h.ctx(), &celery.Task{Name: "add", Args: []any{n("1"), n("1")}, Chain: []celery.Signature{g}}); err != nil {
			t.Fatal(err)
		}
		failed, err := c.Submit(h.ctx(), &celery.Task{Name: "fail", Args: []any{"for the errback"}, Errbacks: []celery.Signature{ebSig}})
		if err != nil {
			t.Fatal(err)
		}
		for ar, want := range map[*queue.AsyncResult]string{a: "12", b: "22"} {
			if v, err := ar.Get(h.ctx()); err != nil || fmt.Sprint(v) != want {
				t.Errorf("group member = %v, %v; want %s", v, err, want)
			}
		}
		if v, err := eb.Get(h.ctx()); err != nil {
			t.Errorf("errback: %v", err)
		} else if args, _ := v.([]any); len(args) != 3 || args[0].(map[string]any)["id"] != failed.ID ||
			args[1].(map[string]any)["exc_type"] != "TaskError" || !strings.HasPrefix(fmt.Sprint(args[2]), "Traceback") {
			t.Errorf("errback got %v, want (request, exc, traceback)", v)
		}
		revoked := testenv.UniqueName(t, "revoked")
		w.Revoke(revoked)
		ar, err := c.Submit(h.ctx(), &celery.Task{ID: revoked, Name: "add", Args: []any{n("1"), n("1")}})
		if err != nil {
			t.Fatal(err)
		}
		revokedWith(t, c, ar, "revoked")
		// STARTED, then SUCCESS, on a subscription of the test's own.
		sub, err := h.b.Results().Subscribe(h.ctx(), broker.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		sleepID := testenv.UniqueName(t, "sleep")
		if w, ok := sub.(broker.Watcher); ok { // Redis: a channel per task
			w.Watch(sleepID)
		}
		if _, err := c.Send(h.ctx(), &celery.Task{ID: sleepID, Name: "sleep", Args: []any{n("1")}, ReplyTo: sub.ReplyTo()}); err != nil {
			t.Fatal(err)
		}
		var states []string
		for len(states) == 0 || states[len(states)-1] != "SUCCESS" {
			select {
			case r := <-sub.Results():
				res, err := celery.DecodeResult(r.Body, r.TaskID) // rpc:// says the state in the body only
				if err != nil {
					t.Fatal(err)
				}
				states = append(states, string(res.State))
			case <-h.ctx().Done():
				t.Fatalf("states seen %v, no SUCCESS", states)
			}
		}
		if fmt.Sprint(states) != "[STARTED SUCCESS]" {
			t.Errorf("states %v, want STARTED then SUCCESS", states)
		}
	})
}
