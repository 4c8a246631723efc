package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// validate checks ranges and enumerations once every value has its type.
func (l *Loaded) validate() error {
	c := &l.Config
	checks := []struct {
		key string
		ok  bool
		msg string
	}{
		{"output", c.Output == "text" || c.Output == "json", "expected text or json"},
		{"log.level", slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level), "expected debug, info, warn or error"},
		{"zmq.timeout", c.Zmq.Timeout > 0, "expected a positive duration"},
		{"zmq.retries", c.Zmq.Retries >= 0, "expected zero or more"},
		{"zmq.max_message_size", c.Zmq.MaxMessageSize > 0, "expected a positive size"},
		{"zmq.hwm", c.Zmq.HWM > 0, "expected a positive integer"},
		{"zmq.heartbeat", c.Zmq.Heartbeat >= 0, "expected a duration of zero (off) or more"},
		{"queue.broker", c.Queue.Broker != "", "expected a broker URL"},
		{"queue.queue", c.Queue.Queue != "", "expected a queue name"},
		{"queue.concurrency", c.Queue.Concurrency > 0, "expected a positive integer"},
		{"queue.prefetch", c.Queue.Prefetch >= 0, "expected zero (= concurrency) or more"},
		{"queue.result_expires", c.Queue.ResultExpires >= 0, "expected a duration of zero or more"},
		{"queue.result_backend", validResultBackend(c.Queue.ResultBackend), "expected empty (the broker's own), rpc:// or a redis:// or rediss:// URL"},
		{"queue.visibility_timeout", c.Queue.VisibilityTimeout >= 3*time.Second, "expected a duration of at least 3s"},
		{"queue.max_redeliveries", c.Queue.MaxRedeliveries >= 0, "expected zero or more"},
		{"queue.shutdown_timeout", c.Queue.ShutdownTimeout >= 0, "expected a duration of zero or more"},
		{"queue.connect_timeout", c.Queue.ConnectTimeout >= 0, "expected a duration of zero or more"},
		{"queue.max_message_size", c.Queue.MaxMessageSize > 0, "expected a positive size"},
		{"queue.hostname", c.Queue.Hostname != "", "expected a node name such as celery@%h"},
		{"queue.control_exchange", c.Queue.ControlExchange != "", "expected an exchange name such as celery"},
		{"queue.event_exchange", c.Queue.EventExchange != "", "expected an exchange name such as celeryev"},
		{"compute.workers", c.Compute.Workers > 0, "expected a positive integer"},
		{"compute.chunk_bytes", c.Compute.ChunkBytes >= 8, "expected a size of at least 8 bytes"},
		{"compute.block_bytes", c.Compute.BlockBytes >= 64, "expected a size of at least 64 bytes"},
	}
	for _, ch := range checks {
		if ch.ok {
			continue
		}
		k, _ := lookupKey(ch.key)
		return &Error{
			Where: l.sources[ch.key].where(),
			Key:   ch.key,
			Msg:   fmt.Sprintf("%s, got %s", ch.msg, display(publicValue(k, k.Value(c)))),
		}
	}
	return nil
}

// validResultBackend accepts the result backends dsys speaks.
func validResultBackend(s string) bool {
	l := strings.ToLower(s)
	return s == "" || l == "rpc://" || l == "rpc" || strings.HasPrefix(l, "redis://") || strings.HasPrefix(l, "rediss://")
}
