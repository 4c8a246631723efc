package queue_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
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
	return celeryOutcomes(t, 3*time.Minute, python, script, brokerURL, backendURL, prefix, queueName)
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
		logs := &testenv.SyncBuffer{}
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

// bz2.compress(b'[[3, 3], {}, null]') in Python (Go has no bzip2 writer).
const bzip2AddBody = "425a6839314159265359fddc50700000049b8040040800000a0005020a200031003021a1a3209a649159b08a0fc5dc914e14243f77141c00"

// rawCase is one raw task message of TestRawHostileMessages and what its
// sender gets back.
type rawCase struct {
	ID          string         `json:"id"`
	Task        string         `json:"task"`
	Body        string         `json:"body"`
	ContentType string         `json:"content_type,omitempty"`
	Headers     map[string]any `json:"headers,omitempty"`
	Compress    string         `json:"compress,omitempty"`
	ReplyTo     string         `json:"reply_to"`

	want    any    // the result; nil: a failure
	exc     string // kombu's exception, and what its message says
	excMsg  string
	amqpExc string // on RabbitMQ: the exception instead of want (headers amqp091-go cannot read)
	amqpMsg string
}

func hostileRawCases() []rawCase {
	deep := any(map[string]any{"leaf": 1})
	for range 40 {
		deep = map[string]any{"d": deep}
	}
	wide := make([]any, 9000)
	for i := range wide {
		wide[i] = i
	}
	many := map[string]any{}
	for i := range 9000 {
		many[fmt.Sprintf("h%04d", i)] = i
	}
	return []rawCase{
		{ID: "r-big", Task: "add", Body: `[[1, 2], {}, null]`, Headers: map[string]any{"x-big": int64(1) << 40, "x-list": []any{-(int64(1) << 40)}}, want: n("3")},
		{ID: "r-deep", Task: "add", Body: `[[1, 3], {}, null]`, Headers: map[string]any{"x-deep": deep}, want: n("4"),
			amqpExc: "DecodeError", amqpMsg: `header "x-deep": nested deeper than 32 levels`},
		{ID: "r-wide", Task: "add", Body: `[[1, 4], {}, null]`, Headers: map[string]any{"x-wide": wide}, want: n("5"),
			amqpExc: "DecodeError", amqpMsg: `header "x-wide": more than 8192 items`},
		{ID: "r-many", Task: "add", Body: `[[1, 5], {}, null]`, Headers: many, want: n("6"),
			amqpExc: "DecodeError", amqpMsg: "more than 8191 headers"},
		{ID: "r-zlib", Task: "add", Body: `[[2, 3], {}, null]`, Compress: "zlib", want: n("5")},
		{ID: "r-bzip2", Task: "add", Body: `[[3, 3], {}, null]`, Compress: "bzip2", want: n("6")},
		{ID: "r-lzma", Task: "add", Body: `[[4, 3], {}, null]`, Compress: "application/x-lzma", exc: "DecodeError", excMsg: `compression "application/x-lzma" is not supported`},
		{ID: "r-nan", Task: "echo", Body: `[[NaN, Infinity, -Infinity], {}, null]`, want: "[NaN +Inf -Inf]"},
		{ID: "r-pickle", Task: "add", Body: `(lp0`, ContentType: "application/x-python-serialize", exc: "ContentDisallowed", excMsg: "(pickle) is not accepted"},
		{ID: "r-msgpack", Task: "add", Body: "\x93", ContentType: "application/x-msgpack", exc: "ContentDisallowed", excMsg: "(msgpack) is not accepted"},
		{ID: "r-yaml", Task: "add", Body: "- [1, 1]", ContentType: "application/x-yaml", exc: "ContentDisallowed", excMsg: "(yaml) is not accepted"},
		{ID: "r-odd", Task: "add", Body: "x", ContentType: "application/x-odd", exc: "ContentDisallowed", excMsg: `"application/x-odd" is not accepted`},
		{ID: "r-json", Task: "add", Body: `[[1, 1], {}`, exc: "DecodeError", excMsg: "not a JSON array"},
		{ID: "r-big-body", Task: "echo", Body: `[["` + strings.Repeat("x", 70000) + `"], {}, null]`, exc: "LimitExceeded", excMsg: "exceeds max_message_size 65536"},
	}
}

