package events

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

type recorder struct {
	mu   sync.Mutex
	keys []string
	body []map[string]any
	got  chan struct{}
}

func (r *recorder) Broadcast(_ context.Context, ex broker.Exchange, key string, m *broker.Message) error {
	if ex.Name != "ev" || ex.Kind != broker.Topic || !ex.Durable || m.Headers["hostname"] != "celery@t" {
		panic("event sent to the wrong exchange or without its hostname header")
	}
	var b map[string]any
	_ = json.Unmarshal(m.Body, &b)
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.body = append(r.body, b)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recorder) Listen(context.Context, broker.Binding) (broker.Listener, error) { return nil, nil }

func TestDispatcher(t *testing.T) {
	r := &recorder{got: make(chan struct{}, 16)}
	d := New(r, Options{Hostname: "celery@t", Exchange: "ev", Interval: time.Hour, Version: "1.0",
		Load: func() (int, int) { return 1, 5 }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	wait := func() {
		t.Helper()
		select {
		case <-r.got:
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
		}
	}
	wait() // worker-online
	d.Send(&TaskStarted{UUID: "dropped while task events are off"})
	if !d.SetTaskEvents(true) || d.SetTaskEvents(true) {
		t.Error("SetTaskEvents does not report changes")
	}
	d.Send(&TaskSucceeded{UUID: "u1", Result: "3", Runtime: 0.5})
	wait()
	d.Heartbeat()
	wait()
	cancel()
	<-done
	wait() // worker-offline
	r.mu.Lock()
	defer r.mu.Unlock()
	want := []string{"worker.online", "task.succeeded", "worker.heartbeat", "worker.offline"}
	if len(r.keys) != len(want) {
		t.Fatalf("routing keys %v, want %v", r.keys, want)
	}
	for i, k := range want {
		if r.keys[i] != k {
			t.Errorf("event %d routed %s, want %s", i, r.keys[i], k)
		}
	}
	ok := r.body[1]
	if ok["type"] != "task-succeeded" || ok["uuid"] != "u1" || ok["result"] != "3" || ok["hostname"] != "celery@t" ||
		ok["clock"] == nil || ok["timestamp"] == nil || ok["pid"] == nil {
		t.Errorf("task-succeeded %v", ok)
	}
	hb := r.body[2]
	if hb["type"] != "worker-heartbeat" || hb["active"] != 1.0 || hb["processed"] != 5.0 || hb["freq"] != 3600.0 ||
		hb["sw_ident"] != "dsys" || hb["sw_ver"] != "1.0" {
		t.Errorf("worker-heartbeat %v", hb)
	}
}
