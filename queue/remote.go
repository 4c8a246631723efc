package queue

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/control"
	"github.com/dsys-dev/dsys/queue/events"
)

// ControlConfig sets up a worker's part in Celery's remote control (the
// pidbox: celery inspect, celery control, celery status, Flower) and
// events (celeryev: celery events, Flower). Both need a transport that
// carries broadcasts (broker.Broadcaster); on one that does not, the
// worker logs a warning and serves tasks without them. The zero value is
// the documented default.
type ControlConfig struct {
	// Exchange is Celery's control_exchange (default "celery"): commands
	// come on "<Exchange>.pidbox".
	Exchange string
	// EventExchange is Celery's event_exchange (default "celeryev").
	EventExchange string
	// Events sends task events from the start (celery worker -E). Worker
	// events (worker-online, a worker-heartbeat every 2s, worker-offline)
	// are sent always, as Celery sends them; the enable_events and
	// disable_events commands switch task events.
	Events bool
	// Broker is what `celery inspect stats` reports of the connection.
	Broker control.BrokerInfo
	// Version is the software version heartbeats carry.
	Version string
	// NoMingle: do not ask the other nodes for their revoked ids at start
	// (Celery's --without-mingle).
	NoMingle bool
}

// remote is a worker's remote control node, event dispatcher and task
// table; nil when the worker has none.
type remote struct {
	w      *Worker
	node   *control.Node
	ev     *events.Dispatcher
	listen broker.Listener
	wg     sync.WaitGroup
	cancel context.CancelFunc

	shutdownOnce sync.Once
	shutdownReq  chan struct{} // closed by the shutdown command

	mu        sync.Mutex
	runs      map[*run]struct{} // received, not finished
	total     map[string]int    // tasks accepted, by name
	processed int
	active    int
}

// Task states as the task table knows them.
const (
	runReserved  = iota // received, waiting for a slot
	runScheduled        // held for its eta
	runActive           // running
)

// startRemote starts remote control and events when configured and the
// transport carries them; it returns nil otherwise (and says why).
func (w *Worker) startRemote(ctx context.Context) *remote {
	cfg := w.cfg.Control
	if cfg == nil {
		return nil
	}
	bc, ok := w.t.(broker.Broadcaster)
	if !ok {
		// Said once, at the level a default start shows: the embedded
		// broker is the default, and this is a fact about it, not a fault.
		w.log.Info("queue: this broker carries no broadcasts: remote control (celery inspect, celery control, celery status) " +
			"and events (celery events, Flower) are not available for this worker")
		return nil
	}
	rctx, cancel := context.WithCancel(context.Background())
	rm := &remote{w: w, cancel: cancel, shutdownReq: make(chan struct{}), runs: map[*run]struct{}{}, total: map[string]int{}}
	clock := &control.Clock{}
	rm.ev = events.New(bc, events.Options{Hostname: w.cfg.Hostname, Exchange: cfg.EventExchange, TaskEvents: cfg.Events,
		Clock: clock, Load: rm.load, Version: cfg.Version, Logger: w.log})
	rm.node = control.NewNode(bc, rm, control.Options{Hostname: w.cfg.Hostname, Exchange: cfg.Exchange,
		Revoked: w.revoked, Clock: clock, Logger: w.log})
	l, err := rm.node.Listen(ctx)
	if err != nil {
		w.log.Warn("queue: remote control not available", "err", err)
	} else {
		rm.listen = l
		rm.wg.Add(1)
		go func() {
			defer rm.wg.Done()
			rm.node.Serve(rctx, l)
		}()
		if !cfg.NoMingle {
			rm.wg.Add(1)
			go func() {
				defer rm.wg.Done()
				if _, err := rm.node.Mingle(rctx, time.Second); err != nil && rctx.Err() == nil {
					w.log.Debug("queue: mingle failed", "err", err)
				}
			}()
		}
	}
	rm.wg.Add(1)
	go func() {
		defer rm.wg.Done()
		rm.ev.Run(rctx)
	}()
	w.log.Info("queue: remote control and events", "node", w.cfg.Hostname, "task_events", cfg.Events)
	return rm
}

// stop ends remote control and sends worker-offline.
func (rm *remote) stop() {
	if rm == nil {
		return
	}
	if rm.listen != nil {
		_ = rm.listen.Close()
	}
	rm.cancel()
	rm.wg.Wait()
}

// shutdownRequested is closed by the shutdown command.
func (rm *remote) shutdownRequested() <-chan struct{} {
	if rm == nil {
		return nil
	}
	return rm.shutdownReq
}

