package redis

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// testdata/kombu_task.json is add.apply_async((1, 2), priority=5,
// countdown=10, expires=60) as Celery 5.2.6 / kombu 5.2.4 pushed it onto
// Redis (captured from the list "celery\x06\x163").
func TestDecodeKombuEnvelope(t *testing.T) {
	raw, err := os.ReadFile("testdata/kombu_task.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := d.msg
	if m.ContentType != "application/json" || m.ContentEncoding != "utf-8" || !m.Persistent || m.Priority != 5 ||
		m.Expiration != "60000" || m.CorrelationID != "9da1145a-a5ec-4a38-9f2b-e7cd16effc9f" ||
		m.ReplyTo != "3f611bd1-6156-35dc-a76d-a3a8782f86e0" {
		t.Errorf("properties: %+v", m)
	}
	if d.tag != "9c714431-7983-45f0-9130-e1c35c7a0764" || d.exchange != "" || d.routingKey != "celery" || d.started != 0 || d.redelivered {
		t.Errorf("delivery: %+v", d)
	}
	if string(m.Body) != `[[1, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]` {
		t.Errorf("body %s", m.Body)
	}
	if m.Headers["retries"] != int32(0) || !reflect.DeepEqual(m.Headers["timelimit"], []any{nil, nil}) || m.Headers["group_index"] != nil {
		t.Errorf("headers %#v", m.Headers)
	}
	task, err := celery.DecodeTask(&m)
	if err != nil || task.Name != "tasks.add" || task.ETA.IsZero() || task.Expires.IsZero() {
		t.Fatalf("DecodeTask: %+v, %v", task, err)
	}
	if stepOf(m.Priority) != 1 {
		t.Errorf("priority 5 goes to step %d, want 1 (the list celery\\x06\\x163)", stepOf(m.Priority))
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	m := &broker.Message{ContentType: "application/json", ContentEncoding: "utf-8", CorrelationID: "c\"id", ReplyTo: "r",
		Persistent: true, Priority: 9, Expiration: "1000",
		Headers: map[string]any{"i": int32(-3), "big": int64(1) << 40, "f": 2.0, "s": "x\ny", "n": nil, "l": []any{int32(1), "a"},
			"m": map[string]any{"k": true}},
		Body: []byte{0, 1, 2, 255}}
	raw, err := encodeEnvelope(m, "", "q", "tag-1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("not JSON: %s", raw)
	}
	d, err := decodeEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&d.msg, m) {
		t.Errorf("round trip:\n got  %#v\n want %#v", d.msg, *m)
	}
	if d.tag != "tag-1" || d.routingKey != "q" || d.started != 3 {
		t.Errorf("delivery %+v", d)
	}
	back, err := restored(raw, 4)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := decodeEnvelope(back)
	if err != nil {
		t.Fatal(err)
	}
	if d2.started != 4 || !d2.redelivered || !reflect.DeepEqual(d2.msg.Headers, m.Headers) || string(d2.msg.Body) != string(m.Body) {
		t.Errorf("restored: %+v", d2)
	}
}

func TestPrioritySteps(t *testing.T) {
	for p, want := range map[uint8]int{0: 0, 2: 0, 3: 1, 5: 1, 6: 2, 8: 2, 9: 3, 200: 3} {
		if got := stepOf(p); got != want {
			t.Errorf("stepOf(%d) = %d, want %d", p, got, want)
		}
	}
	k := keys{prefix: "p:"}
	if k.list("celery", 0) != "p:celery" || k.list("celery", 1) != "p:celery\x06\x163" || k.binding("celery") != "p:_kombu.binding.celery" {
		t.Errorf("keys: %q %q", k.list("celery", 1), k.binding("celery"))
	}
}

func TestResultDocument(t *testing.T) {
	body := celery.ResultBody("id", celery.StateSuccess, []byte("8"), nil)
	doc := resultDocument(broker.Result{TaskID: "id", State: "SUCCESS", Body: body})
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != "SUCCESS" || m["result"] != 8.0 || m["task_id"] != "id" || m["date_done"] == nil {
		t.Errorf("document %s", doc)
	}
	started := resultDocument(broker.Result{TaskID: "id", State: "STARTED", Body: celery.ResultBody("id", celery.StateStarted, []byte("{}"), nil)})
	if err := json.Unmarshal(started, &m); err != nil || m["date_done"] != nil {
		t.Errorf("STARTED document %s", started)
	}
}

// The fast decoder agrees with encoding/json wherever it decodes at all.
func FuzzEnvelopeFastMatchesSlow(f *testing.F) {
	if raw, err := os.ReadFile("testdata/kombu_task.json"); err == nil {
		f.Add(raw)
	}
	m := &broker.Message{ContentType: "application/json", ContentEncoding: "utf-8", CorrelationID: "c\"i\\d\u00e9\U0001F600", ReplyTo: "r",
		Persistent: true, Priority: 7, Expiration: "5",
		Headers: map[string]any{"i": int32(-3), "big": int64(1) << 40, "f": 2.5, "e": 1e300, "s": "x\ny\t\"z\"", "n": nil,
			"l": []any{int32(1), "a", []any{}, map[string]any{}}, "m": map[string]any{"k": true, "redelivered": false}},
		Body: []byte("[[1, 2], {}, null]")}
	raw, err := encodeEnvelope(m, "ex", "rk", "tag", 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"body": "eA==", "properties": {"body_encoding": "base64", "priority": 5.0, "delivery_mode": 2}, "headers": null}`))
	f.Add([]byte(`{"body": "raw", "headers": {"redelivered": true, "u": "\ud83d\ude00 \u00e9 \/"}, "properties": {"expiration": 60000}}`))
	f.Add([]byte(`{"body": "", "headers": {"x": -0.5e-3, "y": 99999999999999999999}, "properties": {}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := decodeEnvelopeFast(raw)
		if !ok {
			return
		}
		slow, err := decodeEnvelopeSlow(raw)
		if err != nil {
			t.Fatalf("fast decoded what the slow one refuses (%v): %q", err, raw)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decoders differ on %q:\n fast %#v\n slow %#v", raw, fast, slow)
		}
	})
}
