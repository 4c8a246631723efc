package celery

import (
	"bytes"
	"encoding/json"
	"github.com/dsys-dev/dsys/queue/broker"
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
	f.Add([]byte(`[[NaN, Infinity], {"y": -Infinity}, {"callbacks": [{"task": "x", "args": [NaN]}], "errbacks": null, "chain": null, "chord": null}]`), "", true)
	f.Add([]byte(`{"task": "t", "id": "i", "args": [NaN], "kwargs": {"k": Infinity}}`), "", false)
	f.Fuzz(func(t *testing.T, body []byte, eta string, v2 bool) {
		m := &broker.Message{ContentType: ContentType, ContentEncoding: ContentEncoding, CorrelationID: "cid", Body: body}
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
		r, err := DecodeResult(body, "c")
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
	// Python's json writes these; Celery reads them.
	f.Add(`[NaN, Infinity, -Infinity, {"NaN": [NaN]}, "NaN"]`)
	f.Add(`{"a": -Infinity}`)
	f.Fuzz(func(t *testing.T, in string) {
		var v any
		if err := DecodeJSON([]byte(in), &v); err != nil {
			return
		}
		out, err := AppendJSON(nil, v)
		if err != nil {
			t.Fatalf("AppendJSON(%s): %v", in, err)
		}
		if quoted, ok := quoteNonFinite(out); ok {
			if !json.Valid(quoted) {
				t.Fatalf("invalid JSON %q from %q", out, in)
			}
		} else if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, in)
		}
		var a any
		if err := DecodeJSON(out, &a); err != nil {
			t.Fatalf("%q from %q: %v", out, in, err)
		}
		// NaN != NaN: compare the encodings too.
		again, err := AppendJSON(nil, a)
		if err != nil || string(again) != string(out) || (!bytes.Contains(out, []byte("NaN")) && !reflect.DeepEqual(a, v)) {
			t.Fatalf("AppendJSON changed the value: %q → %q → %q", in, out, again)
		}
	})
}

// FuzzFastTaskBody: whatever the fast body decoder accepts, the general one
// decodes to the same args and kwargs.
func FuzzFastTaskBody(f *testing.F) {
	for _, name := range []string{"task_v2_add", "task_v2_kwargs", "task_v2_link", "task_v2_chain"} {
		f.Add(loadFixture(f, name).Body)
	}
	f.Add([]byte(`[[4, 4], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`))
	f.Add([]byte(` [ [-0.5e+3, "x", true, false, null] , null , null ] `))
	f.Add([]byte(`[[01], {}, null]`))
	f.Add([]byte(`[["caf\u00e9", "\u00e9"], {}, null]`))
	f.Add([]byte(`[[NaN, -Infinity], {"x": Infinity}, null]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast Task
		if !decodeV2BodyFast(body, &fast) {
			return
		}
		var slow Task
		if err := decodeV2BodySlow(body, &slow); err != nil {
			t.Fatalf("fast path accepted %q, general path: %v", body, err)
		}
		if !reflect.DeepEqual(fast.Args, slow.Args) || !reflect.DeepEqual(fast.Kwargs, slow.Kwargs) ||
			slow.Callbacks != nil || slow.Errbacks != nil || slow.Chain != nil || slow.Chord != nil {
			t.Fatalf("%q: fast %#v %#v, general %#v %#v", body, fast.Args, fast.Kwargs, slow.Args, slow.Kwargs)
		}
	})
}

// FuzzFastResult: whatever the fast result decoder accepts, the general
// one decodes to the same result.
func FuzzFastResult(f *testing.F) {
	for _, name := range []string{"result_success", "result_failure", "result_started", "result_retry"} {
		f.Add(loadFixture(f, name).Body)
	}
	f.Add([]byte(`{"task_id": "a", "status": "SUCCESS", "result": 8, "traceback": null, "children": []}`))
	f.Add([]byte(`{"status":"SUCCESS","result":"x","task_id":"b"}`))
	f.Add([]byte(`{"task_id": "a", "task_id": "b", "status": "SUCCESS", "result": 1}`))
	// As Celery's Redis backend stores them.
	f.Add([]byte(`{"status": "SUCCESS", "result": 2, "traceback": null, "children": [], "date_done": "2026-12-01T09:39:56.750812", "group_id": "g", "task_id": "t"}`))
	f.Add([]byte(`{"status": "SUCCESS", "result": 6, "traceback": null, "children": [], "date_done": null, "parent_id": "p", "task_id": "t"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := decodeResultFast(body)
		if !ok {
			return
		}
		slow, err := decodeResultSlow(body, "c")
		if err != nil {
			t.Fatalf("fast path accepted %q, general path: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %#v, general %#v", body, fast, slow)
		}
	})
}
