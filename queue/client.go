package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// ClientConfig configures a Client. The zero value is the documented default.
type ClientConfig struct {
	// Queue is where Send publishes (default "celery").
	Queue string
	// ResultExpires: the broker deletes the client's result queue after it
	// has been unused this long (default 24h, as Celery's rpc backend).
	ResultExpires time.Duration
	// Logger gets debug events (nil = discard).
	Logger *slog.Logger
	// Results, when set, also receives every task of this client as its
	// final result arrives (the client waits until it is received).
	Results chan<- *AsyncResult
}

// Client submits tasks and collects their results over the rpc:// protocol:
// one reply queue per client, results matched to tasks by id, any number
// of tasks in flight.
//
// Results are consumed with auto-ack, as Celery's rpc backend does. A
// result waiting in the reply queue survives a broker restart (the queue is
// durable and dsys workers publish results persistent), but one RabbitMQ
// already sent when the client's connection drops is lost: its task was
// done (the worker acked it), so its AsyncResult waits until the caller's
// deadline. A client keeps the first final result per task id and ignores
// later ones, so a task run twice (at-least-once) is reported once.
type Client struct {
	b     Broker
	cfg   ClientConfig
	log   *slog.Logger
	reply string
	cons  Consumer

	mu       sync.Mutex
	pending  map[string]*AsyncResult
	declared map[string]bool
	err      error // set when the result stream ended
	done     chan struct{}
	closed   bool
}

// NewClient declares the client's result queue and starts listening on it.
// The queue survives broker restarts (durable, deleted after ResultExpires
// unused), so results published while the client is disconnected wait for it.
func NewClient(ctx context.Context, b Broker, cfg ClientConfig) (*Client, error) {
	if cfg.Queue == "" {
		cfg.Queue = "celery"
	}
	if cfg.ResultExpires <= 0 {
		cfg.ResultExpires = 24 * time.Hour
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Client{b: b, cfg: cfg, log: log, reply: newID(), pending: map[string]*AsyncResult{},
		declared: map[string]bool{}, done: make(chan struct{})}
	if err := b.Declare(ctx, QueueSpec{Name: c.reply, Kind: ReplyQueue, Expires: cfg.ResultExpires}); err != nil {
		return nil, err
	}
	// Auto-ack, as Celery's rpc backend: the reply queue is this client's
	// alone, and a result delivered to a connected consumer with auto-ack
	// never touches RabbitMQ's disk even though it is persistent, which
	// halves the broker's work per task. The price: results in transit when
	// the connection drops (read by no one yet) are lost; see Client.
	cons, err := b.Consume(ctx, c.reply, ConsumeOptions{AutoAck: true})
	if err != nil {
		_ = b.Delete(context.Background(), c.reply)
		return nil, err
	}
	c.cons = cons
	go c.dispatch()
	return c, nil
}

// ReplyQueue is the name of the client's result queue.
func (c *Client) ReplyQueue() string { return c.reply }

func (c *Client) dispatch() {
	defer close(c.done)
	for d := range c.cons.Deliveries() {
		c.handle(d)
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

func (c *Client) handle(d *Delivery) {
	r, err := DecodeResult(&d.Message)
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
	if ar.deliver(r) && c.cfg.Results != nil {
		c.cfg.Results <- ar
	}
}

// Send publishes t to the client's queue and returns at once; the result's
// Sent tells when the broker has the task. It fills t.ID, t.ReplyTo and
// t.Origin when empty.
func (c *Client) Send(ctx context.Context, t *Task) (*AsyncResult, error) {
	return c.SendTo(ctx, c.cfg.Queue, t)
}

// SendTo is Send to another queue (declared as Celery declares it).
func (c *Client) SendTo(ctx context.Context, queue string, t *Task) (*AsyncResult, error) {
	if t.ID == "" {
		t.ID = newID()
	}
	if t.ReplyTo == "" {
		t.ReplyTo = c.reply
	}
	if t.Origin == "" {
		t.Origin = "dsys"
	}
	if err := c.declare(ctx, queue); err != nil {
		return nil, err
	}
	m, err := EncodeTask(t)
	if err != nil {
		return nil, err
	}
	ar := &AsyncResult{ID: t.ID, Name: t.Name, c: c, queue: queue, msg: m, done: make(chan struct{})}
	wait := t.ReplyTo == c.reply && !t.IgnoreResult
	if wait {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, c.err
		}
		c.pending[t.ID] = ar
		c.mu.Unlock()
	} else {
		ar.fail(fmt.Errorf("queue: task %s: no result expected (ignore_result or another reply_to)", t.ID))
	}
	conf, err := c.b.Publish(ctx, queue, m)
	if err != nil {
		c.forget(t.ID)
		return nil, fmt.Errorf("queue: send %s (%s): %w", t.Name, t.ID, err)
	}
	ar.confirm = conf
	return ar, nil
}

// Result returns a handle on the result of a task someone else submitted
// with this client's reply queue as reply_to (e.g. the last task of a chain,
// whose id the submitter chose).
func (c *Client) Result(id string) *AsyncResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ar := c.pending[id]; ar != nil {
		return ar
	}
	ar := &AsyncResult{ID: id, c: c, done: make(chan struct{}), confirm: doneConfirm{}}
	if c.err != nil {
		ar.fail(c.err)
		return ar
	}
	c.pending[id] = ar
	return ar
}

// doneConfirm is the Confirm of nothing to confirm.
type doneConfirm struct{}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneConfirm) Done() <-chan struct{} { return closedChan }
func (doneConfirm) Err() error            { return nil }

// Submit is Send and waiting until the broker has the task.
func (c *Client) Submit(ctx context.Context, t *Task) (*AsyncResult, error) {
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
	if err := c.b.Declare(ctx, QueueSpec{Name: queue, Kind: TaskQueue}); err != nil {
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

// Close stops listening and deletes the result queue; tasks still waiting
// get ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.cons.Close()
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if derr := c.b.Delete(ctx, c.reply); derr != nil && err == nil && !errors.Is(derr, ErrClosed) {
		err = derr
	}
	return err
}

// AsyncResult is a submitted task: wait on it for the final result.
type AsyncResult struct {
	ID   string
	Name string

	c       *Client
	queue   string
	msg     *Message
	confirm Confirm

	once   sync.Once
	done   chan struct{}
	result *Result
	err    error
}

// Sent waits until the broker has the task. If the connection dropped
// before the broker confirmed it, the task is published again (same id:
// a worker may see it twice, the client keeps the first final result).
func (r *AsyncResult) Sent(ctx context.Context) error {
	for {
		err := WaitConfirm(ctx, r.confirm)
		if err == nil {
			r.msg = nil // the broker has it: no re-send will be needed
			return nil
		}
		if !errors.Is(err, ErrConnectionLost) {
			return fmt.Errorf("queue: send %s (%s): %w", r.Name, r.ID, err)
		}
		r.c.log.Debug("queue: re-sending task after connection loss", "id", r.ID)
		conf, perr := r.c.b.Publish(ctx, r.queue, r.msg)
		if perr != nil {
			return fmt.Errorf("queue: send %s (%s): %w", r.Name, r.ID, perr)
		}
		r.confirm = conf
	}
}

// deliver records a final result; it reports whether this was the first.
func (r *AsyncResult) deliver(res *Result) bool {
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
// task's *RemoteError (and the Result is returned too). When ctx ends first
// the error wraps ErrTimeout (deadline) or ctx's error.
func (r *AsyncResult) Wait(ctx context.Context) (*Result, error) {
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
