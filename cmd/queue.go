package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/redis"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

// newQueueCmd is the `dsys queue` group; it adds its subcommands.
func newQueueCmd(app *App) *cobra.Command {
	c := newGroupCmd("queue", "Celery-compatible task queue, embedded, on RabbitMQ or on Redis: worker, submit, result, inspect, purge",
		`A task queue that speaks Celery's message protocol v2. With no configuration it runs on
an embedded broker (an SQLite file, queue.broker sqlite://PATH) shared by every worker
and client on this machine; on RabbitMQ (queue.broker amqp://...) dsys workers serve
Celery clients over rpc:// results, and dsys submit talks to Celery workers; on Redis
(queue.broker redis://...) they share queues and Celery's Redis result backend.

Delivery is at least once: a worker acknowledges a task only after its result is
confirmed by the broker; a message redelivered more than queue.max_redeliveries
times, or one that cannot be decoded, goes to the dead-letter queue <queue>.dead.

Celery's tools see dsys workers as their own: on RabbitMQ a worker answers remote
control (celery inspect, celery status, celery control revoke/terminate/shutdown)
as the node --hostname (default celery@%h) and sends events (-E) for celery events
and Flower. Queues that exist are used as declared (priority, quorum);
queue.queue_arguments shapes the ones dsys creates.`)
	c.AddCommand(longRunning(newQueueWorkerCmd(app)), newQueueSubmitCmd(app), newQueueResultCmd(app), newQueueInspectCmd(app), newQueuePurgeCmd(app))
	return c
}

// addBrokerFlag adds --broker, bound to queue.broker.
func addBrokerFlag(c *cobra.Command) {
	c.Flags().String("broker", "", "broker URL: sqlite://PATH (embedded, the default), amqp://, amqps://, pyamqp://user:password@host:port/vhost or redis://[:password@]host[:port][/db] (queue.broker)")
	bindFlag(c, "broker", "queue.broker")
}

// queueNames splits the comma-separated queue.queue value.
func queueNames(s string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil, usageErrorf("--queue: expected a queue name")
	}
	return names, nil
}

// dialBroker connects to the configured broker: the embedded one
// (sqlite://PATH), Redis or RabbitMQ.
func dialBroker(ctx context.Context, app *App) (broker.Transport, error) {
	cfg := app.Config.Queue
	if redis.IsURL(cfg.Broker) {
		return dialRedis(ctx, app)
	}
	if path, ok := sqlite.PathFromURL(cfg.Broker); ok {
		t, err := sqlite.Open(ctx, path, sqlite.Options{VisibilityTimeout: cfg.VisibilityTimeout,
			ResultExpires: cfg.ResultExpires, Logger: app.Log})
		if err != nil {
			return nil, withExitCode(ExitUsage, fmt.Errorf("queue.broker: %w", err))
		}
		return t, nil
	}
	uri, err := amqp.NormalizeURL(cfg.Broker)
	if err != nil {
		return nil, withExitCode(ExitUsage, fmt.Errorf("queue.broker: %w", err))
	}
	opts := amqp.Options{Logger: app.Log, ConnectionName: "dsys", QueueArguments: amqp.QueueArguments(cfg.QueueArguments)}
	// The normalized scheme: pyamqps:// is amqps:// too.
	if strings.HasPrefix(uri, "amqps:") || cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts.TLS = tc
	}
	b, err := amqp.Dial(ctx, uri, opts)
	if err != nil {
		return nil, queueError(err)
	}
	return b, nil
}

// openQueues resolves queue.queue (or --queue) and dials the broker, as
// inspect and purge both begin.
func openQueues(ctx context.Context, app *App) ([]string, broker.Transport, error) {
	queues, err := queueNames(app.Config.Queue.Queue)
	if err != nil {
		return nil, nil, err
	}
	b, err := dialBroker(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	return queues, b, nil
}

// tlsConfig builds the amqps:// TLS settings from queue.tls.*.
func tlsConfig(c config.QueueTLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in, documented as testing only
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, withExitCode(ExitUsage, fmt.Errorf("queue.tls.ca_file: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("queue.tls.ca_file: %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, usageErrorf("queue.tls: cert_file and key_file go together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, withExitCode(ExitUsage, fmt.Errorf("queue.tls: %w", err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// queueError maps the queue library's sentinels to exit codes.
func queueError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrAuth):
		return withExitCode(ExitUsage, err)
	case errors.Is(err, queue.ErrUnreachable), errors.Is(err, queue.ErrTimeout):
		return withExitCode(ExitUnavailable, err)
	case errors.Is(err, queue.ErrQueueNotFound):
		return withExitCode(ExitUsage, err)
	}
	return err
}
