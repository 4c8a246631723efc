package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

// safetyPoll bounds every wait for a change: a wake-up lost by the file
// notifications (or a notifier that could not start) costs at most this.
const safetyPoll = 2 * time.Second

// settleDelay: a look taken right after a change notification may come
// before the change is visible (another process's WAL commit is announced
// by its write to the -wal file, and completed by its update of the index
// in the -shm file, which notifies nobody), so after each notification
// waiters look once more this soon instead of waiting for the next one.
const settleDelay = 5 * time.Millisecond

// Consume implements broker.Transport.
func (t *Transport) Consume(ctx context.Context, queue string, opts broker.ConsumeOptions) (broker.Consumer, error) {
	if err := t.checkOpen(); err != nil {
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
	c := &consumer{t: t, queue: queue, prefetch: opts.Prefetch, id: rand.Int64N(1<<62) + 1,
		out: make(chan *broker.Delivery), stopc: make(chan struct{}), space: make(chan struct{}, 1),
		held: map[int64]*broker.Delivery{}, loopDone: make(chan struct{}), closec: make(chan struct{}), renewDone: make(chan struct{})}
	host, _ := os.Hostname()
	err = t.wr.do(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO consumers (id, queue, pid, host, seen_at) VALUES (?, ?, ?, ?, ?)", c.id, queue, os.Getpid(), host, nowMs())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: consume %s: %w", queue, err)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, broker.ErrClosed
	}
	t.consumers[c] = struct{}{}
	t.mu.Unlock()
	t.wg.Add(2)
	go c.loop()
	go c.renewer()
	return c, nil
}

// consumer claims messages of one queue for one process. Its id is the
// lease of what it holds.
type consumer struct {
	t        *Transport
	queue    string
	prefetch int
	id       int64
	out      chan *broker.Delivery

	mu       sync.Mutex
	held     map[int64]*broker.Delivery // claimed and not yet settled, by row id
	closed   bool
	stopOnce sync.Once
	stopc    chan struct{}
	space    chan struct{} // a settlement made room
	loopDone chan struct{}

	closec    chan struct{} // closed by Close: no more renewals
	renewDone chan struct{}
}

func (c *consumer) Deliveries() <-chan *broker.Delivery { return c.out }

// Cancel implements broker.Consumer.
func (c *consumer) Cancel() error {
	c.stopOnce.Do(func() { close(c.stopc) })
	return nil
}

// Close implements broker.Consumer: what it holds goes back to the queue
// at once (counted as started), and it is no longer a consumer of it.
func (c *consumer) Close() error {
	_ = c.Cancel()
	<-c.loopDone
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.held = map[int64]*broker.Delivery{}
	c.mu.Unlock()
	close(c.closec)
	<-c.renewDone
	c.t.mu.Lock()
	delete(c.t.consumers, c)
	c.t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.t.opts.BusyTimeout+5*time.Second)
	defer cancel()
	err := c.t.wr.do(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("UPDATE messages SET lease = 0, visible_at = ? WHERE lease = ?", nowMs(), c.id); err != nil {
			return err
		}
		return nil
	})
	if err != nil && !errors.Is(err, broker.ErrClosed) {
		return fmt.Errorf("queue: close consumer of %s: %w", c.queue, err)
	}
	return nil
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

