package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/compute/cluster"
	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/control"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

type queueWorkerOptions struct {
	Metrics string
}

func newQueueWorkerCmd(app *App) *cobra.Command {
	opts := &queueWorkerOptions{}
	c := &cobra.Command{
		Use:   "worker",
		Short: "Consume task queues and run the tasks (Celery-compatible)",
		Long: `Consume task queues and run their tasks: the built-ins (add, mul, sum, echo,
sleep, fail) under their own names, the chunks of dsys compute --cluster
(dsys.compute.chunk), and the tasks of queue.tasks (a built-in under a Celery
name such as tasks.add, or a command run without a shell).

Results go back over Celery's rpc:// protocol, so Python Celery clients and
dsys submit both work. One log line per task (id, name, state, duration) goes to
stderr. SIGINT/SIGTERM stops consuming, lets running tasks finish within
queue.shutdown_timeout and requeues the rest; a second signal requeues at once.
A broker that is not up yet is retried with backoff (one log line per try), so
services may start in any order; --connect-timeout bounds that (exit 3).

On RabbitMQ and Redis the worker is a node of Celery's remote control, named by
--hostname: celery inspect (ping, active, reserved, scheduled, stats,
registered, revoked), celery status and celery control (revoke, terminate,
enable_events, disable_events, shutdown) reach it as they reach Celery's
workers; revoked task ids are remembered and shared with the other nodes. It
sends worker events (online, a heartbeat every 2s, offline) to Celery's event
exchange, and with -E task events too, for celery events and Flower.`,
		Example: `  dsys queue worker
  dsys queue worker --queue celery,images --concurrency 8 --metrics 127.0.0.1:9808
  dsys queue worker -E --hostname worker1@%h      # then: celery -A app inspect ping -d worker1@$(hostname)`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runQueueWorker(c.Context(), app, opts)
		},
	}
	f := c.Flags()
	addBrokerFlag(c)
	addResultBackendFlag(c)
	f.String("queue", "", "queues to consume, comma-separated (queue.queue)")
	f.Int("concurrency", 0, "tasks run at once (queue.concurrency)")
	f.Int("prefetch", 0, "unacknowledged messages held; 0 = concurrency (queue.prefetch)")
	f.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics on ADDR (host:port) at /metrics")
	f.Duration("connect-timeout", 0, "retry an unreachable broker for at most this long at start; 0 = until stopped (queue.connect_timeout)")
	f.StringP("hostname", "n", "", "node name for remote control and events; %h host, %n name, %d domain (queue.hostname, default celery@%h)")
	f.BoolP("events", "E", false, "send task events for celery events and Flower (queue.events)")
	bindFlag(c, "connect-timeout", "queue.connect_timeout")
	bindFlag(c, "hostname", "queue.hostname")
	bindFlag(c, "events", "queue.events")
	bindFlag(c, "queue", "queue.queue")
	bindFlag(c, "concurrency", "queue.concurrency")
	bindFlag(c, "prefetch", "queue.prefetch")
	return c
}

