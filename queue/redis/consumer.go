package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/queue/broker"
)

// idleWait bounds one blocking wait of an idle consumer: it blocks on the
// queue's step-0 list and looks at its other priority lists and due
// delayed messages at least this often (an idle worker then makes a few
// round trips a second).
const idleWait = 250 * time.Millisecond

// maxDelayedMoves bounds the due delayed messages one claim moves.
const maxDelayedMoves = 256

// Consume implements broker.Transport. A consumer claims messages with one
// atomic script (pop and record as unacknowledged, see claimScript) and,
// when the queue is empty, waits with a blocking BLMOVE of the step-0 list
// onto itself, which wakes on a push without taking anything (so Celery
// workers blocked in BRPOP on the same list lose nothing to it).
func (t *Transport) Consume(ctx context.Context, queue string, opts broker.ConsumeOptions) (broker.Consumer, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	ok, err := t.exists(ctx, queue)
	if err != nil {
		return nil, fmt.Errorf("queue: consume %s: %w", queue, err)
	}
	if !ok {
		return nil, fmt.Errorf("queue: consume %s: %w", queue, broker.ErrQueueNotFound)
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 1
	}
	c := &consumer{t: t, queue: queue, prefetch: opts.Prefetch, batch: opts.BatchAcks, id: uuid.NewString(),
		out: make(chan *broker.Delivery), stopc: make(chan struct{}), space: make(chan struct{}, 1),
		held: map[uint64]*held{}, loopDone: make(chan struct{}), closec: make(chan struct{}), renewDone: make(chan struct{})}
	if err := t.rdb.ZAdd(ctx, t.k.consumers(queue), goredis.Z{Score: float64(time.Now().UnixMilli()), Member: c.id}).Err(); err != nil {
		t.failed(err)
		return nil, fmt.Errorf("queue: consume %s: %w", queue, err)
	}
	t.mu.Lock()
	if t.isClosed() {
		t.mu.Unlock()
		return nil, broker.ErrClosed
	}
	t.consumers[c] = struct{}{}
	if !t.janitor {
		t.janitor = true
		t.wg.Add(1)
		go t.restoreLoop()
	}
	t.mu.Unlock()
	t.wg.Add(2)
	go c.loop()
	go c.renewer()
	return c, nil
}

// consumer receives the messages of one queue.
type consumer struct {
	t        *Transport
	queue    string
	prefetch int
	batch    bool
	id       string
	out      chan *broker.Delivery

	mu       sync.Mutex
	held     map[uint64]*held // claimed and not yet settled, by Delivery.Tag
	seq      uint64
	closed   bool
	waitConn *goredis.Conn // the connection of blocking waits
	waitID   int64         // its CLIENT ID (0 = unknown)
	stopOnce sync.Once
	stopc    chan struct{}
	space    chan struct{} // a settlement made room
	loopDone chan struct{}

	closec    chan struct{} // closed by Close: no more renewals
	renewDone chan struct{}
}

// held is one claimed message.
type held struct {
	tag     string // kombu's delivery tag
	raw     []byte // the message as claimed
	step    int    // its priority step
	started int
}

func (c *consumer) Deliveries() <-chan *broker.Delivery { return c.out }

// Cancel implements broker.Consumer: the flow stops (a blocking wait is
// interrupted with CLIENT UNBLOCK); held deliveries may still be committed.
func (c *consumer) Cancel() error {
	c.stopOnce.Do(func() {
		close(c.stopc)
		c.mu.Lock()
		id := c.waitID
		c.mu.Unlock()
		if id != 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.t.rdb.ClientUnblock(ctx, id).Err()
			cancel()
		}
	})
	return nil
}

// Close implements broker.Consumer: settlements still waiting are sent,
// then what it holds goes back to the queue (counted as started), as
// kombu's restore at shutdown does.
func (c *consumer) Close() error {
	_ = c.Cancel()
	<-c.loopDone
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	hs := make([]*held, 0, len(c.held))
	for _, h := range c.held {
		hs = append(hs, h)
	}
	c.held = map[uint64]*held{}
	c.mu.Unlock()
	close(c.closec)
	<-c.renewDone
	c.t.mu.Lock()
	delete(c.t.consumers, c)
	c.t.mu.Unlock()
	var ops []*op
	for _, h := range hs {
		o := c.putBack(h, broker.Requeue, time.Time{})
		if c.t.w.submit(o) == nil {
			ops = append(ops, o)
		}
	}
	var err error
	for _, o := range ops {
		<-o.done
		if o.err != nil && err == nil && !errors.Is(o.err, broker.ErrClosed) {
			err = fmt.Errorf("queue: close consumer of %s: %w", c.queue, o.err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if ferr := c.t.w.flush(ctx); ferr != nil && err == nil && !errors.Is(ferr, broker.ErrClosed) {
		err = fmt.Errorf("queue: close consumer of %s: %w", c.queue, ferr)
	}
	return err
}

func (c *consumer) stopping() bool {
	select {
	case <-c.stopc:
		return true
	default:
		return false
	}
}

func (c *consumer) room() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.prefetch - len(c.held)
}

// loop claims what there is room for, hands it out, and waits for a push,
// a settlement or a due time, until cancelled.
func (c *consumer) loop() {
	defer c.t.wg.Done()
	defer close(c.loopDone)
	defer close(c.out)
	defer c.deregister()
	var delay time.Duration
	for !c.stopping() {
		if c.room() <= 0 {
			select {
			case <-c.space:
			case <-c.stopc:
				return
			}
			continue
		}
		got, next, err := c.claim(c.room())
		if err != nil {
			if c.t.isClosed() {
				return
			}
			c.t.failed(err)
			if !connErr(err) {
				c.t.log.Warn("queue: claiming messages failed; retrying", "queue", c.queue, "err", err)
			}
			delay = c.t.backoff(delay)
			if !c.pause(delay) {
				return
			}
			continue
		}
		delay = 0
		if len(got) > 0 {
			if !c.hand(got) {
				return
			}
			continue
		}
		wait := idleWait
		if next > 0 {
			wait = min(wait, time.Until(time.UnixMilli(next))+time.Millisecond)
		}
		if wait > 0 {
			c.block(wait)
		}
	}
}

// pause waits d or until cancelled (false).
func (c *consumer) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stopc:
		return false
	}
}

