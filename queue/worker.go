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

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/control"
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
	// MaxRedeliveries: a message whose earlier runs were started this many
	// times and never finished (the worker died or lost its connection each
	// time) is dead-lettered at the next delivery (default 5; negative =
	// none: the first such redelivery is dead-lettered).
	MaxRedeliveries int
	// ShutdownTimeout is how long running tasks may finish after Run's
	// context is cancelled before they are requeued (default 30s).
	ShutdownTimeout time.Duration
	// MaxMessageSize: larger bodies are dead-lettered unread (default 16 MiB).
	MaxMessageSize int
	// Hostname names the worker in logs, in the messages it sends, and as
	// the node of remote control and events (Celery's node name, such as
	// "celery@host"; default "dsys").
	Hostname string
	// TrackStarted publishes a STARTED result when a task begins
	// (Celery's task_track_started; default off, as in Celery).
	TrackStarted bool
	// Control, when set, makes the worker answer Celery's remote control
	// and send Celery's events (see ControlConfig).
	Control *ControlConfig
	// Results is where results go (default: the transport's own backend).
	Results broker.ResultBackend
	// Logger gets one info line per task and warnings (nil = discard).
	Logger *slog.Logger
	// Metrics, when set, are updated as tasks flow.
	Metrics *Metrics
}

func (c *WorkerConfig) defaults(t broker.Transport) {
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
	if c.Results == nil {
		c.Results = t.Results()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// publishTimeout bounds waiting for the broker to take a commit.
const publishTimeout = 30 * time.Second

// maxUnsettled bounds the tasks a worker has started and not yet settled
// (running, or finished with their commit on its way) when its concurrency
// is lower: a worker killed with SIGKILL leaves at most that many tasks
// to run a second time, whatever its prefetch. Without it a fast stream of
// commits waiting for the broker grew to the whole prefetch (512 at
// queue.prefetch 512 on RabbitMQ, where a commit's results are out before
// its ack). With a higher concurrency the bound is the concurrency.
const maxUnsettled = 64

// Worker consumes task messages and runs them. Create it with NewWorker and
// start it with Run.
//
// Each delivery takes one path: receive → decode → run → plan → commit.
// What becomes of it is decided as a value (a plan, see rules) and
// performed by one commit step, which hands the transport everything the
// outcome causes at once.
//
// Shutdown order, when Run's context is cancelled (or remote control asks
// for it): (1) stop consuming; (2) release every received task that has not
// started; (3) let running tasks finish and commit for up to
// ShutdownTimeout (or until Abort); (4) cancel the tasks still running and
// requeue them; (5) close the consumers, end remote control (send
// worker-offline) and return.
type Worker struct {
	t     broker.Transport
	reg   *Registry
	cfg   WorkerConfig
	rules *rules
	log   *slog.Logger
	m     *Metrics
	// foreign: results go to a backend that is not the transport's own,
	// so they are stored before the commit instead of inside it.
	foreign bool

	slots     chan struct{}
	unsettled chan struct{} // one per task started and not yet settled (maxUnsettled)
	stopping  chan struct{} // closed when shutdown starts
	abort     chan struct{} // closed by Abort or at the shutdown deadline
	stopOnce  sync.Once
	abortMu   sync.Once

	taskCtx    context.Context // parent of task contexts; cancelled when abandoned
	cancelTask context.CancelFunc

	pubMu   sync.Mutex // guards the shared commit deadline (pubCtx)
	pubCur  context.Context
	pubBorn time.Time
	pubOld  []pubDeadline

	procs   sync.WaitGroup // one per received delivery
	mu      sync.Mutex
	running map[*run]struct{}

	ready    chan struct{} // closed once consuming
	done     *recentSet    // doneKeys of runs whose outcome is committed
	inFlight sync.Map      // doneKey → chan closed once that delivery is committed
	declared sync.Map      // queue names declared for follow-ups

	revoked *control.Revoked // ids not to run (Revoke, remote control)
	remote  *remote          // remote control and events; nil when off
}

// run is one task execution, abandoned (requeued) if shutdown times out.
type run struct {
	d         *broker.Delivery
	id, name  string
	start     time.Time
	abandoned bool // guarded by Worker.mu

	// For remote control (guarded by remote.mu): the task, its state in
	// the task table, and how to terminate it.
	task   *celery.Task
	state  int
	cancel context.CancelCauseFunc
}

// NewWorker returns a worker serving reg's tasks from t.
func NewWorker(t broker.Transport, reg *Registry, cfg WorkerConfig) *Worker {
	cfg.defaults(t)
	ctx, cancel := context.WithCancel(context.Background())
	return &Worker{t: t, reg: reg, cfg: cfg, rules: newRules(&cfg, reg), log: cfg.Logger, m: cfg.Metrics,
		foreign: cfg.Results != t.Results(),
		slots:   make(chan struct{}, cfg.Concurrency), unsettled: make(chan struct{}, max(maxUnsettled, cfg.Concurrency)),
		stopping: make(chan struct{}), abort: make(chan struct{}),
		taskCtx: ctx, cancelTask: cancel, running: map[*run]struct{}{},
		done:    newRecentSet(max(4096, 2*cfg.Prefetch*len(cfg.Queues))),
		ready:   make(chan struct{}),
		revoked: control.NewRevoked()}
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
		if err := w.t.Declare(ctx, broker.QueueSpec{Name: q, Kind: broker.TaskQueue}); err != nil {
			return err
		}
		if err := w.t.Declare(ctx, broker.QueueSpec{Name: q + ".dead", Kind: broker.DeadLetterQueue}); err != nil {
			return err
		}
	}
	w.remote = w.startRemote(ctx)
	var consumers []broker.Consumer
	defer func() {
		for _, c := range consumers {
			_ = c.Close()
		}
		w.remote.stop()
	}()
	for _, q := range w.cfg.Queues {
		// No batched acks: a task holds its unsettled slot until its
		// settlement is durable (see maxUnsettled). The transports still
		// group the commits waiting into one round trip.
		c, err := w.t.Consume(ctx, q, broker.ConsumeOptions{Prefetch: w.cfg.Prefetch})
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
				// The transport was closed under us.
				w.shutdown(nil, merged)
				return fmt.Errorf("queue: worker: %w", ErrClosed)
			}
			w.procs.Add(1)
			go w.process(d)
		case <-ctx.Done():
			w.shutdown(consumers, merged)
			return nil
		case <-w.remote.shutdownRequested():
			w.shutdown(consumers, merged)
			return nil
		}
	}
}

