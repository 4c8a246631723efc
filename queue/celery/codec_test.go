package celery

import (
	"encoding/json"
	"errors"
	"github.com/dsys-dev/dsys/queue/broker"
	"reflect"
	"strings"
	"testing"
	"time"
)

func num(s string) json.Number { return json.Number(s) }

func TestDecodeTaskFixtures(t *testing.T) {
	sec := time.Second
	tests := []struct {
		fixture string
		check   func(t *testing.T, m *broker.Message, task *Task)
	}{
		{"task_v2_add", func(t *testing.T, m *broker.Message, task *Task) {
			want := &Task{ID: m.CorrelationID, Name: "tasks.add", Args: []any{num("4"), num("4")},
				Kwargs: map[string]any{}, RootID: m.CorrelationID, ReplyTo: m.ReplyTo, Lang: "py", Origin: task.Origin, Protocol: 2}
			if !reflect.DeepEqual(task, want) {
				t.Errorf("got  %+v\nwant %+v", task, want)
			}
			if !strings.HasPrefix(task.Origin, "gen") {
				t.Errorf("origin %q", task.Origin)
			}
		}},
		{"task_v2_kwargs", func(t *testing.T, m *broker.Message, task *Task) {
			wantArgs := []any{"x", num("1.5"), []any{num("1"), num("2")}, map[string]any{"k": nil}, "héllo ✓"}
			if !reflect.DeepEqual(task.Args, wantArgs) {
				t.Errorf("args %#v, want %#v", task.Args, wantArgs)
			}
			wantKw := map[string]any{"n": num("8"), "f": num("8.0")}
			if !reflect.DeepEqual(task.Kwargs, wantKw) {
				t.Errorf("kwargs %#v, want %#v", task.Kwargs, wantKw)
			}
		}},
		{"task_v2_options", func(t *testing.T, m *broker.Message, task *Task) {
			if task.TimeLimit != 10*sec || task.SoftTimeLimit != 5*sec {
				t.Errorf("time limits hard %v soft %v, want 10s 5s (Celery sends [hard, soft])", task.TimeLimit, task.SoftTimeLimit)
			}
			if !task.IgnoreResult || task.Priority != 5 {
				t.Errorf("ignore_result %v priority %d", task.IgnoreResult, task.Priority)
			}
			if task.ETA.IsZero() || task.Expires.IsZero() || !task.Expires.After(task.ETA) {
				t.Errorf("eta %v expires %v", task.ETA, task.Expires)
			}
			if d := task.Expires.Sub(task.ETA); d < 59*time.Minute || d > time.Hour {
				t.Errorf("expires - eta = %v, want about 59m30s (expires in 1h, countdown 30s)", d)
			}
			if m.Expiration == "" {
				t.Error("Celery sets the expiration property with expires")
			}
		}},
		{"task_v2_link", func(t *testing.T, m *broker.Message, task *Task) {
			if len(task.Callbacks) != 1 || task.Callbacks[0].Task != "tasks.add" ||
				!reflect.DeepEqual(task.Callbacks[0].Args, []any{num("10")}) || task.Callbacks[0].Immutable {
				t.Errorf("callbacks %+v", task.Callbacks)
			}
			if len(task.Errbacks) != 1 || task.Errbacks[0].Task != "tasks.echo" || !task.Errbacks[0].Immutable {
				t.Errorf("errbacks %+v", task.Errbacks)
			}
		}},
		{"task_v2_chain", func(t *testing.T, m *broker.Message, task *Task) {
			if len(task.Chain) != 2 {
				t.Fatalf("chain %+v", task.Chain)
			}
			next := task.Chain[len(task.Chain)-1]
			if !reflect.DeepEqual(next.Args, []any{num("2")}) || next.Option("task_id") == "" || next.Option("reply_to") != m.ReplyTo {
				t.Errorf("next in chain (stored last) = %+v", next)
			}
		}},
		{"task_v2_unknown", func(t *testing.T, m *broker.Message, task *Task) {
			if task.Name != "tasks.nope" {
				t.Errorf("name %q", task.Name)
			}
		}},
		{"task_v1_add", func(t *testing.T, m *broker.Message, task *Task) {
			if task.Protocol != 1 || task.Name != "tasks.add" || task.ID != m.CorrelationID ||
				!reflect.DeepEqual(task.Args, []any{num("4"), num("4")}) {
				t.Errorf("v1 task %+v", task)
			}
			if task.ETA.IsZero() || task.Expires.IsZero() {
				t.Errorf("v1 eta %v expires %v", task.ETA, task.Expires)
			}
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.fixture] = true
		t.Run(tt.fixture, func(t *testing.T) {
			m := loadFixture(t, tt.fixture)
			task, err := DecodeTask(m)
			if err != nil {
				t.Fatalf("DecodeTask: %v", err)
			}
			tt.check(t, m, task)
		})
	}
	for _, name := range fixtureNames(t, "task_") {
		if !seen[name] {
			t.Errorf("fixture %s has no test", name)
		}
	}
}

// TestEncodeTaskLikeCelery: dsys's messages carry the same properties and
// the same header names and types as Celery's, and decode back unchanged.
func TestEncodeTaskLikeCelery(t *testing.T) {
	celery := loadFixture(t, "task_v2_options")
	ct, err := DecodeTask(celery)
	if err != nil {
		t.Fatal(err)
	}
	ct.Lang, ct.Origin = "py", "gen1@host"
	m, err := EncodeTask(ct)
	if err != nil {
		t.Fatal(err)
	}
	if m.ContentType != celery.ContentType || m.ContentEncoding != celery.ContentEncoding ||
		m.CorrelationID != celery.CorrelationID || m.Persistent != celery.Persistent || m.Priority != 5 || m.Expiration == "" {
		t.Errorf("properties differ: dsys %+v celery %+v", m, celery)
	}
	for k, cv := range celery.Headers {
		dv, ok := m.Headers[k]
		if !ok {
			t.Errorf("header %s missing", k)
			continue
		}
		if reflect.TypeOf(cv) != reflect.TypeOf(dv) && cv != nil && dv != nil {
			t.Errorf("header %s: dsys %T, celery %T", k, dv, cv)
		}
	}
	if len(m.Headers) != len(celery.Headers) {
		t.Errorf("%d headers, celery sends %d", len(m.Headers), len(celery.Headers))
	}
	if m.Headers["eta"] == nil || !strings.HasSuffix(m.Headers["eta"].(string), "+00:00") {
		t.Errorf("eta %v: want Python isoformat in UTC", m.Headers["eta"])
	}
	back, err := DecodeTask(m)
	if err != nil {
		t.Fatal(err)
	}
	if !back.ETA.Equal(ct.ETA) || !back.Expires.Equal(ct.Expires) {
		t.Errorf("times: %v %v, want %v %v", back.ETA, back.Expires, ct.ETA, ct.Expires)
	}
	back.ETA, back.Expires, ct.ETA, ct.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(back, ct) {
		t.Errorf("round trip:\n got  %+v\n want %+v", back, ct)
	}
}

func TestEncodeTaskBody(t *testing.T) {
	task := &Task{ID: "id1", Name: "add", Args: []any{num("4"), num("4")}}
	m, err := EncodeTask(task)
	if err != nil {
		t.Fatal(err)
	}
	celery := loadFixture(t, "task_v2_add")
	if string(m.Body) != string(celery.Body) {
		t.Errorf("body %s, celery %s", m.Body, celery.Body)
	}
	if got := m.Headers["argsrepr"]; got != celery.Headers["argsrepr"] {
		t.Errorf("argsrepr %q, celery %q", got, celery.Headers["argsrepr"])
	}
	kw := loadFixture(t, "task_v2_kwargs")
	kt, _ := DecodeTask(kw)
	m, _ = EncodeTask(kt)
	if m.Headers["argsrepr"] != kw.Headers["argsrepr"] {
		t.Errorf("argsrepr %q, celery %q", m.Headers["argsrepr"], kw.Headers["argsrepr"])
	}
	chain := loadFixture(t, "task_v2_chain")
	ct, _ := DecodeTask(chain)
	m, err = EncodeTask(ct)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeTask(m)
	if err != nil || !reflect.DeepEqual(back.Chain, ct.Chain) {
		t.Errorf("chain round trip: %v\n got  %+v\n want %+v", err, back.Chain, ct.Chain)
	}
}

func TestDecodeTaskPoison(t *testing.T) {
	good := func() *broker.Message { return loadFixture(t, "task_v2_add") }
	tests := []struct {
		name   string
		mutate func(m *broker.Message)
		reason string
		noID   bool
	}{
		{"malformed json", func(m *broker.Message) { m.Body = []byte(`[[4, 4], {}, {`) }, "not a JSON array", false},
		{"content type pickle", func(m *broker.Message) { m.ContentType = "application/x-python-serialize" }, "content type", false},
		{"no content type", func(m *broker.Message) { m.ContentType = "" }, "missing content type", false},
		{"encoding", func(m *broker.Message) { m.ContentEncoding = "binary" }, "content encoding", false},
		{"missing task header", func(m *broker.Message) { delete(m.Headers, "task") }, "missing task header", false},
		{"no headers, array body", func(m *broker.Message) { m.Headers = nil; m.CorrelationID = "" }, "not a protocol v1 object", true},
		{"missing id header", func(m *broker.Message) { delete(m.Headers, "id") }, "missing header id", false},
		{"task not a string", func(m *broker.Message) { m.Headers["task"] = int32(3) }, "header task", false},
		{"two elements", func(m *broker.Message) { m.Body = []byte(`[[4, 4], {}]`) }, "2 elements", false},
		{"args object", func(m *broker.Message) { m.Body = []byte(`[{"a": 1}, {}, null]`) }, "args", false},
		{"kwargs list", func(m *broker.Message) { m.Body = []byte(`[[1], [2], null]`) }, "kwargs", false},
		{"retries string", func(m *broker.Message) { m.Headers["retries"] = "x" }, "retries", false},
		{"eta garbage", func(m *broker.Message) { m.Headers["eta"] = "tomorrow" }, "eta", false},
		{"timelimit scalar", func(m *broker.Message) { m.Headers["timelimit"] = int32(5) }, "timelimit", false},
		{"embed bad", func(m *broker.Message) { m.Body = []byte(`[[], {}, {"callbacks": [{"args": []}]}]`) }, "signature", false},
		{"trailing", func(m *broker.Message) { m.Body = []byte(`[[], {}, null] x`) }, "not a JSON array", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			id := m.CorrelationID
			tt.mutate(m)
			_, err := DecodeTask(m)
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("err = %v, want ErrBadMessage", err)
			}
			var bm *BadMessageError
			if !errors.As(err, &bm) || !strings.Contains(bm.Reason, tt.reason) {
				t.Errorf("reason %q, want it to mention %q", err, tt.reason)
			}
			if !tt.noID && bm.TaskID != id {
				t.Errorf("task id %q, want %q", bm.TaskID, id)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestDecodeResultFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		state   State
		value   any
		exc     *RemoteError
		tb      bool
	}{
		{"result_success", StateSuccess, num("8"), nil, false},
		{"result_after_retry", StateSuccess, "retried", nil, false},
		{"result_success_object", StateSuccess, map[string]any{"args": []any{num("1"), "a"},
			"kwargs": map[string]any{"k": []any{num("1.5")}}}, nil, false},
		{"result_failure", StateFailure, nil, &RemoteError{Type: "ValueError", Message: []any{"boom"}, Module: "builtins"}, true},
		{"result_not_registered", StateFailure, nil, &RemoteError{Type: "NotRegistered", Message: []any{"tasks.nope"}, Module: "celery.exceptions"}, false},
		{"result_revoked", StateRevoked, nil, &RemoteError{Type: "TaskRevokedError", Message: []any{"expired"}, Module: "celery.exceptions"}, false},
		{"result_retry", StateRetry, nil, &RemoteError{Type: "RuntimeError", Message: []any{"try again"}, Module: "builtins"}, true},
		{"result_started", StateStarted, nil, nil, false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.fixture] = true
		t.Run(tt.fixture, func(t *testing.T) {
			m := loadFixture(t, tt.fixture)
			r, err := DecodeResult(m.Body, m.CorrelationID)
			if err != nil {
				t.Fatal(err)
			}
			if r.TaskID != m.CorrelationID || r.State != tt.state {
				t.Errorf("id %s state %s, want %s %s", r.TaskID, r.State, m.CorrelationID, tt.state)
			}
			if tt.state == StateStarted {
				v, _ := r.Value.(map[string]any)
				if v["hostname"] == nil || v["pid"] == nil {
					t.Errorf("STARTED value %v", r.Value)
				}
				return
			}
			if tt.exc == nil {
				if !reflect.DeepEqual(r.Value, tt.value) {
					t.Errorf("value %#v, want %#v", r.Value, tt.value)
				}
				return
			}
			if r.Err == nil || r.Err.Type != tt.exc.Type || r.Err.Module != tt.exc.Module || !reflect.DeepEqual(r.Err.Message, tt.exc.Message) {
				t.Fatalf("err %+v, want %+v", r.Err, tt.exc)
			}
			if tt.tb != (r.Traceback != "") || !strings.Contains(r.Err.Error(), tt.exc.Type) {
				t.Errorf("traceback %q, error %q", r.Traceback, r.Err)
			}
		})
	}
	for _, name := range fixtureNames(t, "result_") {
		if !seen[name] {
			t.Errorf("fixture %s has no test", name)
		}
	}
}

// TestEncodeResultLikeCelery: dsys writes the result documents Celery writes.
func TestEncodeResultLikeCelery(t *testing.T) {
	for _, name := range []string{"result_success", "result_success_object", "result_failure", "result_not_registered", "result_revoked", "result_retry"} {
		t.Run(name, func(t *testing.T) {
			celery := loadFixture(t, name)
			r, err := DecodeResult(celery.Body, celery.CorrelationID)
			if err != nil {
				t.Fatal(err)
			}
			r.Raw = nil
			if r.Err != nil {
				r.Err.Traceback = ""
			}
			body, err := EncodeResult(r)
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			_ = json.Unmarshal(celery.Body, &want)
			want["children"] = []any{} // Celery lists the retry's own id there; nobody reads it
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n got  %s\n want %s", body, celery.Body)
			}
			if name == "result_success" && string(body) != string(celery.Body) {
				t.Errorf("SUCCESS body not byte-identical:\n got  %s\n want %s", body, celery.Body)
			}
		})
	}
}

func TestParseISO(t *testing.T) {
	want := time.Date(2026, 11, 25, 20, 35, 1, 127616000, time.UTC)
	for _, s := range []string{"2026-11-25T20:35:01.127616+00:00", "2026-11-25T20:35:01.127616Z",
		"2026-11-25T20:35:01.127616", "2026-11-25 20:35:01.127616+00:00", "2026-11-25T21:35:01.127616+01:00"} {
		got, err := parseISO(s, false)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseISO(%q) = %v, %v", s, got, err)
		}
	}
	got, err := headerTime(map[string]any{"__type__": "datetime", "__value__": "2026-11-25T20:35:01.127616+00:00"}, "eta", "x")
	if err != nil || !got.Equal(want) {
		t.Errorf("kombu typed datetime: %v %v", got, err)
	}
}