// buildRegistry registers the built-ins and the configured tasks.
func buildRegistry(tasks []config.Task) (*queue.Registry, error) {
	reg := queue.NewRegistry()
	for i, t := range tasks {
		where := fmt.Sprintf("queue.tasks[%d]", i)
		if t.Name == "" {
			return nil, usageErrorf("%s: missing name", where)
		}
		where = fmt.Sprintf("queue.tasks[%d] (%s)", i, t.Name)
		var fn queue.TaskFunc
		arity := 0
		switch {
		case t.Builtin != "" && len(t.Command) > 0:
			return nil, usageErrorf("%s: set builtin or command, not both", where)
		case t.Builtin != "":
			f, ok := queue.Builtin(t.Builtin)
			if !ok {
				return nil, usageErrorf("%s: unknown builtin %q (have %v)", where, t.Builtin, queue.BuiltinNames())
			}
			fn, arity = f, queue.BuiltinArity(t.Builtin)
		case len(t.Command) > 0:
			f, err := queue.CommandTask(t.Command, queue.CommandOptions{AllowOptions: t.AllowOptions,
				// This binary, by a path that holds even if it is replaced on
				// disk (used on Linux only).
				Guard: []string{"/proc/self/exe", queue.CommandGuardArg}})
			if err != nil {
				return nil, withExitCode(ExitUsage, fmt.Errorf("%s: %w", where, err))
			}
			fn, arity = f, queue.CommandArity(t.Command)
		default:
			return nil, usageErrorf("%s: set builtin or command", where)
		}
		def := queue.TaskDef{Name: t.Name, Func: fn, Timeout: t.Timeout, Retries: t.Retries, RetryBackoff: t.RetryBackoff, Arity: arity}
		if err := reg.Register(def); err != nil {
			return nil, withExitCode(ExitUsage, fmt.Errorf("%s: %w", where, err))
		}
	}
	if err := queue.RegisterBuiltins(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

func runQueueWorker(ctx context.Context, app *App, opts *queueWorkerOptions) error {
	cfg := app.Config.Queue
	queues, err := queueNames(cfg.Queue)
	if err != nil {
		return err
	}
	reg, err := buildRegistry(cfg.Tasks)
	if err != nil {
		return err
	}
	node := control.NodeName(cfg.Hostname)
	// The chunk task of dsys compute --cluster, registered here because
	// the queue library knows nothing of compute (and compute nothing of
	// queues): compute/cluster is the bridge, and only the CLI holds both.
	// It looks job markers up on the worker's transport, once dialled.
	var markers broker.Transport
	if err := cluster.Register(reg, cluster.WorkerConfig{Node: node, Markers: func() broker.Transport { return markers },
		Logger: app.Log}); err != nil {
		return withExitCode(ExitUsage, err)
	}
	logBanner(app, queues, reg)
	var metrics *queue.Metrics
	if opts.Metrics != "" {
		stopMetrics, m, err := serveMetrics(app, opts.Metrics)
		if err != nil {
			return err
		}
		defer stopMetrics()
		metrics = m
	}
	retry := connectRetry{timeout: cfg.ConnectTimeout, log: app.Log}
	b, err := retryDial(ctx, retry, "broker", func() (broker.Transport, error) { return dialBroker(ctx, app) })
	if err != nil {
		return err
	}
	defer b.Close()
	type backend struct {
		rb    broker.ResultBackend
		close func()
	}
	rbe, err := retryDial(ctx, retry, "result backend", func() (backend, error) {
		rb, closeRB, err := resultBackend(ctx, app, b)
		return backend{rb, closeRB}, err
	})
	if err != nil {
		return err
	}
	results := rbe.rb
	defer rbe.close()
	maxRedeliveries := cfg.MaxRedeliveries
	if maxRedeliveries == 0 {
		maxRedeliveries = -1 // library: none allowed
	}
	markers = b
	w := queue.NewWorker(b, reg, queue.WorkerConfig{
		Queues:          queues,
		Results:         results,
		Concurrency:     cfg.Concurrency,
		Prefetch:        cfg.Prefetch,
		MaxRedeliveries: maxRedeliveries,
		ShutdownTimeout: cfg.ShutdownTimeout,
		MaxMessageSize:  int(cfg.MaxMessageSize),
		Hostname:        node,
		TrackStarted:    cfg.TrackStarted,
		Control: &queue.ControlConfig{Exchange: cfg.ControlExchange, EventExchange: cfg.EventExchange, Events: cfg.Events,
			Broker: brokerInfo(cfg.Broker), Version: version},
		Logger:  app.Log,
		Metrics: metrics,
	})
	// The first signal cancels ctx (graceful); a second one aborts the wait.
	sigs := make(chan os.Signal, 1)
	go func() {
		<-ctx.Done()
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	}()
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			w.Abort()
		}
	}()
	if err := w.Run(ctx); err != nil {
		return queueError(err)
	}
	return ctx.Err() // stopped by a signal: exit 130, or 0 after SIGTERM (longRunning)
}

