package control

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// memBroadcaster records broadcasts; it is enough for the node's logic.
type memBroadcaster struct {
	mu   sync.Mutex
	sent []sent
}

type sent struct {
	ex  broker.Exchange
	key string
	m   *broker.Message
}

func (b *memBroadcaster) Broadcast(_ context.Context, ex broker.Exchange, key string, m *broker.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, sent{ex, key, m})
	return nil
}

func (b *memBroadcaster) Listen(context.Context, broker.Binding) (broker.Listener, error) {
	return nil, nil
}

func (b *memBroadcaster) take() []sent {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sent
	b.sent = nil
	return s
}

type fakeWorker struct {
	terminated []string
	signal     int
	events     []bool
	shutdown   string
}

func (f *fakeWorker) Active() []Request {
	ts, pid := 1.5, 7
	return []Request{{ID: "run-1", Name: "tasks.sleep", Args: []any{json.Number("3")}, TimeStart: &ts, WorkerPID: &pid, Acknowledged: true}}
}
func (f *fakeWorker) Reserved() []Request       { return nil }
func (f *fakeWorker) Scheduled() []Scheduled    { return nil }
func (f *fakeWorker) Registered() []string      { return []string{"tasks.add", "celery.map", "add"} }
func (f *fakeWorker) Stats() Stats              { return Stats{PrefetchCount: 4} }
func (f *fakeWorker) ActiveQueues() []QueueInfo { return nil }
func (f *fakeWorker) Conf() map[string]any      { return map[string]any{"worker_concurrency": 2} }
func (f *fakeWorker) Terminate(ids []string, sig int) []string {
	f.signal = sig
	for _, id := range ids {
		if id == "run-1" {
			f.terminated = append(f.terminated, id)
		}
	}
	return f.terminated
}
func (f *fakeWorker) TaskEvents(on bool) bool {
	f.events = append(f.events, on)
	return len(f.events) == 1
}
func (f *fakeWorker) Heartbeat()             {}
func (f *fakeWorker) Shutdown(reason string) { f.shutdown = reason }

func commandMessage(t *testing.T, method string, arguments map[string]any, extra map[string]any) *broker.Message {
	t.Helper()
	body := map[string]any{"method": method, "arguments": arguments, "destination": nil, "pattern": nil, "matcher": nil,
		"ticket": "tk-" + method, "reply_to": map[string]any{"exchange": "reply.celery.pidbox", "routing_key": "oid-1"}}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	return &broker.Message{ContentType: "application/json", Headers: map[string]any{"clock": int32(41)}, Body: b}
}

// replyOf runs one command and returns the node's reply, or nil when it
// sends none.
func replyOf(t *testing.T, n *Node, b *memBroadcaster, m *broker.Message) any {
	t.Helper()
	n.handle(context.Background(), m)
	s := b.take()
	if len(s) == 0 {
		return nil
	}
	if len(s) != 1 || s[0].ex.Name != "reply.celery.pidbox" || s[0].ex.Kind != broker.Direct || s[0].key != "oid-1" {
		t.Fatalf("reply sent as %+v", s)
	}
	if s[0].m.Headers["ticket"] == "" || s[0].m.ContentType != "application/json" {
		t.Fatalf("reply headers %v", s[0].m.Headers)
	}
	var by map[string]any
	if err := celery.DecodeJSON(s[0].m.Body, &by); err != nil {
		t.Fatal(err)
	}
	r, ok := by["celery@test"]
	if !ok || len(by) != 1 {
		t.Fatalf("reply %s not keyed by the node name", s[0].m.Body)
	}
	if r == nil {
		return "null"
	}
	return r
}