// claimed is one message the claim script returned.
type claimed struct {
	tag string
	raw []byte
}

// claim runs claimScript for up to n messages; next is when the earliest
// delayed message is due (ms, 0 = none).
func (c *consumer) claim(n int) (got []claimed, next int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	k := c.t.k
	keys := []string{k.unacked(), k.unackedIndex(), k.leases()}
	for i := range prioritySteps {
		keys = append(keys, k.list(c.queue, i), k.delayed(c.queue, i))
	}
	now := time.Now()
	res, err := claimScript.Run(ctx, c.t.rdb, keys,
		strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64), now.UnixMilli(),
		now.Add(c.t.opts.VisibilityTimeout).UnixMilli(), n, c.queue, "dsys."+uuid.NewString(), maxDelayedMoves).Slice()
	if err != nil {
		return nil, 0, err
	}
	if len(res) == 0 {
		return nil, 0, errors.New("queue: claim: empty reply")
	}
	if v, ok := res[0].(int64); ok && v > 0 {
		next = v
	}
	for i := 1; i+1 < len(res); i += 2 {
		tag, _ := res[i].(string)
		raw, _ := res[i+1].(string)
		got = append(got, claimed{tag: tag, raw: []byte(raw)})
	}
	return got, next, nil
}

// block waits up to d for a push onto the queue's step-0 list: BLMOVE of
// the list onto itself, right to right, leaves it as it was.
func (c *consumer) block(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	c.mu.Lock()
	if c.waitConn == nil {
		c.waitConn = c.t.rdb.Conn()
	}
	wc, id := c.waitConn, c.waitID
	c.mu.Unlock()
	if id == 0 {
		var err error
		if id, err = wc.ClientID(ctx).Result(); err != nil {
			c.resetWait(err)
			c.pause(min(d, 100*time.Millisecond))
			return
		}
		c.mu.Lock()
		c.waitID = id
		c.mu.Unlock()
	}
	if c.stopping() {
		return
	}
	l := c.t.k.list(c.queue, 0)
	err := wc.Do(ctx, "BLMOVE", l, l, "RIGHT", "RIGHT", strconv.FormatFloat(d.Seconds(), 'f', 3, 64)).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		if !c.stopping() {
			c.t.log.Debug("queue: blocking wait failed", "queue", c.queue, "err", err)
		}
		c.resetWait(err)
		if connErr(err) {
			c.t.failed(err)
			c.pause(c.t.opts.ReconnectMin)
		}
	}
}

// resetWait drops the waiting connection after an error (go-redis keeps a
// failed sticky connection failed).
func (c *consumer) resetWait(error) {
	c.mu.Lock()
	wc := c.waitConn
	c.waitConn, c.waitID = nil, 0
	c.mu.Unlock()
	if wc != nil {
		_ = wc.Close()
	}
}

// hand delivers claimed messages; false when the consumer stopped (what was
// not handed out goes back, uncounted).
func (c *consumer) hand(got []claimed) bool {
	ds := make([]*broker.Delivery, len(got))
	for i, m := range got {
		ds[i] = c.delivery(m)
	}
	for i, d := range ds {
		select {
		case c.out <- d:
		case <-c.stopc:
			c.mu.Lock()
			rest := make([]*held, 0, len(ds)-i)
			for _, d := range ds[i:] {
				rest = append(rest, c.held[d.Tag])
				delete(c.held, d.Tag)
			}
			c.mu.Unlock()
			for _, h := range rest {
				_ = c.t.w.submit(c.putBack(h, broker.Release, time.Time{}))
			}
			return false
		}
	}
	return true
}

