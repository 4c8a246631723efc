package celery

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/queue/broker"
)

// bz2.compress(b'[[3, 3], {}, null]') in Python (Go has no bzip2 writer).
const bzip2Body = "425a6839314159265359fddc50700000049b8040040800000a0005020a200031003021a1a3209a649159b08a0fc5dc914e14243f77141c00"

func compressed(t *testing.T, compression string, body []byte) *broker.Message {
	t.Helper()
	return &broker.Message{ContentType: ContentType, CorrelationID: "c1", Body: body,
		Headers: map[string]any{"task": "add", "id": "c1", HeaderCompression: compression}}
}

func zlibBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// Celery's compression=: zlib (header application/x-gzip, or its aliases)
// and bzip2 (application/x-bz2) are decompressed; the copy has no
// compression header (a retry re-sends it plain); an unknown compression,
// corrupt data and a body that would grow past the limit are refused.
func TestDecompress(t *testing.T) {
	bz, _ := hex.DecodeString(bzip2Body)
	for _, tc := range []struct {
		name string
		m    *broker.Message
		want string
		bad  string // "" = decompresses to want
		exc  string
	}{
		{"zlib", compressed(t, "application/x-gzip", zlibBytes([]byte(`[[2, 3], {}, null]`))), `[[2, 3], {}, null]`, "", ""},
		{"zlib alias", compressed(t, "zlib", zlibBytes([]byte(`[[1], {}, null]`))), `[[1], {}, null]`, "", ""},
		{"bzip2", compressed(t, "application/x-bz2", bz), `[[3, 3], {}, null]`, "", ""},
		{"lzma", compressed(t, "application/x-lzma", []byte{0xfd, '7', 'z'}), "", `compression "application/x-lzma" is not supported`, ""},
		{"not a string", compressed(t, "", nil), "", `compression "" is not supported`, ""},
		{"corrupt zlib", compressed(t, "application/x-gzip", []byte("[[2, 3], {}, null]")), "", "does not decompress", ""},
		{"truncated bzip2", compressed(t, "application/x-bz2", bz[:len(bz)-8]), "", "does not decompress", ""},
		{"bomb", compressed(t, "zlib", zlibBytes(make([]byte, 1<<20))), "", "more than max_message_size 65536", "LimitExceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Decompress(tc.m, 64<<10)
			if tc.bad != "" {
				var bm *BadMessageError
				if !errors.As(err, &bm) || !strings.Contains(bm.Reason, tc.bad) || bm.TaskID != "c1" || bm.Exception != tc.exc {
					t.Fatalf("Decompress: %#v, want %q (%s)", err, tc.bad, tc.exc)
				}
				return
			}
			if err != nil || string(out.Body) != tc.want {
				t.Fatalf("Decompress: %q %v, want %q", out.Body, err, tc.want)
			}
			if _, ok := out.Headers[HeaderCompression]; ok || out.Headers["id"] != "c1" {
				t.Fatalf("headers %v", out.Headers)
			}
			if _, ok := tc.m.Headers[HeaderCompression]; !ok {
				t.Fatal("the delivery's own headers changed")
			}
		})
	}
	plain := &broker.Message{Body: []byte("x")}
	if out, err := Decompress(plain, 1); out != plain || err != nil {
		t.Fatalf("uncompressed: %v %v", out, err)
	}
}

// Python's json writes NaN, Infinity and -Infinity; they decode to floats
// wherever a value may be any (args, kwargs, embed, results), stay as they
// came in raw fields, and are refused where a string is expected.
func TestDecodeNonFinite(t *testing.T) {
	m := &broker.Message{ContentType: ContentType, Headers: map[string]any{"task": "add", "id": "n1"},
		Body: []byte(`[[NaN, Infinity, "NaN", -Infinity], {"k": [NaN]}, {"callbacks": [{"task": "cb", "args": [-Infinity]}], "errbacks": null, "chain": null, "chord": null}]`)}
	task, err := DecodeTask(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Args) != 4 || !math.IsNaN(task.Args[0].(float64)) || task.Args[1] != math.Inf(1) || task.Args[2] != "NaN" ||
		task.Args[3] != math.Inf(-1) || !math.IsNaN(task.Kwargs["k"].([]any)[0].(float64)) {
		t.Fatalf("args %#v kwargs %#v", task.Args, task.Kwargs)
	}
	if len(task.Callbacks) != 1 || task.Callbacks[0].Args[0] != math.Inf(-1) {
		t.Fatalf("callbacks %#v", task.Callbacks)
	}
	out, err := AppendJSON(nil, task.Args)
	if err != nil || string(out) != `[NaN, Infinity, "NaN", -Infinity]` {
		t.Fatalf("AppendJSON: %s %v", out, err)
	}
	r, err := DecodeResult([]byte(`{"task_id": "n1", "status": "SUCCESS", "result": NaN, "traceback": null, "children": []}`), "n1")
	if err != nil || !math.IsNaN(r.Value.(float64)) || string(r.Raw) != "NaN" {
		t.Fatalf("result %#v %v", r, err)
	}
	for _, body := range []string{`[[NaNa], {}, null]`, `[[Inf], {}, null]`, `[["\u0000NaN", NaN], {}, null]`} {
		m.Body = []byte(body)
		if _, err := DecodeTask(m); !errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), "not a JSON array") {
			t.Errorf("%s: %v, want a bad message", body, err)
		}
	}
	var sig Signature
	if err := DecodeJSON([]byte(`{"task": NaN}`), &sig); err == nil {
		t.Errorf("NaN as a task name: %+v", sig)
	}
}

// Other serializers are refused as kombu's ContentDisallowed, naming them.
func TestContentDisallowed(t *testing.T) {
	for ct, name := range map[string]string{"application/x-python-serialize": "pickle", "application/x-msgpack": "msgpack",
		"application/x-yaml": "yaml", "application/x-thing": ""} {
		m := &broker.Message{ContentType: ct, Headers: map[string]any{"task": "add", "id": "d1"}, Body: []byte("x")}
		_, err := DecodeTask(m)
		var bm *BadMessageError
		if !errors.As(err, &bm) || bm.Exception != "ContentDisallowed" || !strings.Contains(bm.Reason, name) || bm.TaskID != "d1" {
			t.Errorf("%s: %#v", ct, err)
		}
	}
}
