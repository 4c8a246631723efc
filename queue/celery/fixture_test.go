package celery

import (
	"bytes"
	"encoding/json"
	"github.com/dsys-dev/dsys/queue/broker"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// celeryFixture is one message captured from real Celery by
// testdata/capture_celery.py.
type celeryFixture struct {
	Name       string          `json:"name"`
	Doc        string          `json:"doc"`
	Properties map[string]any  `json:"properties"`
	Headers    json.RawMessage `json:"headers"`
	Body       string          `json:"body"`
}

// loadFixture returns the captured message as amqp091-go would hand it to
// the transport: header integers as int32 (or int64 past 32 bits), floats as
// float64, lists as []any, nested tables as map[string]any.
func loadFixture(t testing.TB, name string) *broker.Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "celery", name+".json"))
	if err != nil {
		t.Fatalf("fixture %s: %v (regenerate with /usr/bin/python3 queue/celery/testdata/capture_celery.py)", name, err)
	}
	var f celeryFixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	d := json.NewDecoder(bytes.NewReader(f.Headers))
	d.UseNumber()
	var h map[string]any
	if err := d.Decode(&h); err != nil {
		t.Fatalf("fixture %s headers: %v", name, err)
	}
	m := &broker.Message{Headers: amqpTyped(h).(map[string]any), Body: []byte(f.Body)}
	p := f.Properties
	m.ContentType, _ = p["content_type"].(string)
	m.ContentEncoding, _ = p["content_encoding"].(string)
	m.CorrelationID, _ = p["correlation_id"].(string)
	m.ReplyTo, _ = p["reply_to"].(string)
	m.Expiration, _ = p["expiration"].(string)
	if dm, _ := p["delivery_mode"].(float64); dm == 2 {
		m.Persistent = true
	}
	if pr, ok := p["priority"].(float64); ok {
		m.Priority = uint8(pr)
	}
	return m
}

func amqpTyped(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			n, err := x.Int64()
			if err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
				return int32(n)
			}
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = amqpTyped(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = amqpTyped(x[k])
		}
		return x
	}
	return v
}

func fixtureNames(t testing.TB, prefix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "celery", prefix+"*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures %s*: %v", prefix, err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(filepath.Base(f), ".json")
	}
	return names
}
