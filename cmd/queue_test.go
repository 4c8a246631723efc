package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
)

// lockedBuffer collects a process's stderr while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) add(s string) {
	l.mu.Lock()
	l.b.WriteString(s + "\n")
	l.mu.Unlock()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// workerProc is a `dsys queue worker` process.
type workerProc struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	lines  chan string
}

// startWorkerProc runs the dsys binary as a worker and waits until it consumes.
func startWorkerProc(t *testing.T, args ...string) *workerProc {
	t.Helper()
	w := launchWorkerProc(t, args...)
	w.waitFor(t, "worker ready")
	return w
}

// launchWorkerProc runs the dsys binary as a worker.
func launchWorkerProc(t *testing.T, args ...string) *workerProc {
	t.Helper()
	bin := testenv.Binary(t)
	cmd := exec.Command(bin, append([]string{"queue", "worker"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProc{cmd: cmd, log: &lockedBuffer{}, exited: make(chan struct{}), lines: make(chan string, 1024)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.log.add(sc.Text())
			select {
			case w.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		<-scanned
		_ = cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.exited
		if t.Failed() {
			t.Logf("worker %d log:\n%s", cmd.Process.Pid, w.log.String())
		}
	})
	return w
}

// waitFor waits for a log line containing s.
func (w *workerProc) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line := <-w.lines:
			if strings.Contains(line, s) {
				return line
			}
		case <-w.exited:
			t.Fatalf("worker exited while waiting for %q", s)
		case <-deadline:
			t.Fatalf("no %q in the worker log within 30s", s)
		}
	}
}

