package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// ClientConfig configures a Client. The zero value is the documented default.
type ClientConfig struct {
	// Queue is where Send publishes (default "celery").
	Queue string
	// ResultExpires: a result backend that allocates storage per client
	// (rpc:// reply queues) drops it after this long unused (default 24h).
	ResultExpires time.Duration
	// Results is where the client reads results (default: the transport's
	// own backend).
	Results broker.ResultBackend
	// Logger gets debug events (nil = discard).
	Logger *slog.Logger
	// Arrivals, when set, also receives every task of this client as its
	// final result arrives (the client waits until it is received).
	Arrivals chan<- *AsyncResult
}

// Client submits tasks and collects their results: one subscription to the
// result backend per client, results matched to tasks by id, any number of
// tasks in flight. A client keeps the first final result per task id and
// ignores later ones, so a task run twice (at least once) is reported once.
type Client struct {
	t   broker.Transport
	cfg ClientConfig
	log *slog.Logger
	sub broker.Subscription

	mu       sync.Mutex
	pending  map[string]*AsyncResult
	declared map[string]bool
	err      error // set when the result stream ended
	done     chan struct{}
	closed   bool
}

// NewClient subscribes to the result backend and starts listening.
func NewClient(ctx context.Context, t broker.Transport, cfg ClientConfig) (*Client, error) {
	if cfg.Queue == "" {
		cfg.Queue = "celery"
	}
	if cfg.ResultExpires <= 0 {
		cfg.ResultExpires = 24 * time.Hour
	}
	if cfg.Results == nil {
		cfg.Results = t.Results()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sub, err := cfg.Results.Subscribe(ctx, broker.SubscribeOptions{Expires: cfg.ResultExpires})
	if err != nil {
		return nil, err
	}
	c := &Client{t: t, cfg: cfg, log: log, sub: sub, pending: map[string]*AsyncResult{},
		declared: map[string]bool{}, done: make(chan struct{})}
	log.Debug("queue: listening for results", "reply_to", sub.ReplyTo())
	go c.dispatch()
	return c, nil
}

// ReplyTo is the reply address the client's tasks carry.
func (c *Client) ReplyTo() string { return c.sub.ReplyTo() }

func (c *Client) dispatch() {
	defer close(c.done)
	for r := range c.sub.Results() {
		c.handle(r)
	}
	c.mu.Lock()
	c.err = ErrClosed
	pending := c.pending
	c.pending = map[string]*AsyncResult{}
	c.mu.Unlock()
	for _, ar := range pending {
		ar.fail(ErrClosed)
	}
}

func (c *Client) handle(br broker.Result) {
	r, err := celery.DecodeResult(br.Body, br.TaskID)
	if err != nil {
		c.log.Warn("queue: ignoring bad result message", "err", err)
		return
	}
	c.mu.Lock()
	ar := c.pending[r.TaskID]
	if ar != nil && r.State.Final() {
		delete(c.pending, r.TaskID)
	}
	c.mu.Unlock()
	if ar == nil {
		c.log.Debug("queue: result for a task this client does not wait for", "id", r.TaskID, "state", r.State)
		return
	}
	if ar.deliver(r) && c.cfg.Arrivals != nil {
		c.cfg.Arrivals <- ar
	}
}

// Send publishes t to the client's queue and returns at once; the result's
// Sent tells when the broker has the task. It fills t.ID, t.ReplyTo and
// t.Origin when empty.
func (c *Client) Send(ctx context.Context, t *celery.Task) (*AsyncResult, error) {
	return c.SendTo(ctx, c.cfg.Queue, t)
}

// SendTo is Send to another queue (declared as Celery declares it).
func (c *Client) SendTo(ctx context.Context, queue string, t *celery.Task) (*AsyncResult, error) {
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.ReplyTo == "" {
		t.ReplyTo = c.sub.ReplyTo()
	}
	if t.Origin == "" {
		t.Origin = "dsys"
	}
	if err := c.declare(ctx, queue); err != nil {
		return nil, err
	}
	m, err := celery.EncodeTask(t)
	if err != nil {
		return nil, err
	}
	ar := &AsyncResult{ID: t.ID, Name: t.Name, c: c, queue: queue, msg: m, done: make(chan struct{})}
	wait := t.ReplyTo == c.sub.ReplyTo() && !t.IgnoreResult
	if wait {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, c.err
		}
		c.pending[t.ID] = ar
		c.mu.Unlock()
		if w, ok := c.sub.(broker.Watcher); ok {
			w.Watch(t.ID)
		}
	} else {
		ar.fail(fmt.Errorf("queue: task %s: no result expected (ignore_result or another reply_to)", t.ID))
	}
	conf, err := c.t.Publish(ctx, broker.Publishing{Queue: queue, Message: m})
	if err != nil {
		c.forget(t.ID)
		return nil, fmt.Errorf("queue: send %s (%s): %w", t.Name, t.ID, err)
	}
	ar.confirm = conf
	return ar, nil
}

// SendAll sends every task to the client's queue and waits until the broker
// has them all; their results can then be gathered (Gather). On error the
// tasks sent so far are returned too.
func (c *Client) SendAll(ctx context.Context, tasks []*celery.Task) ([]*AsyncResult, error) {
	ars := make([]*AsyncResult, 0, len(tasks))
	for _, t := range tasks {
		ar, err := c.Send(ctx, t)
		if err != nil {
			return ars, err
		}
		ars = append(ars, ar)
	}
	for _, ar := range ars {
		if err := ar.Sent(ctx); err != nil {
			return ars, err
		}
	}
	return ars, nil
}

