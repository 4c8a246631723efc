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