// taskEvents reports whether task events are being sent.
func (rm *remote) taskEvents() bool { return rm != nil && rm.ev.TaskEvents() }

// track records a run in the task table.
func (rm *remote) track(r *run, state int) {
	if rm == nil {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if state == runActive {
		rm.total[r.name]++
		rm.processed++
		rm.active++
	}
	r.state = state
	rm.runs[r] = struct{}{}
}

// untrack removes a finished run from the task table.
func (rm *remote) untrack(r *run) {
	if rm == nil {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if _, ok := rm.runs[r]; ok && r.state == runActive {
		rm.active--
	}
	delete(rm.runs, r)
}

func (rm *remote) load() (active, processed int) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.active, rm.processed
}

// The control.Handler methods.

func (rm *remote) requests(state int) []control.Request {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := []control.Request{}
	for r := range rm.runs {
		if r.state == state {
			out = append(out, rm.request(r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (rm *remote) request(r *run) control.Request {
	t := r.task
	req := control.Request{ID: t.ID, Name: t.Name, Args: t.Args, Kwargs: t.Kwargs, Type: t.Name,
		Hostname: rm.w.cfg.Hostname, Acknowledged: r.state == runActive,
		DeliveryInfo: control.DeliveryInfo{RoutingKey: r.d.Queue, Priority: int(r.d.Priority), Redelivered: r.d.Redelivered}}
	if req.Args == nil {
		req.Args = []any{}
	}
	if req.Kwargs == nil {
		req.Kwargs = map[string]any{}
	}
	if r.state == runActive {
		ts := float64(r.start.UnixNano()) / 1e9
		pid := os.Getpid()
		req.TimeStart, req.WorkerPID = &ts, &pid
	}
	return req
}

func (rm *remote) Active() []control.Request   { return rm.requests(runActive) }
func (rm *remote) Reserved() []control.Request { return rm.requests(runReserved) }

func (rm *remote) Scheduled() []control.Scheduled {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := []control.Scheduled{}
	for r := range rm.runs {
		if r.state == runScheduled {
			out = append(out, control.Scheduled{ETA: celery.FormatTime(r.task.ETA),
				Priority: int(r.d.Priority), Request: rm.request(r)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ETA < out[j].ETA })
	return out
}

func (rm *remote) Registered() []string { return rm.w.reg.Names() }

func (rm *remote) Stats() control.Stats {
	rm.mu.Lock()
	total := make(map[string]int, len(rm.total))
	for k, v := range rm.total {
		total[k] = v
	}
	rm.mu.Unlock()
	cfg := rm.w.cfg
	return control.Stats{Total: total, PrefetchCount: cfg.Prefetch * len(cfg.Queues), Broker: cfg.Control.Broker,
		Pool: control.Pool{MaxConcurrency: cfg.Concurrency, Processes: []int{os.Getpid()}, MaxTasksPerChild: "N/A",
			Implementation: "dsys: goroutines in one process"},
		Rusage: rusage()}
}

func (rm *remote) ActiveQueues() []control.QueueInfo {
	out := make([]control.QueueInfo, 0, len(rm.w.cfg.Queues))
	for _, q := range rm.w.cfg.Queues {
		out = append(out, control.QueueInfo{Name: q, RoutingKey: q, Durable: true, Bindings: []any{},
			Exchange: control.ExchangeInfo{Name: q, Type: "direct", Durable: true}})
	}
	return out
}

// Conf is the worker's configuration as Celery's setting names say it.
func (rm *remote) Conf() map[string]any {
	cfg := rm.w.cfg
	c := map[string]any{
		"worker_concurrency": cfg.Concurrency, "worker_prefetch_multiplier": max(1, cfg.Prefetch/cfg.Concurrency),
		"task_default_queue": cfg.Queues[0], "task_queues": cfg.Queues,
		"task_track_started": cfg.TrackStarted, "worker_send_task_events": rm.ev.TaskEvents(),
		"event_exchange": cfg.Control.EventExchange, "worker_enable_remote_control": true,
		// dsys acknowledges a task after what it causes is durable.
		"task_acks_late": true,
	}
	if c["event_exchange"] == "" {
		c["event_exchange"] = "celeryev"
	}
	return c
}

// Terminate cancels the running tasks among ids, with cause Terminated:
// a task honouring its context stops (a command's process group gets the
// signal), and its result is REVOKED "terminated".
func (rm *remote) Terminate(ids []string, signal int) []string {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	var done []string
	for r := range rm.runs {
		if r.state == runActive && want[r.id] && r.cancel != nil {
			r.cancel(&Terminated{Signal: signal})
			done = append(done, r.id)
		}
	}
	sort.Strings(done)
	return done
}

func (rm *remote) TaskEvents(on bool) bool { return rm.ev.SetTaskEvents(on) }
func (rm *remote) Heartbeat()              { rm.ev.Heartbeat() }

func (rm *remote) Shutdown(reason string) {
	rm.shutdownOnce.Do(func() {
		rm.w.log.Warn("queue: shutdown requested by remote control", "reason", reason)
		close(rm.shutdownReq)
	})
}

// Events, from the worker's steps.

// received sends task-received.
func (rm *remote) received(task *celery.Task) {
	if !rm.taskEvents() {
		return
	}
	e := &events.TaskReceived{UUID: task.ID, Name: task.Name, Args: celery.ArgsRepr(task.Args), Kwargs: celery.KwargsRepr(task.Kwargs),
		RootID: strPtr(task.RootID), ParentID: strPtr(task.ParentID), Retries: task.Retries}
	if !task.ETA.IsZero() {
		e.ETA = strPtr(celery.FormatTime(task.ETA))
	}
	if !task.Expires.IsZero() {
		e.Expires = strPtr(celery.FormatTime(task.Expires))
	}
	rm.ev.Send(e)
}

// started sends task-started.
func (rm *remote) started(id string) {
	if rm.taskEvents() {
		rm.ev.Send(&events.TaskStarted{UUID: id})
	}
}

// outcome sends the event of a committed plan: succeeded, failed,
// retried, revoked or rejected (dead-lettered).
func (rm *remote) outcome(p *plan) {
	if !rm.taskEvents() || p.id == "" {
		return
	}
	switch {
	case p.dead != nil && p.state == "":
		rm.ev.Send(&events.TaskRejected{UUID: p.id})
	case p.state == celery.StateSuccess:
		rm.ev.Send(&events.TaskSucceeded{UUID: p.id, Result: celery.Repr(p.value), Runtime: p.elapsed.Seconds()})
	case p.state == celery.StateFailure || p.state == celery.StateRetry:
		e := &events.TaskFailed{UUID: p.id, Retried: p.state == celery.StateRetry, Exception: excRepr(p)}
		if p.exc != nil {
			e.Traceback = p.exc.Traceback
		}
		rm.ev.Send(e)
		if p.dead != nil {
			rm.ev.Send(&events.TaskRejected{UUID: p.id})
		}
	case p.state == celery.StateRevoked:
		e := &events.TaskRevoked{UUID: p.id, Terminated: p.reason == "terminated", Expired: p.reason == "expired"}
		if p.signal != 0 {
			e.Signum = &p.signal
		}
		rm.ev.Send(e)
	}
}

// excRepr is the exception of a plan as Python's repr shows it:
// ValueError('boom').
func excRepr(p *plan) string {
	if p.exc == nil {
		return p.errText
	}
	args := make([]string, len(p.exc.Message))
	for i, a := range p.exc.Message {
		args[i] = celery.Repr(a)
	}
	return p.exc.Type + "(" + strings.Join(args, ", ") + ")"
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// trackStarted publishes STARTED for a task that begins, as Celery's
// task_track_started does: {"pid", "hostname"}.
func (w *Worker) trackStarted(task *celery.Task) {
	if task.IgnoreResult {
		return
	}
	raw := strconv.AppendInt([]byte(`{"pid": `), int64(os.Getpid()), 10)
	raw = append(raw, `, "hostname": `...)
	host, _ := json.Marshal(w.cfg.Hostname)
	raw = append(append(raw, host...), '}')
	ctx, cancel := context.WithTimeout(w.taskCtx, 10*time.Second)
	defer cancel()
	err := w.cfg.Results.Store(ctx, []broker.Result{{TaskID: task.ID, ReplyTo: task.ReplyTo, State: string(celery.StateStarted),
		Body: celery.ResultBody(task.ID, celery.StateStarted, raw, nil)}})
	if err != nil && !errors.Is(err, context.Canceled) {
		w.log.Warn("queue: STARTED not published", "id", task.ID, "err", err)
	}
}

// Revoke remembers ids as revoked, as Celery's revoke command does: a
// task with one of them that this worker has not started yet, or receives
// later, is not run, and its result is REVOKED. It works on every
// transport; remote control (ControlConfig) calls it for Celery's revoke
// and can also terminate running tasks.
func (w *Worker) Revoke(ids ...string) { w.revoked.Add(ids...) }