// Gather waits for the final results of ars and calls fn for each as it
// arrives (in arrival order, from one goroutine): i is its index in ars,
// err the task's *celery.RemoteError for FAILURE and REVOKED. It returns the
// first error fn returns, or ctx's (wrapping ErrTimeout at a deadline), once
// every result is in or it stops.
func Gather(ctx context.Context, ars []*AsyncResult, fn func(i int, r *celery.Result, err error) error) error {
	type arrival struct{ i int }
	arrived := make(chan arrival, len(ars))
	stop := make(chan struct{})
	defer close(stop)
	for i, ar := range ars {
		go func() {
			select {
			case <-ar.done:
				arrived <- arrival{i}
			case <-stop:
			}
		}()
	}
	for range ars {
		select {
		case a := <-arrived:
			ar := ars[a.i]
			if err := fn(a.i, ar.result, ar.err); err != nil {
				return err
			}
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: results of %d tasks", ErrTimeout, len(ars))
			}
			return ctx.Err()
		}
	}
	return nil
}

// Result returns a handle on the result of a task someone else submitted
// with this client's reply address as reply_to (e.g. the last task of a
// chain, whose id the submitter chose), or, on backends that keep results by
// id, of any task.
func (c *Client) Result(id string) *AsyncResult {
	c.mu.Lock()
	if ar := c.pending[id]; ar != nil {
		c.mu.Unlock()
		return ar
	}
	ar := &AsyncResult{ID: id, c: c, done: make(chan struct{}), confirm: broker.Confirmed}
	if c.err != nil {
		c.mu.Unlock()
		ar.fail(c.err)
		return ar
	}
	c.pending[id] = ar
	c.mu.Unlock()
	c.sub.Want(id)
	return ar
}

// Submit is Send and waiting until the broker has the task.
func (c *Client) Submit(ctx context.Context, t *celery.Task) (*AsyncResult, error) {
	ar, err := c.Send(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := ar.Sent(ctx); err != nil {
		return nil, err
	}
	return ar, nil
}

func (c *Client) declare(ctx context.Context, queue string) error {
	c.mu.Lock()
	ok := c.declared[queue]
	c.mu.Unlock()
	if ok {
		return nil
	}
	if err := c.t.Declare(ctx, broker.QueueSpec{Name: queue, Kind: broker.TaskQueue}); err != nil {
		return err
	}
	c.mu.Lock()
	c.declared[queue] = true
	c.mu.Unlock()
	return nil
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close ends the subscription (an rpc:// reply queue is deleted); tasks
// still waiting get ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.sub.Close()
	<-c.done
	return err
}

// AsyncResult is a submitted task: wait on it for the final result.
type AsyncResult struct {
	ID   string
	Name string

	c       *Client
	queue   string
	msg     *broker.Message
	confirm broker.Confirm

	once   sync.Once
	done   chan struct{}
	result *celery.Result
	err    error
}

// Sent waits until the broker has the task. If the connection dropped
// before the broker confirmed it, the task is published again (same id:
// a worker may see it twice, the client keeps the first final result).
func (r *AsyncResult) Sent(ctx context.Context) error {
	for {
		err := broker.WaitConfirm(ctx, r.confirm)
		if err == nil {
			r.msg = nil // the broker has it: no re-send will be needed
			return nil
		}
		if !errors.Is(err, broker.ErrConnectionLost) {
			return fmt.Errorf("queue: send %s (%s): %w", r.Name, r.ID, err)
		}
		r.c.log.Debug("queue: re-sending task after connection loss", "id", r.ID)
		conf, perr := r.c.t.Publish(ctx, broker.Publishing{Queue: r.queue, Message: r.msg})
		if perr != nil {
			return fmt.Errorf("queue: send %s (%s): %w", r.Name, r.ID, perr)
		}
		r.confirm = conf
	}
}

// deliver records a final result; it reports whether this was the first.
func (r *AsyncResult) deliver(res *celery.Result) bool {
	if !res.State.Final() {
		return false
	}
	first := false
	r.once.Do(func() {
		r.result = res
		if res.Err != nil {
			r.err = res.Err
		}
		first = true
		close(r.done)
	})
	return first
}

func (r *AsyncResult) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.done)
	})
}

// Done is closed when the final result (SUCCESS, FAILURE, REVOKED) is in.
func (r *AsyncResult) Done() <-chan struct{} { return r.done }

// Wait returns the final result. For FAILURE and REVOKED the error is the
// task's *celery.RemoteError (and the Result is returned too). When ctx ends
// first the error wraps ErrTimeout (deadline) or ctx's error.
func (r *AsyncResult) Wait(ctx context.Context) (*celery.Result, error) {
	select {
	case <-r.done:
		return r.result, r.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: task %s (%s)", ErrTimeout, r.Name, r.ID)
		}
		return nil, ctx.Err()
	}
}

// Get waits and returns the task's return value.
func (r *AsyncResult) Get(ctx context.Context) (any, error) {
	res, err := r.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return res.Value, nil
}