// logBanner is the worker's first log line: the broker (password masked)
// and what to set to serve Celery clients instead, the queues, the
// concurrency and the task names.
func logBanner(app *App, queues []string, reg *queue.Registry) {
	cfg := app.Config.Queue
	attrs := []any{"broker", broker.RedactURL(cfg.Broker)}
	if _, embedded := sqlite.PathFromURL(cfg.Broker); embedded {
		attrs = append(attrs, "note", "embedded broker for this machine; to serve Celery clients set queue.broker: amqp://user:password@host:5672// or redis://host:6379/0")
	}
	// Celery's canvas tasks (celery.map, …) are served too; like celery
	// inspect registered, the banner leaves them out.
	var names []string
	for _, n := range reg.Names() {
		if !strings.HasPrefix(n, "celery.") {
			names = append(names, n)
		}
	}
	attrs = append(attrs, "queues", strings.Join(queues, ","), "concurrency", cfg.Concurrency, "tasks", strings.Join(names, ","))
	app.Log.Info("queue: worker starting", attrs...)
}

// serveMetrics listens on addr and serves /metrics until stopped.
func serveMetrics(app *App, addr string) (stop func(), m *queue.Metrics, err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if m, err = queue.NewMetrics(reg); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, usageErrorf("--metrics %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			app.Log.Error("metrics server stopped", "err", err)
		}
	}()
	app.Log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, m, nil
}

// brokerInfo is the connection as `celery inspect stats` shows it (kombu's
// Connection.info()), without the password.
func brokerInfo(rawURL string) control.BrokerInfo {
	info := control.BrokerInfo{Transport: "amqp", LoginMethod: "PLAIN", ConnectTimeout: 5, Heartbeat: 10,
		FailoverStrategy: "round-robin", Alternates: []string{}}
	u, err := url.Parse(rawURL)
	if err != nil {
		return info
	}
	switch u.Scheme {
	case "amqps", "pyamqps":
		info.SSL = true
	case "sqlite":
		info.Transport = "sqlite"
	case "redis", "rediss":
		info.Transport = "redis"
	}
	info.Hostname = u.Hostname()
	info.Port, _ = strconv.Atoi(u.Port())
	if info.Port == 0 && info.Transport == "amqp" {
		info.Port = 5672
		if info.SSL {
			info.Port = 5671
		}
	}
	info.UserID = u.User.Username()
	if info.UserID == "" && info.Transport == "amqp" {
		info.UserID = "guest"
	}
	info.VirtualHost = strings.TrimPrefix(u.Path, "/")
	if info.VirtualHost == "" && info.Transport == "amqp" {
		info.VirtualHost = "/"
	}
	return info
}

// connectRetry is how a starting worker waits for its broker: services
// start in any order (systemd, compose), so an unreachable broker is
// retried with backoff — 100 ms doubling to 5 s, each try logged — for at
// most timeout (0: until the context ends). Refused credentials and bad
// configuration are not retried: waiting cannot fix them.
type connectRetry struct {
	timeout time.Duration
	log     *slog.Logger
}

// retryDial calls dial until it succeeds, fails other than unreachable,
// the retry's timeout runs out (the last error, exit 3) or ctx ends.
func retryDial[T any](ctx context.Context, r connectRetry, what string, dial func() (T, error)) (T, error) {
	start := time.Now()
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := dial()
		if err == nil || !errors.Is(err, broker.ErrUnreachable) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return v, ctx.Err()
			}
			if err == nil && attempt > 1 {
				r.log.Info("queue: "+what+" reachable", "attempts", attempt)
			}
			return v, err
		}
		if r.timeout > 0 && time.Since(start)+delay > r.timeout {
			return v, fmt.Errorf("%w (gave up after %d tries in %s: queue.connect_timeout)", err, attempt, time.Since(start).Round(time.Millisecond))
		}
		r.log.Warn("queue: "+what+" unreachable; retrying", "attempt", attempt, "in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return v, ctx.Err()
		}
		delay = min(2*delay, 5*time.Second)
	}
}