// Raw task messages, through py-amqp on RabbitMQ and as they are on the
// embedded broker and on Redis (issue 9, items 1 and 6): each is served or
// refused, every refused one answers its sender with kombu's exception and
// goes to <queue>.dead with the reason, and the queue keeps flowing.
func TestRawHostileMessages(t *testing.T) {
	eachTransport(t, func(t *testing.T, h *harness) {
		_, isAMQP := h.b.(*amqp.Transport)
		h.startWorker(queue.WorkerConfig{MaxMessageSize: 64 << 10, Concurrency: 2})
		c := h.newClient()
		cases := hostileRawCases()
		results := make([]*queue.AsyncResult, len(cases))
		for i := range cases {
			cases[i].ID = testenv.UniqueName(t, cases[i].ID)
			cases[i].ReplyTo = c.ReplyTo()
			results[i] = c.Result(cases[i].ID) // before the answer can come
		}
		if isAMQP {
			pyamqpPublish(t, h.queue, cases)
		} else {
			for _, tc := range cases {
				h.rawPublish(h.queue, rawMessage(t, tc))
			}
		}
		refused := 0
		ctx := h.ctx() // one bound for all
		for i, tc := range cases {
			v, err := results[i].Get(ctx)
			exc, msg := tc.exc, tc.excMsg
			if isAMQP && tc.amqpExc != "" {
				exc, msg = tc.amqpExc, tc.amqpMsg
			}
			if exc == "" {
				if got := fmt.Sprint(v); err != nil || got != fmt.Sprint(tc.want) {
					t.Errorf("%s: %v %v, want %v", tc.ID, v, err, tc.want)
				}
				continue
			}
			refused++
			var re *celery.RemoteError
			if !errors.As(err, &re) || re.Type != exc || re.Module != "kombu.exceptions" || !strings.Contains(re.Error(), msg) {
				t.Errorf("%s: %v %#v, want kombu.exceptions.%s(%q)", tc.ID, v, err, exc, msg)
			}
		}
		dead := h.deadLetters(refused)
		if len(dead) != refused {
			t.Errorf("dead letters %v, want %d", dead, refused)
		}
		if v, err := h.get(c, &celery.Task{Name: "add", Args: []any{n("20"), n("22")}}); err != nil || v != n("42") {
			t.Fatalf("after: %v %v", v, err)
		}
		if strings.Contains(h.logs.String(), "connection lost") {
			t.Errorf("the worker lost its broker connection")
		}
	})
}

// rawMessage is tc as a Go client would publish it.
func rawMessage(t *testing.T, tc rawCase) *broker.Message {
	t.Helper()
	m := goodMessage(t, tc.ID, tc.Task, tc.Body)
	m.ReplyTo = tc.ReplyTo
	if tc.ContentType != "" {
		m.ContentType = tc.ContentType
	}
	for k, v := range tc.Headers {
		m.Headers[k] = v
	}
	switch tc.Compress {
	case "":
	case "zlib":
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(m.Body)
		_ = w.Close()
		m.Body, m.Headers["compression"] = buf.Bytes(), "application/x-gzip"
	case "bzip2":
		if tc.Body != `[[3, 3], {}, null]` {
			t.Fatalf("%s: only one bzip2 body is at hand", tc.ID)
		}
		m.Body, _ = hex.DecodeString(bzip2AddBody)
		m.Headers["compression"] = "application/x-bz2"
	default:
		m.Headers["compression"] = tc.Compress
	}
	return m
}

// pyamqpPublish sends the cases through py-amqp, Celery's own AMQP client.
func pyamqpPublish(t *testing.T, queueName string, cases []rawCase) {
	t.Helper()
	python := testenv.Python(t, "amqp")
	script, err := filepath.Abs(filepath.Join("testdata", "pyamqp_publish.py"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testenv.RabbitMQ(t))
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":5672"
	}
	spec, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, host, queueName)
	cmd.Stdin = bytes.NewReader(spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("py-amqp publish: %v\n%s", err, out)
	}
}
