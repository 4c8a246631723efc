package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// On a transport without broadcasts remote control and events are
// unavailable, said once in the log, and the worker serves; revoked ids
// given to the library still keep their tasks from running.
func TestNoBroadcastsSaysSoAndRevokesStillHold(t *testing.T) {
	f := newFakeTransport()
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	w := NewWorker(f, reg, WorkerConfig{Queues: []string{"q"}, Concurrency: 1, Control: &ControlConfig{Events: true},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-w.Ready()
	if !strings.Contains(logs.String(), "remote control (celery inspect, celery control, celery status) and events (celery events, Flower) are not available") {
		t.Errorf("no warning about remote control:\n%s", logs)
	}
	w.Revoke("t-revoked")
	m, err := celery.EncodeTask(&celery.Task{ID: "t-revoked", Name: "add", Args: []any{json.Number("1"), json.Number("2")}, ReplyTo: "r"})
	if err != nil {
		t.Fatal(err)
	}
	f.deliveries <- &broker.Delivery{Message: *m, Queue: "q", Settler: f}
	select {
	case c := <-f.commits:
		if c.Settle != broker.Ack || len(c.Results) != 1 || c.Results[0].State != "REVOKED" {
			t.Fatalf("a revoked task committed %+v, want REVOKED and an ack", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no commit")
	}
}

// A run terminated by remote control is REVOKED "terminated", and so is
// the rest of its chain; no errback, no retry.
func TestRulesTerminated(t *testing.T) {
	task := &celery.Task{ID: "t1", Name: "sleep", ReplyTo: "rq", Errbacks: []celery.Signature{sig("log", "eb", false)},
		Chain: []celery.Signature{sig("add", "next", false)}}
	p := testRules().finished(delivery(t, task, 0), &TaskDef{Retries: 3}, task, nil, &Terminated{Signal: 9}, time.Second, false, planNow)
	if p.state != celery.StateRevoked || p.reason != "terminated" || p.signal != 9 || len(p.commit.Publish) != 0 || len(p.commit.Results) != 2 {
		t.Fatalf("%+v", p)
	}
	for i, id := range []string{"t1", "next"} {
		if r := resultOf(t, p.commit.Results[i]); r.TaskID != id || r.State != celery.StateRevoked || r.Err.Error() != "TaskRevokedError: terminated" {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}
