package celery

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// SuccessResult is ResultBody of AppendJSON, encoded once; a string result
// fills a buffer sized exactly for it.
func TestSuccessResult(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []any{nil, json.Number("8"), "", "y\ny\n", "a\"b\\c\td\x00\x1f", "é\u2028\u2029", "\xff\xfe ok",
		[]any{"x", json.Number("1")}, map[string]any{"k": "v"}}
	for range 200 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		values = append(values, string(b))
	}
	for _, v := range values {
		body, raw, err := SuccessResult("id-1", v)
		if err != nil {
			t.Fatal(err)
		}
		wantRaw, _ := AppendJSON(nil, v)
		if want := ResultBody("id-1", StateSuccess, wantRaw, nil); !bytes.Equal(body, want) || !bytes.Equal(raw, wantRaw) {
			t.Fatalf("%q: body %s raw %s, want %s %s", v, body, raw, want, wantRaw)
		}
		if s, ok := v.(string); ok && (stringLen(s) != len(wantRaw) || cap(body) != len(body)) {
			t.Errorf("%q: stringLen %d, encoded %d; body len %d cap %d", s, stringLen(s), len(wantRaw), len(body), cap(body))
		}
	}
}