// loop claims what there is room for, hands it out, and waits for a change
// (a write by any process, a settlement here, a due time) until cancelled.
func (c *consumer) loop() {
	defer c.t.wg.Done()
	defer close(c.loopDone)
	defer close(c.out)
	defer c.deregister()
	vt := c.t.opts.VisibilityTimeout
	timer := time.NewTimer(0)
	defer timer.Stop()
	notified := false
	for {
		changed := c.t.note.wait()
		wait := safetyPoll
		if notified {
			wait, notified = settleDelay, false
		}
		if n := c.room(); n > 0 {
			now := time.Now()
			o := c.t.wr.submit(&op{claim: &claimOp{queue: c.queue, consumer: c.id, max: n, now: now.UnixMilli(),
				lease: now.Add(vt).UnixMilli()}})
			select {
			case <-o.done:
			case <-c.stopc:
				<-o.done
				c.release(o.claim.got)
				return
			}
			if o.err != nil && !errors.Is(o.err, broker.ErrClosed) {
				c.t.log.Warn("queue: claiming messages failed; retrying", "queue", c.queue, "err", o.err)
			}
			if got := o.claim.got; len(got) > 0 {
				if !c.hand(got) {
					return
				}
				continue
			}
			if next := o.claim.next; next > 0 {
				wait = min(wait, time.Until(time.UnixMilli(next))+time.Millisecond)
			}
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-changed:
			notified = true
		case <-c.space:
		case <-timer.C:
		case <-c.stopc:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// hand delivers claimed messages; false when the consumer stopped (what was
// not handed out is released).
func (c *consumer) hand(got []claimed) bool {
	ds := make([]*broker.Delivery, len(got))
	for i, m := range got {
		d := &broker.Delivery{Queue: c.queue, Started: m.started - 1, Redelivered: m.started > 1, Tag: uint64(m.id), Settler: c}
		d.Body, d.Priority = m.body, uint8(m.priority)
		if err := decodeProps(m.props, &d.Message); err != nil {
			c.t.log.Error("queue: unreadable message properties; delivering the body alone", "queue", c.queue, "id", m.id, "err", err)
		}
		ds[i] = d
	}
	c.mu.Lock()
	for i, m := range got {
		c.held[m.id] = ds[i]
	}
	c.mu.Unlock()
	for i, d := range ds {
		select {
		case c.out <- d:
		case <-c.stopc:
			c.release(got[i:])
			return false
		}
	}
	return true
}

// release puts back claimed messages never handed out, uncounted.
func (c *consumer) release(got []claimed) {
	if len(got) == 0 {
		return
	}
	c.mu.Lock()
	for _, m := range got {
		delete(c.held, m.id)
	}
	c.mu.Unlock()
	for _, m := range got {
		c.t.wr.submit(&op{settle: &settleOp{id: m.id, consumer: c.id, settle: broker.Release}, wake: true})
	}
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
		now := time.Now()
		lease := now.Add(c.t.opts.VisibilityTimeout).UnixMilli()
		consuming := !c.stopping()
		c.t.wr.submit(&op{fn: func(tx *sql.Tx) error {
			if _, err := tx.Exec("UPDATE messages SET visible_at = ? WHERE lease = ? AND scheduled = 0", lease, c.id); err != nil {
				return err
			}
			if !consuming {
				return nil
			}
			_, err := tx.Exec("UPDATE consumers SET seen_at = ? WHERE id = ?", now.UnixMilli(), c.id)
			return err
		}})
	}
}

// deregister says the consumer no longer consumes (it was cancelled).
func (c *consumer) deregister() {
	o := c.t.wr.submit(&op{fn: func(tx *sql.Tx) error {
		_, err := tx.Exec("DELETE FROM consumers WHERE id = ?", c.id)
		return err
	}})
	<-o.done
}

// Commit implements broker.Settler: the settlement, the results and the
// messages of c commit in one transaction (grouped with others).
func (c *consumer) Commit(ctx context.Context, d *broker.Delivery, cm broker.Commit) error {
	id := int64(d.Tag)
	c.mu.Lock()
	ok := c.held[id] == d
	closed := c.closed
	c.mu.Unlock()
	if closed || !ok {
		return fmt.Errorf("queue: commit of message %d from %s: %w", id, c.queue, broker.ErrLeaseLost)
	}
	o := &op{settle: &settleOp{id: id, consumer: c.id, settle: cm.Settle}, results: cm.Results,
		wake: len(cm.Results) > 0 || len(cm.Publish) > 0 || cm.Settle != broker.Ack}
	if cm.Settle == broker.Release && !cm.At.IsZero() {
		o.settle.at = cm.At.UnixMilli()
	}
	for _, p := range cm.Publish {
		ok, err := c.t.exists(ctx, p.Queue)
		if err == nil && !ok {
			err = broker.ErrQueueNotFound
		}
		var row msgRow
		if err == nil {
			row, err = newRow(p)
		}
		if err != nil {
			// Nothing of it commits; the message goes back, counted.
			c.t.wr.submit(&op{settle: &settleOp{id: id, consumer: c.id, settle: broker.Requeue}, wake: true})
			c.forget(id, d)
			return fmt.Errorf("queue: commit: publish to %s: %w", p.Queue, err)
		}
		o.publish = append(o.publish, row)
	}
	c.t.wr.submit(o)
	select {
	case <-o.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.forget(id, d)
	if o.err != nil {
		return fmt.Errorf("queue: commit of message %d from %s: %w", id, c.queue, o.err)
	}
	return nil
}

// forget drops a settled delivery and wakes the loop: there is room. Only
// d itself: a released or requeued row can be claimed again, as a new
// delivery under the same id, before its commit returns here.
func (c *consumer) forget(id int64, d *broker.Delivery) {
	c.mu.Lock()
	if c.held[id] == d {
		delete(c.held, id)
	}
	c.mu.Unlock()
	select {
	case c.space <- struct{}{}:
	default:
	}
}