func TestNodeCommands(t *testing.T) {
	b := &memBroadcaster{}
	w := &fakeWorker{}
	n := NewNode(b, w, Options{Hostname: "celery@test"})
	js := func(v any) string { out, _ := json.Marshal(v); return string(out) }
	tests := []struct {
		method string
		args   map[string]any
		extra  map[string]any
		want   string // JSON of the reply; "" = no reply
	}{
		{"ping", nil, nil, `{"ok":"pong"}`},
		{"ping", nil, map[string]any{"destination": []string{"celery@other"}}, ""},
		{"ping", nil, map[string]any{"destination": []string{"celery@other", "celery@test"}}, `{"ok":"pong"}`},
		{"ping", nil, map[string]any{"pattern": "celery@t*", "matcher": "glob"}, `{"ok":"pong"}`},
		{"ping", nil, map[string]any{"pattern": "^worker", "matcher": "pcre"}, ""},
		{"registered", map[string]any{"taskinfoitems": []any{}}, nil, `["add","tasks.add"]`},
		{"registered", map[string]any{"builtins": true}, nil, `["add","celery.map","tasks.add"]`},
		{"active", map[string]any{"safe": nil}, nil, `[{"acknowledged":true,"args":[3],"delivery_info":{"exchange":"","priority":0,"redelivered":false,"routing_key":""},"hostname":"","id":"run-1","kwargs":null,"name":"tasks.sleep","time_start":1.5,"type":"","worker_pid":7}]`},
		{"reserved", nil, nil, `[]`},
		{"conf", map[string]any{"with_defaults": false}, nil, `{"control_exchange":"celery","worker_concurrency":2}`},
		{"revoke", map[string]any{"task_id": "queued-1", "terminate": false, "signal": "SIGTERM"}, nil, `{"ok":"tasks queued-1 flagged as revoked"}`},
		{"revoke", map[string]any{"task_id": []any{"run-1", "x"}, "terminate": true, "signal": "SIGUSR1"}, nil, `{"ok":"terminate: run-1"}`},
		{"revoke", map[string]any{"task_id": "y", "terminate": true, "signal": "usr1"}, nil, `{"error":"signal name must be uppercase string, got \"usr1\""}`},
		{"revoked", nil, nil, `["queued-1","run-1","x","y"]`},
		{"enable_events", nil, nil, `{"ok":"task events enabled"}`},
		{"disable_events", nil, nil, `{"ok":"task events already disabled"}`},
		{"pool_grow", map[string]any{"n": 1}, nil, `{"error":"No such control command: pool_grow (not supported by dsys workers)"}`},
		{"hello", map[string]any{"from_node": "celery@test", "revoked": map[string]any{}}, nil, `"null"`},
		{"shutdown", nil, nil, ""},
	}
	for _, tt := range tests {
		got := replyOf(t, n, b, commandMessage(t, tt.method, tt.args, tt.extra))
		switch {
		case tt.want == "" && got != nil:
			t.Errorf("%s %v: replied %s, want no reply", tt.method, tt.extra, js(got))
		case tt.want != "" && js(got) != tt.want:
			t.Errorf("%s %v %v: reply %s, want %s", tt.method, tt.args, tt.extra, js(got), tt.want)
		}
	}
	if w.signal != 10 {
		t.Errorf("terminate signal %d, want SIGUSR1 = 10", w.signal)
	}
	if w.shutdown != "Got shutdown from remote" {
		t.Errorf("shutdown %q", w.shutdown)
	}
	if n.Clock().Value() <= 41 {
		t.Errorf("clock %d not moved past the sender's 41", n.Clock().Value())
	}
}

// hello shares the revoked set as Celery's mingle expects it: id →
// [timestamp, id] with a float timestamp (Celery raises on an int).
func TestNodeHello(t *testing.T) {
	b := &memBroadcaster{}
	n := NewNode(b, &fakeWorker{}, Options{Hostname: "celery@test"})
	n.Revoked().Add("mine")
	got := replyOf(t, n, b, commandMessage(t, "hello", map[string]any{"from_node": "celery@other",
		"revoked": map[string]any{"theirs": []any{json.Number("12.5"), "theirs"}}}, nil)).(map[string]any)
	rev := got["revoked"].(map[string]any)
	entry, _ := rev["mine"].([]any)
	ts, isNum := entry[0].(json.Number)
	if len(rev) != 2 || len(entry) != 2 || !isNum || !strings.Contains(string(ts), ".") || entry[1] != "mine" {
		t.Errorf("hello reply revoked %v", rev)
	}
	if !n.Revoked().Has("theirs") {
		t.Error("the other node's revoked id was not merged")
	}
}

func TestRevokedLimits(t *testing.T) {
	r := NewRevoked()
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.max = 3
	r.Add("a", "b", "c")
	r.Add("a") // again: now the youngest
	r.Add("d")
	if r.Has("b") || !r.Has("a") || !r.Has("c") || !r.Has("d") || r.Len() != 3 {
		t.Errorf("after overflow: %v", r.IDs())
	}
	now = now.Add(revokeExpires)
	if r.Has("a") {
		t.Error("an id older than 3 hours is still revoked")
	}
	r.Add("e")
	if got := r.IDs(); len(got) != 1 || got[0] != "e" {
		t.Errorf("after expiry: %v", got)
	}
}

func TestNodeName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "celery@w1.example.com"},
		{"celery@%h", "celery@w1.example.com"},
		{"%n@%d", "w1@example.com"},
		{"worker1", "celery@worker1"},
		{"a@%n.%%x", "a@w1.%%x"},
	} {
		if got := nodeName(tt.in, "w1.example.com"); got != tt.want {
			t.Errorf("nodeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
