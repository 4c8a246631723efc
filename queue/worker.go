package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// WorkerConfig configures a Worker. The zero value is the documented default.
type WorkerConfig struct {
	// Queues to consume (default ["celery"]). Each is declared exactly as
	// Celery declares it, plus its dead-letter queue "<queue>.dead".
	Queues []string
	// Concurrency is how many tasks run at once (default runtime.NumCPU()).
	Concurrency int
	// Prefetch bounds the messages received and not yet settled (default
	// Concurrency: the worker never reserves more than it can run).
	Prefetch int
	// MaxRedeliveries: a message redelivered more often (its consumer died
	// or lost the connection each time) is dead-lettered (default 5;
	// negative = none: the first redelivery is dead-lettered).
	MaxRedeliveries int
	// ShutdownTimeout is how long running tasks may finish after Run's
	// context is cancelled before they are requeued (default 30s).
	ShutdownTimeout time.Duration
	// MaxMessageSize: larger bodies are dead-lettered unread (default 16 MiB).
	MaxMessageSize int
	// Hostname names the worker in logs (default "dsys").
	Hostname string
	// Logger gets one info line per task and warnings (nil = discard).
	Logger *slog.Logger
	// Metrics, when set, are updated as tasks flow.
	Metrics *Metrics
}

func (c *WorkerConfig) defaults() {
	if len(c.Queues) == 0 {
		c.Queues = []string{"celery"}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = runtime.NumCPU()
	}
	if c.Prefetch <= 0 {
		c.Prefetch = c.Concurrency
	}
	if c.MaxRedeliveries == 0 {
		c.MaxRedeliveries = 5
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 16 << 20
	}
	if c.Hostname == "" {
		c.Hostname = "dsys"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// holdETA: a task due within this is kept (unacked) until it is due;
// later ones go to the broker's delay queues.
const holdETA = time.Second

// publishTimeout bounds waiting for the broker to confirm a result.
const publishTimeout = 30 * time.Second

// noWait is the context of every worker publish: done already, so Publish
// fails at once while the connection is down instead of waiting for the
// reconnection. Each publish belongs to a delivery, and a delivery whose
// connection died is redelivered: publishing for it on the next connection
// would duplicate what its redelivery publishes (a second SUCCESS).
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Worker consumes task messages and runs them. Create it with NewWorker and
// start it with Run.
//
// Shutdown order, when Run's context is cancelled: (1) stop consuming;
// (2) requeue every received task that has not started; (3) let running
// tasks finish and publish their results for up to ShutdownTimeout (or
// until Abort); (4) cancel the tasks still running and requeue them;
// (5) close the consumers and return.
type Worker struct {
	b   Broker
	reg *Registry
	cfg WorkerConfig
	log *slog.Logger
	m   *Metrics

	slots    chan struct{}
	stopping chan struct{} // closed when shutdown starts
	abort    chan struct{} // closed by Abort or at the shutdown deadline
	stopOnce sync.Once
	abortMu  sync.Once

	taskCtx    context.Context // parent of task contexts; cancelled when abandoned
	cancelTask context.CancelFunc

	pubMu   sync.Mutex // guards the shared publishing deadline (pubCtx)
	pubCur  context.Context
	pubBorn time.Time
	pubOld  []pubDeadline

	procs   sync.WaitGroup // one per received delivery
	mu      sync.Mutex
	running map[*run]struct{}

	ready    chan struct{} // closed once consuming
	done     *recentSet    // doneKeys of tasks whose outcome is published and confirmed
	declared sync.Map      // queue names declared for callbacks
}

// run is one task execution, abandoned (requeued) if shutdown times out.
type run struct {
	d         *Delivery
	abandoned bool // guarded by Worker.mu
}

// NewWorker returns a worker serving reg's tasks from b.
func NewWorker(b Broker, reg *Registry, cfg WorkerConfig) *Worker {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Worker{b: b, reg: reg, cfg: cfg, log: cfg.Logger, m: cfg.Metrics,
		slots: make(chan struct{}, cfg.Concurrency), stopping: make(chan struct{}), abort: make(chan struct{}),
		taskCtx: ctx, cancelTask: cancel, running: map[*run]struct{}{},
		done:  newRecentSet(max(4096, 2*cfg.Prefetch*len(cfg.Queues))),
		ready: make(chan struct{})}
}

// Ready is closed once Run has declared its queues and consumes them.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// Abort makes a shutdown in progress stop waiting for running tasks: they
// are cancelled and requeued at once (a second SIGINT).
func (w *Worker) Abort() { w.abortMu.Do(func() { close(w.abort) }) }

// Run declares the queues, consumes until ctx is cancelled, then shuts down
// gracefully (see Worker). It returns nil after a graceful shutdown.
func (w *Worker) Run(ctx context.Context) error {
	for _, q := range w.cfg.Queues {
		if err := w.b.Declare(ctx, QueueSpec{Name: q, Kind: TaskQueue}); err != nil {
			return err
		}
		if err := w.b.Declare(ctx, QueueSpec{Name: q + ".dead", Kind: DeadLetterQueue}); err != nil {
			return err
		}
	}
	var consumers []Consumer
	defer func() {
		for _, c := range consumers {
			_ = c.Close()
		}
	}()
	for _, q := range w.cfg.Queues {
		// Batched acks: RabbitMQ settles a run of finished tasks at once.
		// A task whose ack was still waiting when the worker died is
		// redelivered and runs again (at least once); see redelivered.
		c, err := w.b.Consume(ctx, q, ConsumeOptions{Prefetch: w.cfg.Prefetch, BatchAcks: true})
		if err != nil {
			return err
		}
		consumers = append(consumers, c)
	}
	merged := mergeDeliveries(consumers)
	w.log.Info("queue: worker ready", "queues", w.cfg.Queues, "concurrency", w.cfg.Concurrency,
		"prefetch", w.cfg.Prefetch, "tasks", len(w.reg.Names()))
	close(w.ready)

	for {
		select {
		case d, ok := <-merged:
			if !ok {
				// The broker was closed under us.
				w.shutdown(nil, merged)
				return fmt.Errorf("queue: worker: %w", ErrClosed)
			}
			w.procs.Add(1)
			go w.process(d)
		case <-ctx.Done():
			w.shutdown(consumers, merged)
			return nil
		}
	}
}

// mergeDeliveries returns one channel carrying every consumer's deliveries,
// closed when all of theirs are; a single consumer's is used as it is.
func mergeDeliveries(consumers []Consumer) <-chan *Delivery {
	if len(consumers) == 1 {
		return consumers[0].Deliveries()
	}
	merged := make(chan *Delivery)
	var pumps sync.WaitGroup
	for _, c := range consumers {
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			for d := range c.Deliveries() {
				merged <- d
			}
		}()
	}
	go func() {
		pumps.Wait()
		close(merged)
	}()
	return merged
}

func (w *Worker) shutdown(consumers []Consumer, merged <-chan *Delivery) {
	w.log.Info("queue: worker shutting down", "running", w.runningCount(), "timeout", w.cfg.ShutdownTimeout)
	w.stopOnce.Do(func() { close(w.stopping) })
	for _, c := range consumers {
		_ = c.Cancel()
	}
	// Deliveries still arriving were never started: put them back.
	for d := range merged {
		w.procs.Add(1)
		go func() {
			defer w.procs.Done()
			w.requeueFresh(d)
		}()
	}
	all := make(chan struct{})
	go func() {
		w.procs.Wait()
		close(all)
	}()
	timer := time.NewTimer(w.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-all:
		w.cancelTask()
		return
	case <-timer.C:
		w.log.Warn("queue: shutdown timeout; requeueing running tasks", "running", w.runningCount())
	case <-w.abort:
		w.log.Warn("queue: shutdown aborted; requeueing running tasks", "running", w.runningCount())
	}
	w.Abort()
	w.mu.Lock()
	for r := range w.running {
		r.abandoned = true
		_ = r.d.Reject(true)
	}
	w.mu.Unlock()
	w.cancelTask()
	// Publishing goroutines give up quickly once aborted; wait a bounded time.
	select {
	case <-all:
	case <-time.After(5 * time.Second):
	}
}

func (w *Worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// pubCtx bounds waiting for the broker's confirms (publishTimeout) and
// ends early on abort. The publishes starting within the same second share one context:
// a context and timer per task were a tenth of a small task's cost.
func (w *Worker) pubCtx() context.Context {
	now := time.Now()
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	if w.pubCur == nil || now.Sub(w.pubBorn) >= time.Second {
		for len(w.pubOld) > 0 && now.Sub(w.pubOld[0].born) > 2*publishTimeout {
			w.pubOld[0].cancel() // long expired: release
			w.pubOld = w.pubOld[1:]
		}
		ctx, cancel := context.WithTimeout(w.taskCtx, publishTimeout+time.Second)
		w.pubOld = append(w.pubOld, pubDeadline{born: now, cancel: cancel})
		w.pubCur, w.pubBorn = ctx, now
	}
	return w.pubCur
}

type pubDeadline struct {
	born   time.Time
	cancel context.CancelFunc
}

// process takes one delivery from receipt to settlement.
func (w *Worker) process(d *Delivery) {
	defer w.procs.Done()
	id := messageID(&d.Message)
	if len(d.Body) > w.cfg.MaxMessageSize {
		w.deadLetter(d, id, "oversized", fmt.Sprintf("body of %d bytes exceeds max_message_size %d", len(d.Body), w.cfg.MaxMessageSize))
		return
	}
	if d.Redelivered {
		w.redelivered(d, id)
		return
	}
	task, err := DecodeTask(&d.Message)
	if err != nil {
		var bm *BadMessageError
		reason := err.Error()
		if errors.As(err, &bm) {
			reason = bm.Reason
		}
		w.deadLetter(d, id, "malformed", reason)
		return
	}
	def := w.reg.Lookup(task.Name)
	if def == nil {
		w.m.incReceived("unknown")
		w.notRegistered(d, task)
		return
	}
	w.m.incReceived(def.Name)
	if !task.Expires.IsZero() && time.Now().After(task.Expires) {
		w.revoke(d, task)
		return
	}
	if !task.ETA.IsZero() {
		if wait := time.Until(task.ETA); wait > 0 && !w.awaitETA(d, task, wait) {
			return
		}
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.stopping:
		w.requeueFresh(d)
		return
	}
	if w.isStopping() {
		<-w.slots
		w.requeueFresh(d)
		return
	}
	r := &run{d: d}
	w.mu.Lock()
	w.running[r] = struct{}{}
	w.mu.Unlock()
	w.m.addInFlight(1)
	if w.log.Enabled(context.Background(), slog.LevelDebug) { // spare the arguments' allocations
		w.log.Debug("task started", "id", task.ID, "name", task.Name, "redeliveries", d.Headers[headerRedeliveries])
	}
	start := time.Now()
	value, runErr := w.execute(def, task)
	elapsed := time.Since(start)
	w.m.addInFlight(-1)
	<-w.slots
	w.mu.Lock()
	delete(w.running, r)
	abandoned := r.abandoned
	w.mu.Unlock()
	if abandoned {
		w.log.Info("task", "id", task.ID, "name", task.Name, "state", "REQUEUED", "duration", elapsed)
		return
	}
	w.finish(d, def, task, value, runErr, elapsed)
}

// awaitETA holds a task due soon, or sends a later one to the broker's
// delay queues. It reports whether the task should run now.
func (w *Worker) awaitETA(d *Delivery, task *Task, wait time.Duration) bool {
	if wait > holdETA {
		ctx := w.pubCtx()
		c, err := w.b.PublishAt(noWait, d.Queue, &d.Message, task.ETA)
		if err == nil {
			err = WaitConfirm(ctx, c)
		}
		if err != nil {
			w.log.Warn("queue: could not delay task; requeueing", "id", task.ID, "name", task.Name, "err", err)
			_ = d.Reject(true)
			return false
		}
		// Not remembered as done: the delayed copy has the same id and
		// retries, and a redelivery of that copy must run.
		w.settle(d, "", true)
		w.log.Debug("task delayed", "id", task.ID, "name", task.Name, "eta", task.ETA)
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stopping:
		w.requeueFresh(d)
		return false
	}
}

// settle acks (or drops) d, remembering (by key, see doneKey) a task whose
// outcome is out but whose ack was lost with the connection.
func (w *Worker) settle(d *Delivery, key string, ack bool) {
	var err error
	if ack {
		err = d.Ack()
	} else {
		err = d.Reject(false)
	}
	if err != nil {
		if key != "" {
			w.done.add(key)
		}
		w.log.Debug("queue: settle failed; the broker will redeliver", "key", key, "err", err)
	}
}

// doneKey identifies one run of a task: its id and retry count (a retry
// re-publishes the same id with retries+1, and must not be mistaken for
// the run that asked for it).
func doneKey(m *Message) string {
	id := messageID(m)
	if id == "" {
		return ""
	}
	n, _ := asInt(m.Headers["retries"])
	return id + "#" + strconv.FormatInt(n, 10)
}

// requeueFresh puts back a task that never started without counting a
// redelivery: a copy goes to the tail of its queue, then the original is
// acked. If that fails the broker redelivers the original.
func (w *Worker) requeueFresh(d *Delivery) {
	ctx := w.pubCtx()
	c, err := w.b.Publish(noWait, d.Queue, &d.Message)
	if err == nil {
		err = WaitConfirm(ctx, c)
	}
	if err != nil {
		_ = d.Reject(true)
		return
	}
	_ = d.Ack()
}

// redelivered handles a message the broker delivered before: its consumer
// died or disconnected. If this worker already published the outcome of
// that run (its ack, batched, was lost with the connection) it is dropped.
// Otherwise it is counted in a header and re-published (classic queues keep
// no count), or dead-lettered past MaxRedeliveries. A task finished by a
// worker that was then killed before its batched ack left (a window of
// about a millisecond) runs again elsewhere: at least once, and the client
// keeps the first result.
func (w *Worker) redelivered(d *Delivery, id string) {
	if key := doneKey(&d.Message); key != "" && w.done.has(key) {
		// This worker published its outcome already; only the ack was lost
		// (or not sent yet when the connection dropped).
		w.log.Info("queue: dropping redelivered task already done", "id", id)
		w.settle(d, "", true)
		return
	}
	w.m.incRedelivered(d.Queue)
	n := 1
	if v, ok := asInt(d.Headers[headerRedeliveries]); ok && v >= 0 {
		n = int(v) + 1
	}
	if n > max(w.cfg.MaxRedeliveries, 0) {
		w.deadLetter(d, id, "redelivered", fmt.Sprintf("redelivered %d times (max_redeliveries %d): its worker keeps dying or disconnecting", n, w.cfg.MaxRedeliveries))
		return
	}
	cp := d.Message
	cp.Headers = cloneHeaders(d.Headers, 1)
	cp.Headers[headerRedeliveries] = int32(n)
	ctx := w.pubCtx()
	c, err := w.b.Publish(noWait, d.Queue, &cp)
	if err == nil {
		err = WaitConfirm(ctx, c)
	}
	if err != nil {
		_ = d.Reject(true)
		return
	}
	w.log.Warn("queue: task redelivered", "id", id, "queue", d.Queue, "redeliveries", n)
	w.settle(d, "", true)
}

// deadLetter moves d to "<queue>.dead" with the reason in a header.
func (w *Worker) deadLetter(d *Delivery, id, kind, reason string) {
	w.log.Error("queue: dead-lettering message", "id", id, "queue", d.Queue, "reason", reason)
	w.m.incDeadLettered(d.Queue, kind)
	ctx := w.pubCtx()
	c, err := w.b.Publish(noWait, d.Queue+".dead", deadCopy(d, reason))
	if err == nil {
		err = WaitConfirm(ctx, c)
	}
	if err != nil {
		w.log.Warn("queue: dead-letter publish failed; requeueing", "id", id, "err", err)
		_ = d.Reject(true)
		return
	}
	w.settle(d, "", true)
}

// deadCopy is d's message as it goes to the dead-letter queue: the reason
// in a header, persistent, never expiring.
func deadCopy(d *Delivery, reason string) *Message {
	cp := d.Message
	cp.Headers = cloneHeaders(d.Headers, 1)
	cp.Headers[headerDeadReason] = reason
	cp.Expiration = ""
	cp.Persistent = true
	return &cp
}

func (w *Worker) notRegistered(d *Delivery, task *Task) {
	w.log.Warn("queue: received unregistered task", "id", task.ID, "name", task.Name)
	err := &RemoteError{Type: "NotRegistered", Module: "celery.exceptions", Message: []any{task.Name}}
	w.publishAndSettle(d, task, []outgoing{w.resultTo(task, StateFailure, nil, err)}, false)
	w.log.Info("task", "id", task.ID, "name", task.Name, "state", string(StateFailure), "duration", time.Duration(0), "error", "NotRegistered")
}

func (w *Worker) revoke(d *Delivery, task *Task) {
	err := &RemoteError{Type: "TaskRevokedError", Module: "celery.exceptions", Message: []any{"expired"}}
	w.publishAndSettle(d, task, []outgoing{w.resultTo(task, StateRevoked, nil, err)}, true)
	w.m.observe(task.Name, StateRevoked, 0)
	w.log.Info("task", "id", task.ID, "name", task.Name, "state", string(StateRevoked), "duration", time.Duration(0), "reason", "expired")
}

// outgoing is one message to publish before settling a delivery.
type outgoing struct {
	queue string
	m     *Message
	at    time.Time // PublishAt when set
}

func (w *Worker) resultTo(task *Task, state State, raw []byte, exc *RemoteError) outgoing {
	if task.ReplyTo == "" || task.IgnoreResult {
		return outgoing{}
	}
	var m *Message
	if exc != nil {
		body, err := encodeException(exc)
		if err != nil {
			body, _ = encodeException(&RemoteError{Type: "EncodeError", Module: "kombu.exceptions", Message: []any{err.Error()}})
		}
		var tb []byte
		if exc.Traceback != "" {
			tb = appendString(nil, exc.Traceback)
		}
		m = resultMessage(task.ID, state, body, tb)
	} else {
		m = resultMessage(task.ID, state, raw, nil)
	}
	// Persistent, unlike Celery's: a result waiting in the durable reply
	// queue survives a broker restart.
	m.Persistent = true
	return outgoing{queue: task.ReplyTo, m: m}
}

// publishAndSettle publishes out (skipping empty entries), waits for every
// confirm, then acks (or drops) d. A delivery whose connection is gone is
// left alone: the broker redelivers it and its redelivery publishes instead.
func (w *Worker) publishAndSettle(d *Delivery, task *Task, out []outgoing, ack bool) bool {
	if s, ok := d.Acker.(interface{ Stale(*Delivery) bool }); ok && s.Stale(d) {
		w.log.Warn("queue: connection lost during task; the broker will redeliver it", "id", task.ID, "name", task.Name)
		return false
	}
	ctx := w.pubCtx()
	var confirms []Confirm
	var first Confirm
	for _, o := range out {
		if o.m == nil {
			continue
		}
		var c Confirm
		var err error
		if !o.at.IsZero() {
			c, err = w.b.PublishAt(noWait, o.queue, o.m, o.at)
		} else {
			c, err = w.b.Publish(noWait, o.queue, o.m)
		}
		if err != nil {
			w.log.Warn("queue: publish failed; the task will be redelivered", "id", task.ID, "to", o.queue, "err", err)
			_ = d.Reject(true)
			return false
		}
		if first == nil {
			first = c
		} else {
			confirms = append(confirms, c)
		}
	}
	if first != nil {
		if err := WaitConfirm(ctx, first); err != nil {
			return w.unconfirmed(d, task, err)
		}
	}
	for _, c := range confirms {
		if err := WaitConfirm(ctx, c); err != nil {
			return w.unconfirmed(d, task, err)
		}
	}
	key := doneKey(&d.Message)
	if ack && key != "" {
		// Remembered before the ack, which is batched and may never reach
		// the broker: a redelivery to this worker is then dropped instead
		// of run again.
		w.done.add(key)
		key = ""
	}
	w.settle(d, key, ack)
	return true
}

func (w *Worker) unconfirmed(d *Delivery, task *Task, err error) bool {
	w.log.Warn("queue: broker did not confirm; the task will be redelivered", "id", task.ID, "err", err)
	if !errors.Is(err, ErrConnectionLost) {
		_ = d.Reject(true)
	}
	return false
}

// messageID finds a task id in a message without decoding its body.
func messageID(m *Message) string {
	if id, ok := m.Headers["id"].(string); ok && id != "" {
		return id
	}
	return m.CorrelationID
}

func cloneHeaders(h map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(h)+extra)
	for k, v := range h {
		out[k] = v
	}
	return out
}