// mergeDeliveries returns one channel carrying every consumer's deliveries,
// closed when all of theirs are; a single consumer's is used as it is.
func mergeDeliveries(consumers []broker.Consumer) <-chan *broker.Delivery {
	if len(consumers) == 1 {
		return consumers[0].Deliveries()
	}
	merged := make(chan *broker.Delivery)
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

func (w *Worker) shutdown(consumers []broker.Consumer, merged <-chan *broker.Delivery) {
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
			w.commit(d, w.rules.release(messageID(&d.Message)))
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
	abandoned := make([]*run, 0, len(w.running))
	for r := range w.running {
		r.abandoned = true
		abandoned = append(abandoned, r)
	}
	w.mu.Unlock()
	for _, r := range abandoned {
		w.commit(r.d, w.rules.requeue(r.id, r.name, time.Since(r.start)))
	}
	w.cancelTask()
	// Committing goroutines give up quickly once aborted; wait a bounded time.
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

// process takes one delivery through receive → decode → run → plan → commit.
func (w *Worker) process(d *broker.Delivery) {
	defer w.procs.Done()
	release, ok := w.exclusive(d)
	if !ok {
		w.commit(d, w.rules.release(messageID(&d.Message)))
		return
	}
	defer release()
	task, def, p := w.receive(d)
	if p == nil {
		var ran, ok bool
		if p, ran, ok = w.runTask(d, def, task); !ok {
			return // abandoned at shutdown: requeued already
		}
		if ran {
			defer func() { <-w.unsettled }() // settled, or left to the broker
		}
	}
	w.commit(d, p)
}

// exclusive lets one delivery of a run (doneKey: task id and retries) at a
// time through this worker. A second copy of a message (a RabbitMQ
// transaction cut by a broker restart, a client re-sending after a lost
// confirm) that arrives while the first runs waits for it, and is then
// dropped by receive if the first committed. The returned func lets the
// next copy through; ok is false when the worker stopped meanwhile.
func (w *Worker) exclusive(d *broker.Delivery) (release func(), ok bool) {
	key := doneKey(&d.Message)
	if key == "" {
		return func() {}, true
	}
	mine := make(chan struct{})
	for {
		prev, loaded := w.inFlight.LoadOrStore(key, mine)
		if !loaded {
			return func() { w.inFlight.Delete(key); close(mine) }, true
		}
		select {
		case <-prev.(chan struct{}):
		case <-w.stopping:
			return nil, false
		}
	}
}

// receive decodes a delivery and decides whatever can be decided before
// running it; a nil plan means: run it.
func (w *Worker) receive(d *broker.Delivery) (*celery.Task, *TaskDef, *plan) {
	// A run this worker committed already comes back when its settlement
	// was lost with the connection, or as a second copy of the message (a
	// client re-sending after a lost confirm, a RabbitMQ transaction cut by
	// a broker restart): it is acked, not run again.
	if key := doneKey(&d.Message); key != "" && w.done.has(key) {
		return nil, nil, w.rules.done(messageID(&d.Message))
	}
	if d.Started > 0 {
		w.m.incRedelivered(d.Queue)
		w.log.Warn("queue: task redelivered", "id", messageID(&d.Message), "queue", d.Queue, "redeliveries", d.Started)
	}
	if p := w.rules.admit(d); p != nil {
		return nil, nil, p
	}
	m, err := celery.Decompress(&d.Message, w.cfg.MaxMessageSize)
	if err != nil {
		return nil, nil, w.rules.malformed(d, err)
	}
	task, err := celery.DecodeTask(m)
	if err != nil {
		return nil, nil, w.rules.malformed(d, err)
	}
	def := w.reg.Lookup(task.Name)
	if def == nil {
		w.m.incReceived("unknown")
		return task, nil, w.rules.unregistered(task)
	}
	w.m.incReceived(def.Name)
	if !task.Expires.IsZero() && time.Now().After(task.Expires) {
		return task, def, w.rules.chordOf(w.rules.expired(task), task)
	}
	if w.revoked.Has(task.ID) {
		return task, def, w.rules.revoked(task, "revoked")
	}
	if !task.ETA.IsZero() && time.Until(task.ETA) > holdETA {
		return task, def, w.rules.delay(task)
	}
	return task, def, nil
}

// runTask waits for the task's eta (within holdETA), a slot and an
// unsettled slot, runs it and plans what its outcome causes. ran says it
// ran and holds its unsettled slot, for the caller to free once committed;
// ok is false when shutdown abandoned it.
func (w *Worker) runTask(d *broker.Delivery, def *TaskDef, task *celery.Task) (p *plan, ran, ok bool) {
	r := &run{d: d, id: task.ID, name: task.Name, task: task}
	w.remote.received(task)
	defer w.remote.untrack(r)
	if wait := time.Until(task.ETA); !task.ETA.IsZero() && wait > 0 {
		w.remote.track(r, runScheduled)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.stopping:
			t.Stop()
			return w.rules.release(task.ID), false, true
		}
	}
	w.remote.track(r, runReserved)
	select {
	case w.slots <- struct{}{}:
	case <-w.stopping:
		return w.rules.release(task.ID), false, true
	}
	if w.isStopping() {
		<-w.slots
		return w.rules.release(task.ID), false, true
	}
	if w.revoked.Has(task.ID) { // revoked while it waited
		<-w.slots
		return w.rules.revoked(task, "revoked"), false, true
	}
	// Commits waiting for the broker hold back new starts (see maxUnsettled).
	select {
	case w.unsettled <- struct{}{}:
	case <-w.stopping:
		<-w.slots
		return w.rules.release(task.ID), false, true
	}
	ctx := w.taskCtx
	if w.remote != nil {
		ctx, r.cancel = context.WithCancelCause(w.taskCtx)
		defer r.cancel(nil)
	}
	r.start = time.Now()
	w.remote.track(r, runActive)
	if w.cfg.TrackStarted {
		w.trackStarted(task)
	}
	w.remote.started(task.ID)
	w.mu.Lock()
	w.running[r] = struct{}{}
	w.mu.Unlock()
	w.m.addInFlight(1)
	if w.log.Enabled(context.Background(), slog.LevelDebug) { // spare the arguments' allocations
		w.log.Debug("task started", "id", task.ID, "name", task.Name, "redeliveries", d.Started)
	}
	value, runErr := w.execute(ctx, def, task)
	elapsed := time.Since(r.start)
	w.m.addInFlight(-1)
	<-w.slots
	w.mu.Lock()
	delete(w.running, r)
	abandoned := r.abandoned
	w.mu.Unlock()
	if abandoned {
		<-w.unsettled // shutdown requeues it
		return nil, false, false
	}
	return w.rules.finished(d, def, task, value, runErr, elapsed, w.isStopping(), time.Now()), true, true
}

// commit performs a plan: results for a foreign backend first, then the
// queues its messages need, then the transport's commit; then it reports.
// A commit that fails leaves the delivery to the transport, which
// redelivers it.
func (w *Worker) commit(d *broker.Delivery, p *plan) {
	ctx := w.pubCtx()
	if p.chord != nil && !w.countChord(ctx, d, p) {
		return
	}
	c := p.commit
	if w.foreign && len(c.Results) > 0 {
		if err := w.cfg.Results.Store(ctx, c.Results); err != nil {
			w.log.Warn("queue: storing the result failed; requeueing the task", "id", p.id, "err", err)
			_ = d.Commit(ctx, broker.Commit{Settle: broker.Requeue})
			return
		}
		c.Results = nil
	}
	for _, q := range p.declare {
		if err := w.ensureQueue(ctx, q); err != nil {
			w.log.Warn("queue: cannot declare the queue of a follow-up task; requeueing", "id", p.id, "queue", q, "err", err)
			_ = d.Commit(ctx, broker.Commit{Settle: broker.Requeue})
			return
		}
	}
	// Remembered before the commit, whose ack may be lost with the
	// connection after its results are out (broker.ErrUnsettled): a
	// redelivery of this run to this worker is then dropped instead of run
	// again.
	key := ""
	if c.Settle == broker.Ack {
		key = doneKey(&d.Message)
	}
	if key != "" {
		w.done.add(key)
	}
	if err := d.Commit(ctx, c); err != nil {
		if key != "" && !errors.Is(err, broker.ErrUnsettled) {
			w.done.remove(key) // nothing of it is out: its redelivery must run
		}
		w.log.Warn("queue: commit failed; the broker will redeliver the task", "id", p.id, "name", p.name, "err", err)
		return
	}
	if p.chord != nil && p.chord.complete {
		w.chordDone(ctx, p)
	}
	w.report(d, p)
}

// report logs and counts a committed plan.
func (w *Worker) report(d *broker.Delivery, p *plan) {
	w.remote.outcome(p)
	if p.dead != nil {
		w.log.Error("queue: dead-lettering message", "id", p.id, "queue", d.Queue, "reason", p.dead.reason)
		w.m.incDeadLettered(d.Queue, p.dead.kind)
	}
	switch p.event {
	case eventUnregistered:
		w.log.Warn("queue: received unregistered task", "id", p.id, "name", p.name)
	case eventDone:
		w.log.Info("queue: dropping redelivered task already done", "id", p.id)
	case eventDelayed:
		w.log.Debug("task delayed", "id", p.id, "name", p.name, "eta", p.commit.At)
	}
	if p.state == "" {
		return
	}
	if p.event != eventUnregistered && p.commit.Settle == broker.Ack {
		w.m.observe(p.name, p.state, p.elapsed)
	}
	if !w.log.Enabled(context.Background(), slog.LevelInfo) { // spare the arguments' allocations
		return
	}
	attrs := []any{"id", p.id, "name", p.name, "state", string(p.state), "duration", p.elapsed}
	switch {
	case p.state == celery.StateRetry:
		attrs = append(attrs, "retries", p.retries, "error", p.errText)
	case p.reason != "":
		attrs = append(attrs, "reason", p.reason)
	case p.errText != "":
		attrs = append(attrs, "error", p.errText)
	}
	w.log.Info("task", attrs...)
}

// ensureQueue declares a queue follow-up tasks go to, as Celery's producer
// would, once per worker.
func (w *Worker) ensureQueue(ctx context.Context, name string) error {
	if _, ok := w.declared.Load(name); ok {
		return nil
	}
	if err := w.t.Declare(ctx, broker.QueueSpec{Name: name, Kind: broker.TaskQueue}); err != nil {
		return err
	}
	w.declared.Store(name, true)
	return nil
}

// pubCtx bounds committing (publishTimeout) and ends early on abort. The
// commits starting within the same second share one context: a context and
// timer per task were a tenth of a small task's cost.
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

// doneKey identifies one run of a task: its id and retry count (a retry
// re-publishes the same id with retries+1, and must not be mistaken for
// the run that asked for it).
func doneKey(m *broker.Message) string {
	id := messageID(m)
	if id == "" {
		return ""
	}
	n, _ := celery.AsInt(m.Headers["retries"])
	return id + "#" + strconv.FormatInt(n, 10)
}

// recentSet remembers the last n strings added (a ring), for the keys of
// runs whose outcome was committed but whose ack may have been lost.
type recentSet struct {
	mu   sync.Mutex
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentSet(n int) *recentSet {
	return &recentSet{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (r *recentSet) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[s]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = s
	r.set[s] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}

func (r *recentSet) remove(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.set, s) // its ring slot is reused in turn
}

func (r *recentSet) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[s]
	return ok
}
