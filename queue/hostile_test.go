package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/redis"
)

// hostileCalls runs testdata/celery_hostile.py (a Celery 5 client) against
// a dsys worker and returns its outcomes by name.
func hostileCalls(t *testing.T, brokerURL, backendURL, prefix, queueName string) map[string]map[string]any {
	t.Helper()
	python := testenv.Python(t, "celery", "amqp")
	script, err := filepath.Abs(filepath.Join("testdata", "celery_hostile.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, script, brokerURL, backendURL, prefix, queueName).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("celery client: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

// Messages a Celery client sends that dsys workers once choked on or left
// unanswered (issue 9, items 1 and 6), through Celery's own clients: on
// RabbitMQ (py-amqp) and on Redis. Header integers beyond 32 bits (py-amqp's
// field type L) are read; headers amqp091-go cannot read (nested deeper
// than 32, arrays over 8192 items) fail with DecodeError on RabbitMQ and
// are read on Redis (JSON); zlib and bzip2 bodies are served, NaN and
// Infinity read; other serializers, unknown compressions and oversized
// bodies fail with kombu's exceptions; and the queue keeps flowing.
func TestCeleryClientHostileMessages(t *testing.T) {
	check := func(t *testing.T, got map[string]map[string]any, amqp bool) {
		ok := func(name string, want any) {
			t.Helper()
			if got[name]["ok"] != want {
				t.Errorf("%s: %v, want %v", name, got[name], want)
			}
		}
		exc := func(name, typ, msg string) {
			t.Helper()
			r := got[name]
			m, _ := r["message"].(string)
			if r["exc_type"] != typ || r["exc_module"] != "kombu.exceptions" || !strings.Contains(m, msg) {
				t.Errorf("%s: %v, want kombu.exceptions.%s(%q)", name, r, typ, msg)
			}
		}
		ok("big_header", 3.0)
		ok("big_negative_header", 4.0)
		if amqp {
			exc("deep_header", "DecodeError", `header "x-deep": nested deeper than 32 levels`)
			exc("wide_header", "DecodeError", `header "x-wide": more than 8192 items`)
		} else {
			ok("deep_header", 4.0)
			ok("wide_header", 5.0)
		}
		ok("zlib", 5.0)
		ok("bzip2", 6.0)
		exc("lzma", "DecodeError", `compression "application/x-lzma" is not supported`)
		ok("nan", "nan")
		ok("inf", "inf")
		ok("neg_inf", "-inf")
		exc("pickle", "ContentDisallowed", "(pickle) is not accepted")
		exc("msgpack", "ContentDisallowed", "(msgpack) is not accepted")
		exc("yaml", "ContentDisallowed", "(yaml) is not accepted")
		exc("oversized", "LimitExceeded", "exceeds max_message_size 65536")
		ok("after", 42.0)
	}
	cfg := queue.WorkerConfig{MaxMessageSize: 64 << 10}
	t.Run("amqp", func(t *testing.T) {
		h := newHarness(t)
		h.startWorker(cfg)
		check(t, hostileCalls(t, testenv.RabbitMQ(t), "rpc://", "-", h.queue), true)
		if strings.Contains(h.logs.String(), "connection lost") {
			t.Errorf("the worker lost its broker connection:\n%s", h.logs.String())
		}
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.Redis(t)
		prefix := testenv.UniqueName(t, "dsystest") + ":"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		logs := &syncBuffer{}
		b, err := redis.Dial(ctx, url, redis.Options{KeyPrefix: prefix, ResultExpires: 10 * time.Minute, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteRedisKeys(t, url, prefix+"*") })
		h := newHarnessWith(t, logs, b)
		h.startWorker(cfg)
		check(t, hostileCalls(t, url, url, prefix, h.queue), false)
	})
}