func queueEnv(t *testing.T) (brokerURL, q string) {
	t.Helper()
	brokerURL = testenv.RabbitMQ(t)
	testenv.Binary(t) // builds from the module, before the test leaves it
	isolateConfig(t)
	q = testenv.UniqueName(t, "cmdq")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := amqp.Dial(ctx, brokerURL, amqp.Options{ManagementURL: "-"})
		if err != nil {
			return
		}
		defer b.Close()
		for _, name := range []string{q, q + ".dead"} {
			_ = b.Delete(ctx, name)
		}
	})
	return brokerURL, q
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestQueueSubmitAndWorker(t *testing.T) {
	brokerURL, q := queueEnv(t)
	startWorkerProc(t, "--broker", brokerURL, "--queue", q, "--concurrency", "2")
	common := []string{"--broker", brokerURL, "--queue", q}
	run := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runDsys(t, stdin, append(args, common...)...)
	}

	out, errOut, code := run("", "queue", "submit", "--wait", "add", "4", "4")
	if code != 0 || out != "8\n" {
		t.Fatalf("submit --wait add 4 4: %q %q exit %d", out, errOut, code)
	}
	out, _, code = run("", "queue", "submit", "add", "4", "4")
	if code != 0 || !uuidRE.MatchString(strings.TrimSpace(out)) {
		t.Fatalf("submit without --wait: %q exit %d, want a task id", out, code)
	}
	out, _, code = run("", "queue", "submit", "--wait", "echo", `"x"`, "--kwarg", "k=[1,2]")
	if code != 0 || out != `{"args": ["x"], "kwargs": {"k": [1, 2]}}`+"\n" {
		t.Fatalf("echo with kwargs: %q exit %d", out, code)
	}
	// stdin: one task per line, text results in input order
	var in strings.Builder
	var want strings.Builder
	for i := range 50 {
		in.WriteString("[" + itoa(i) + ", 1000]\n")
		want.WriteString(itoa(i+1000) + "\n")
	}
	out, errOut, code = run(in.String(), "queue", "submit", "--wait", "add", "-")
	if code != 0 || out != want.String() {
		t.Fatalf("stdin batch: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	// -o json: one object per task
	out, _, code = run("[1,2]\n[3,4]\n", "-o", "json", "queue", "submit", "--wait", "add", "-")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("-o json: %q exit %d", out, code)
	}
	sums := map[string]bool{}
	for _, l := range lines {
		var r struct {
			ID, Task, State string
			Args            []int
			Result          int
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Task != "add" || r.State != "SUCCESS" || !uuidRE.MatchString(r.ID) {
			t.Fatalf("json line %q: %v", l, err)
		}
		sums[itoa(r.Args[0])+"+"+itoa(r.Args[1])+"="+itoa(r.Result)] = true
	}
	if !sums["1+2=3"] || !sums["3+4=7"] {
		t.Errorf("json results %v", sums)
	}
	// failure: remote error on stderr, exit 1
	out, errOut, code = run("", "queue", "submit", "--wait", "fail", "boom")
	if code != 1 || out != "" || !strings.Contains(errOut, "TaskError: boom") {
		t.Fatalf("fail: %q %q exit %d", out, errOut, code)
	}
	// --timeout without a result: exit 3
	_, errOut, code = run("", "queue", "submit", "--wait", "--timeout", "200ms", "sleep", "5")
	if code != 3 || !strings.Contains(errOut, "timed out") {
		t.Fatalf("--timeout: %q exit %d", errOut, code)
	}
	// a bad stdin line: exit 2 naming the line
	_, errOut, code = run("[1,2]\nnot json\n", "queue", "submit", "add", "-")
	if code != 2 || !strings.Contains(errOut, "stdin line 2") {
		t.Fatalf("bad stdin: %q exit %d", errOut, code)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestQueueBrokerUnreachable(t *testing.T) {
	isolateConfig(t)
	dead := "amqp://guest:guest@127.0.0.1:1/"
	for _, args := range [][]string{
		{"queue", "submit", "--broker", dead, "--wait", "add", "1", "1"},
		{"queue", "worker", "--broker", dead, "--connect-timeout", "1s"},
		{"queue", "inspect", "--broker", dead},
	} {
		_, errOut, code := runDsys(t, "", args...)
		if code != 3 || !strings.Contains(errOut, "unreachable") {
			t.Errorf("%v: exit %d %q, want 3", args, code, errOut)
		}
	}
	if _, errOut, code := runDsys(t, "", "queue", "submit", "--broker", "redis://127.0.0.1:1/0", "--wait", "add", "1", "1"); code != 3 ||
		!strings.Contains(errOut, "unreachable") || strings.Contains(errOut, "pool.go") {
		t.Errorf("unreachable Redis: exit %d %q, want 3 and one line", code, errOut)
	}
	if _, errOut, code := runDsys(t, "", "queue", "submit", "--broker", "sqs://x", "add"); code != 2 {
		t.Errorf("unsupported brokerURL: exit %d %q, want 2", code, errOut)
	}
}

func TestQueueConfiguredTasks(t *testing.T) {
	brokerURL, q := queueEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dsys.yaml")
	yaml := `queue:
  tasks:
    - {name: tasks.add, builtin: add}
    - {name: shout, command: [printf, "%s!", "{0}"]}
    - {name: count, command: [sh, -c, 'echo "[$1, $2]"', sh, "{0}", "{n}"]}
    - {name: broken, command: [sh, -c, "echo bad input >&2; exit 4"]}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	startWorkerProc(t, "--config", cfg, "--broker", brokerURL, "--queue", q)
	sub := func(args ...string) (string, string, int) {
		return runDsys(t, "", append([]string{"queue", "submit", "--broker", brokerURL, "--queue", q, "--wait"}, args...)...)
	}
	if out, errOut, code := sub("tasks.add", "4", "4"); code != 0 || out != "8\n" {
		t.Errorf("tasks.add: %q %q %d", out, errOut, code)
	}
	if out, errOut, code := sub("shout", "hi; rm -rf /"); code != 0 || out != "hi; rm -rf /!\n" {
		t.Errorf("shout: %q %q %d", out, errOut, code)
	}
	if out, errOut, code := sub("count", "1", "--kwarg", "n=2"); code != 0 || out != "[1, 2]\n" {
		t.Errorf("count: %q %q %d", out, errOut, code)
	}
	// A failed command's stderr is its traceback: shown to the caller on
	// stderr, and in -o json's "traceback" field; -q leaves it out.
	if _, errOut, code := sub("broken"); code != 1 || !strings.Contains(errOut, "CommandError") ||
		!strings.Contains(errOut, "bad input\n") {
		t.Errorf("broken: %q %d, want the command's stderr and CommandError", errOut, code)
	}
	if out, _, code := runDsys(t, "", "-o", "json", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "broken"); code != 1 ||
		!strings.Contains(out, `"traceback":"bad input\n"`) {
		t.Errorf("broken -o json: %q %d, want a traceback field", out, code)
	}
	if _, errOut, code := runDsys(t, "", "-q", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "broken"); code != 1 ||
		strings.Contains(errOut, "bad input") {
		t.Errorf("broken -q: %q %d, want no traceback", errOut, code)
	}
	if _, errOut, code := runDsys(t, "", "--config", cfg, "queue", "worker", "--broker", "sqs://x"); code != 2 {
		t.Errorf("bad brokerURL: %q %d", errOut, code)
	}
}

func TestQueueInspectAndPurge(t *testing.T) {
	brokerURL, q := queueEnv(t)
	common := []string{"--broker", brokerURL, "--queue", q}
	for range 3 {
		if _, errOut, code := runDsys(t, "", append([]string{"queue", "submit", "add", "1", "1"}, common...)...); code != 0 {
			t.Fatal(errOut)
		}
	}
	out, _, code := runDsys(t, "", append([]string{"queue", "inspect"}, common...)...)
	if code != 0 || !regexp.MustCompile(regexp.QuoteMeta(q)+`\s+3\s+(unknown|0)\s+0\s+0\s+0`).MatchString(out) {
		t.Fatalf("inspect: %q exit %d", out, code)
	}
	out, _, code = runDsys(t, "", append([]string{"-o", "json", "queue", "inspect"}, common...)...)
	var row map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &row) != nil || row["ready"] != 3.0 || row["exists"] != true {
		t.Fatalf("inspect -o json: %q", out)
	}
	if _, errOut, code := runDsys(t, "y\n", append([]string{"queue", "purge"}, common...)...); code != 2 ||
		!strings.Contains(errOut, "--yes is required when not interactive") {
		t.Fatalf("purge without a terminal and without --yes: %q exit %d, want a refusal (exit 2)", errOut, code)
	}
	out, errOut, code := runDsys(t, "", append([]string{"queue", "purge", "--yes"}, common...)...)
	if code != 0 || out != "purged 3 messages from "+q+"\n" {
		t.Fatalf("purge: %q %q %d", out, errOut, code)
	}
	if _, _, code := runDsys(t, "", "queue", "purge", "--yes", "--broker", brokerURL, "--queue", q+".missing"); code != 2 {
		t.Fatalf("purge of a missing queue: exit %d", code)
	}
}

// Purge of several queues purges those that exist and names the missing one.
func TestQueuePurgeWhatExists(t *testing.T) {
	brokerURL, q := queueEnv(t)
	for _, target := range []string{q, q + ".dead", q + ".dead"} {
		if _, errOut, code := runDsys(t, "", "queue", "submit", "--broker", brokerURL, "--queue", target, "add", "1", "1"); code != 0 {
			t.Fatal(errOut)
		}
	}
	out, errOut, code := runDsys(t, "", "queue", "purge", "--yes", "--broker", brokerURL, "--queue", q+","+q+".missing,"+q+".dead")
	if code != 0 || out != "purged 1 message from "+q+"\npurged 2 messages from "+q+".dead\n" {
		t.Fatalf("purge: %q %q exit %d", out, errOut, code)
	}
	if !strings.Contains(errOut, "no such queue "+q+".missing: nothing to purge") {
		t.Fatalf("purge did not name the missing queue: %q", errOut)
	}
}

// `dsys queue submit --wait tasks.add 4 4` served by a Python Celery worker.
func TestQueueSubmitToCeleryWorker(t *testing.T) {
	script, _ := filepath.Abs("../queue/testdata/celery_peer.py")
	brokerURL, q := queueEnv(t)
	python := testenv.Python(t, "celery")
	cmd := exec.Command(python, script, "worker", brokerURL, q)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			if !closed && strings.Contains(sc.Text(), " ready.") {
				close(ready)
				closed = true
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("celery worker not ready")
	}
	out, errOut, code := runDsys(t, "", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "tasks.add", "4", "4")
	if code != 0 || out != "8\n" {
		t.Fatalf("%q %q exit %d", out, errOut, code)
	}
	_, errOut, code = runDsys(t, "", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "tasks.fail", "boom")
	if code != 1 || !strings.Contains(errOut, "ValueError: boom") {
		t.Fatalf("tasks.fail: %q exit %d", errOut, code)
	}
}

func TestQueueWorkerMetricsAndSIGTERM(t *testing.T) {
	brokerURL, q := queueEnv(t)
	w := startWorkerProc(t, "--broker", brokerURL, "--queue", q, "--metrics", "127.0.0.1:0", "--log-level", "debug")
	m := regexp.MustCompile(`url=(http://\S+)`).FindStringSubmatch(w.log.String())
	if m == nil {
		t.Fatalf("no metrics url in %q", w.log.String())
	}
	if _, _, code := runDsys(t, "", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "add", "1", "2"); code != 0 {
		t.Fatal("submit failed")
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dsys_queue_tasks_received_total{task="add"} 1`, "dsys_queue_task_runtime_seconds_bucket", "dsys_queue_tasks_in_flight 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// A running task finishes after SIGTERM; the worker then exits 0 (a clean shutdown).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := make(chan string, 1)
	go func() {
		out, _, _ := runDsysContext(t, ctx, "", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "sleep", "1")
		res <- out
	}()
	w.waitFor(t, "name=sleep") // "task started"
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case out := <-res:
		if out != "1\n" {
			t.Errorf("task during shutdown: %q", out)
		}
	case <-ctx.Done():
		t.Fatal("no result from the task running during shutdown")
	}
	<-w.exited
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("worker exit code %d after SIGTERM, want 0", code)
	}
}
