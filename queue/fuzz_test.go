package queue

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeTask: no body or header value makes the decoder panic, and what
// it accepts re-encodes to a message that decodes to the same task.
func FuzzDecodeTask(f *testing.F) {
	for _, name := range []string{"task_v2_add", "task_v2_kwargs", "task_v2_link", "task_v2_chain", "task_v1_add"} {
		m := loadFixture(f, name)
		eta, _ := m.Headers["eta"].(string)
		f.Add(m.Body, eta, true)
	}
	f.Add([]byte(`{"task": "t", "id": "i", "args": [1], "kwargs": {}}`), "", false)
	f.Add([]byte(`[[], {}, {"callbacks": [{"task": "x"}]}]`), "2026-01-01T00:00:00", true)
	f.Fuzz(func(t *testing.T, body []byte, eta string, v2 bool) {
		m := &Message{ContentType: contentTypeJSON, ContentEncoding: encodingUTF8, CorrelationID: "cid", Body: body}
		if v2 {
			m.Headers = map[string]any{"task": "tasks.add", "id": "id1", "eta": eta, "retries": int32(1), "timelimit": []any{nil, 1.5}}
		}
		task, err := DecodeTask(m)
		if err != nil {
			return
		}
		m2, err := EncodeTask(task)
		if err != nil {
			return // e.g. a float out of range is rejected on encode
		}
		back, err := DecodeTask(m2)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%s", err, m2.Body)
		}
		if back.Name != task.Name || back.ID != task.ID || len(back.Args) != len(task.Args) ||
			!back.ETA.Equal(task.ETA) || back.Retries != task.Retries {
			t.Fatalf("round trip changed the task:\n%+v\n%+v", task, back)
		}
	})
}

// FuzzDecodeResult: result bodies never panic the decoder.
func FuzzDecodeResult(f *testing.F) {
	for _, name := range []string{"result_success", "result_failure", "result_started", "result_retry"} {
		f.Add(loadFixture(f, name).Body)
	}
	f.Add([]byte(`{"task_id": "x", "status": "FAILURE", "result": "plain"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResult(&Message{CorrelationID: "c", Body: body})
		if err == nil && r.TaskID == "" {
			t.Fatal("accepted a result without a task id")
		}
	})
}

// FuzzAppendValue: the hand-written encoder writes valid JSON that decodes
// to what encoding/json would decode from the same value.
func FuzzAppendValue(f *testing.F) {
	f.Add(`[1, 2.5, "x\u2028\"\\", {"a": null, "b": [true, false]}, "\u00e9\u0001"]`)
	f.Add(`{"k": 8.0, "n": -1e300}`)
	f.Fuzz(func(t *testing.T, in string) {
		var v any
		if err := unmarshalNumber([]byte(in), &v); err != nil {
			return
		}
		out, err := appendValue(nil, v)
		if err != nil {
			t.Fatalf("appendValue(%s): %v", in, err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, in)
		}
		var a any
		if err := unmarshalNumber(out, &a); err != nil {
			t.Fatalf("%q from %q: %v", out, in, err)
		}
		if !reflect.DeepEqual(a, v) {
			t.Fatalf("appendValue changed the value: %q → %q", in, out)
		}
	})
}