// delivery records a claimed message as held and makes its Delivery. A
// message that is not kombu's is delivered as a body without properties
// (the worker dead-letters it).
func (c *consumer) delivery(m claimed) *broker.Delivery {
	h := &held{tag: m.tag, raw: m.raw}
	d := &broker.Delivery{Queue: c.queue, Settler: c}
	if dec, err := decodeEnvelope(m.raw); err == nil {
		d.Message = dec.msg
		h.started, h.step = dec.started, stepOf(dec.msg.Priority)
		d.Started, d.Redelivered = dec.started, dec.redelivered || dec.started > 0
	} else {
		c.t.log.Error("queue: message is not a kombu envelope; delivering it as a body", "queue", c.queue, "tag", m.tag, "err", err)
		d.Body = m.raw
	}
	c.mu.Lock()
	c.seq++
	d.Tag = c.seq
	c.held[d.Tag] = h
	c.mu.Unlock()
	return d
}

// renewer extends the leases of everything held, and the consumer's
// registration while it consumes, at a third of the visibility timeout,
// until Close: tasks still running after Cancel keep their leases.
func (c *consumer) renewer() {
	defer c.t.wg.Done()
	defer close(c.renewDone)
	tick := time.NewTicker(c.t.opts.VisibilityTimeout / 3)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-c.closec:
			return
		}
		c.mu.Lock()
		args := make([]any, 0, 2+len(c.held))
		now := time.Now()
		args = append(args, strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64), now.Add(c.t.opts.VisibilityTimeout).UnixMilli())
		for _, h := range c.held {
			args = append(args, h.tag)
		}
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.t.opts.VisibilityTimeout/3)
		if len(args) > 2 {
			if err := renewScript.Run(ctx, c.t.rdb, []string{c.t.k.unackedIndex(), c.t.k.leases()}, args...).Err(); err != nil {
				c.t.failed(err)
				c.t.log.Warn("queue: renewing leases failed", "queue", c.queue, "err", err)
			}
		}
		if !c.stopping() {
			if err := c.t.rdb.ZAdd(ctx, c.t.k.consumers(c.queue), goredis.Z{Score: float64(now.UnixMilli()), Member: c.id}).Err(); err != nil {
				c.t.failed(err)
			}
		}
		cancel()
	}
}

// deregister says the consumer no longer consumes (it was cancelled).
func (c *consumer) deregister() {
	c.resetWait(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.t.rdb.ZRem(ctx, c.t.k.consumers(c.queue), c.id).Err(); err != nil {
		c.t.failed(err)
	}
}

// putBack is the operation that returns a held message to its queue:
// unchanged for a release (at a time, or now at the consumption end),
// counted as started for a requeue.
func (c *consumer) putBack(h *held, s broker.Settle, at time.Time) *op {
	pb := &putBackOp{list: c.t.k.list(c.queue, h.step), delayed: c.t.k.delayed(c.queue, h.step), tag: h.tag, value: h.raw, how: "rpush"}
	if s == broker.Requeue {
		if v, err := restored(h.raw, h.started+1); err == nil {
			pb.value = v
		}
	}
	if s == broker.Release && !at.IsZero() && time.Until(at) > 5*time.Millisecond {
		pb.how, pb.due = "zadd", at.UnixMilli()
	}
	return &op{putBack: pb}
}

// Commit implements broker.Settler: the settlement, the results and the
// messages of cm go to Redis in one MULTI block (grouped with others).
// With BatchAcks an Ack returns once queued.
func (c *consumer) Commit(ctx context.Context, d *broker.Delivery, cm broker.Commit) error {
	c.mu.Lock()
	h, ok := c.held[d.Tag]
	closed := c.closed
	if ok {
		delete(c.held, d.Tag)
	}
	c.mu.Unlock()
	if closed || !ok {
		return fmt.Errorf("queue: commit of %s from %s: %w", d.CorrelationID, c.queue, broker.ErrLeaseLost)
	}
	defer func() {
		select {
		case c.space <- struct{}{}:
		default:
		}
	}()
	o := &op{results: cm.Results}
	if cm.Settle == broker.Ack {
		o.ack = []string{h.tag}
	} else {
		o.putBack = c.putBack(h, cm.Settle, cm.At).putBack
	}
	for _, p := range cm.Publish {
		put, err := c.t.put(p)
		if err != nil {
			// Nothing of it commits; the message goes back, counted.
			_ = c.t.w.submit(c.putBack(h, broker.Requeue, time.Time{}))
			return fmt.Errorf("queue: commit: publish to %s: %w", p.Queue, err)
		}
		o.put = append(o.put, put)
	}
	if c.batch && cm.Settle == broker.Ack {
		id, queue, log := d.CorrelationID, c.queue, c.t.log
		o.onDone = func(err error) {
			if err != nil {
				log.Warn("queue: settling a delivery failed; it comes back after the visibility timeout", "id", id, "queue", queue, "err", err)
			}
		}
		return c.t.w.submit(o)
	}
	if err := c.t.w.submit(o); err != nil {
		return err
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if o.err != nil {
		return fmt.Errorf("queue: commit of %s from %s: %w", d.CorrelationID, c.queue, o.err)
	}
	return nil
}
