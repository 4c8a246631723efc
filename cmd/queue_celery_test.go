package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// `dsys queue worker` is a node of Celery's remote control named by
// --hostname (%h expanded), with the control and event exchanges of its
// config; its queues get queue.queue_arguments.
func TestQueueWorkerAnswersCeleryTools(t *testing.T) {
	python := testenv.Python(t, "celery")
	appDir, err := filepath.Abs(filepath.Join("..", "queue", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	brokerURL, q := queueEnv(t)
	control, events := testenv.UniqueName(t, "cx"), testenv.UniqueName(t, "ev")
	t.Setenv("DSYS_QUEUE_CONTROL_EXCHANGE", control)
	t.Setenv("DSYS_QUEUE_EVENT_EXCHANGE", events)
	t.Setenv("DSYS_QUEUE_QUEUE_ARGUMENTS", "x-max-priority=10")
	t.Cleanup(func() {
		if c, err := amqp091.Dial(brokerURL); err == nil {
			if ch, err := c.Channel(); err == nil {
				for _, ex := range []string{control + ".pidbox", "reply." + control + ".pidbox", events, q} {
					_ = ch.ExchangeDelete(ex, false, false)
				}
			}
			c.Close()
		}
	})
	prefix := fmt.Sprintf("cli%d", time.Now().UnixNano())
	startWorkerProc(t, "--broker", brokerURL, "--queue", q, "--hostname", prefix+"@%h", "-E")
	host, _ := os.Hostname()
	node := prefix + "@" + host
	celeryCLI := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, append([]string{"-m", "celery", "-A", "celery_app"}, args...)...)
		cmd.Dir = appDir
		cmd.Env = append(os.Environ(), "PYTHONPATH="+appDir, "DSYS_TEST_BROKER="+brokerURL, "DSYS_TEST_QUEUE="+q,
			"DSYS_TEST_CONTROL="+control, "DSYS_TEST_EVENTS="+events)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("celery %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	if out := celeryCLI("status", "-t", "3"); !strings.Contains(out, node+": OK") {
		t.Errorf("celery status does not list %s:\n%s", node, out)
	}
	out := celeryCLI("inspect", "stats", "-j", "-t", "5", "-d", node)
	if !strings.Contains(out, `"transport": "amqp"`) || strings.Contains(out, "guest:guest") || !strings.Contains(out, `"max-concurrency"`) {
		t.Errorf("inspect stats:\n%s", out)
	}
	if out := celeryCLI("control", "disable_events", "-t", "5", "-d", node); !strings.Contains(out, "task events disabled") {
		t.Errorf("-E did not turn task events on: disable_events said\n%s", out)
	}
	// The queue was declared with x-max-priority 10: the same declare is accepted.
	c, err := amqp091.Dial(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, _ := c.Channel()
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp091.Table{"x-max-priority": int32(10)}); err != nil {
		t.Errorf("queue.queue_arguments not applied: %v", err)
	}
}

// The worker's help shows the Celery node flags.
func TestQueueWorkerHelpShowsCeleryFlags(t *testing.T) {
	out, _, code := runDsys(t, "", "queue", "worker", "--help")
	for _, want := range []string{"-n, --hostname", "celery@%h", "-E, --events", "celery inspect", "celery events"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("queue worker --help lacks %q (exit %d)", want, code)
		}
	}
	out, _, _ = runDsys(t, "", "queue", "--help")
	if !strings.Contains(out, "--hostname") || !strings.Contains(out, "(-E)") || !strings.Contains(out, "queue.queue_arguments") {
		t.Errorf("queue --help does not tell of remote control, events and queue arguments:\n%s", out)
	}
}

// On the embedded broker the worker says that remote control and events
// are not available, and serves.
func TestQueueWorkerEmbeddedSaysNoRemoteControl(t *testing.T) {
	broker := embeddedEnv(t)
	w := startWorkerProc(t, broker...)
	if !strings.Contains(w.log.String(), "remote control (celery inspect, celery control, celery status) and events (celery events, Flower) are not available") {
		t.Errorf("the worker on the embedded broker does not say remote control is unavailable:\n%s", w.log.String())
	}
	if out, errOut, code := runDsys(t, "", append([]string{"queue", "submit", "--wait", "add", "2", "--kwarg", "y=3"}, broker...)...); code != 0 || out != "5\n" {
		t.Fatalf("submit --wait add 2 --kwarg y=3 on the embedded broker: %q %q exit %d", out, errOut, code)
	}
}
