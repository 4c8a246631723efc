package cmd

import (
	"context"
	"fmt"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/redis"
)

// addResultBackendFlag adds --result-backend, bound to queue.result_backend.
func addResultBackendFlag(c *cobra.Command) {
	c.Flags().String("result-backend", "", "where results go: rpc:// or redis://[:password@]host[:port][/db]; empty = the broker's own (queue.result_backend)")
	bindFlag(c, "result-backend", "queue.result_backend")
}

// quietRedis silences go-redis's own log lines (it prints every failed
// dial to stderr); the transport reports connection trouble in the app's
// log itself.
var quietRedis sync.Once

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}

// dialRedis connects to the Redis broker of queue.broker.
func dialRedis(ctx context.Context, app *App) (broker.Transport, error) {
	quietRedis.Do(func() { goredis.SetLogger(discardRedisLog{}) })
	opts, err := redisOptions(app.Config.Queue, app.Config.Queue.Broker)
	if err != nil {
		return nil, err
	}
	opts.Logger = app.Log
	t, err := redis.Dial(ctx, app.Config.Queue.Broker, opts)
	if err != nil {
		return nil, queueBackendError("queue.broker", err)
	}
	return t, nil
}

// redisOptions are the Redis settings of the queue configuration for url.
func redisOptions(cfg config.Queue, url string) (redis.Options, error) {
	opts := redis.Options{ResultExpires: cfg.ResultExpires, VisibilityTimeout: cfg.VisibilityTimeout}
	if cfg.ResultExpires == 0 {
		opts.ResultExpires = -1 // 0 keeps results for ever, as Celery's result_expires None
	}
	if strings.HasPrefix(strings.ToLower(url), "rediss:") || cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return redis.Options{}, err
		}
		opts.TLS = tc
	}
	return opts, nil
}

// resultBackend opens queue.result_backend for a transport: the
// transport's own store when empty (or naming the same Redis), rpc:// on
// RabbitMQ, or Celery's Redis backend. close releases what it opened.
func resultBackend(ctx context.Context, app *App, t broker.Transport) (rb broker.ResultBackend, close func(), err error) {
	cfg := app.Config.Queue
	url := cfg.ResultBackend
	switch {
	case url == "" || (redis.IsURL(url) && url == cfg.Broker):
		return t.Results(), func() {}, nil
	case strings.EqualFold(strings.TrimSuffix(url, "://"), "rpc"):
		if _, ok := t.(*amqp.Transport); !ok {
			return nil, nil, usageErrorf("queue.result_backend: rpc:// needs a RabbitMQ broker (amqp://), not %s", broker.RedactURL(cfg.Broker))
		}
		return t.Results(), func() {}, nil
	case redis.IsURL(url):
		opts, err := redisOptions(cfg, url)
		if err != nil {
			return nil, nil, err
		}
		opts.Logger = app.Log
		quietRedis.Do(func() { goredis.SetLogger(discardRedisLog{}) })
		r, err := redis.OpenResults(ctx, url, opts)
		if err != nil {
			return nil, nil, queueBackendError("queue.result_backend", err)
		}
		return r, func() { _ = r.Close() }, nil
	}
	return nil, nil, usageErrorf("queue.result_backend %q: expected empty, rpc:// or redis://", broker.RedactURL(url))
}

// queueBackendError maps a connection error to its exit code, naming the
// key a bad URL came from.
func queueBackendError(key string, err error) error {
	if strings.Contains(err.Error(), "Redis URL") {
		return withExitCode(ExitUsage, fmt.Errorf("%s: %w", key, err))
	}
	return queueError(err)
}
