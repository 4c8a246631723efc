package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/queue/broker"
)

// How a worker consumes a task queue Q on RabbitMQ. RabbitMQ's classic
// queues do not count deliveries, and after a broker crash every message
// comes back marked redelivered, started or not; so a redelivery flag
// cannot tell a task that killed its worker from one that never ran. dsys
// counts starts in the message instead, and makes sure only started
// messages can be counted:
//
//   - A mover takes messages from Q and, in one AMQP transaction, publishes
//     a copy to "<Q>.claimed" and acks the original: a claim. It claims only
//     as many as this worker has room for, so "<Q>.claimed" holds little
//     more than what runs; Q stays what Celery workers and inspect see.
//   - A runner consumes "<Q>.claimed" and hands its messages to the engine,
//     which starts them. A message redelivered there was claimed and
//     (but for the prefetch beyond the concurrency) started: it is counted
//     (x-dsys-starts + 1, a copy and the ack in one transaction) before the
//     engine sees it again. Redeliveries from Q are never counted: nothing
//     starts from Q.
//   - A delivery's dead letters and its settlement commit in one
//     transaction on the runner's channel (see chanState.Commit), so a
//     worker killed at any point never leaves a dead letter without its ack.
const claimedSuffix = ".claimed"

// Consume implements broker.Transport.
func (b *Transport) Consume(ctx context.Context, queue string, opts broker.ConsumeOptions) (broker.Consumer, error) {
	if opts.Prefetch <= 0 {
		opts.Prefetch = 1
	}
	claimed := queue + claimedSuffix
	if _, err := b.exists(ctx, queue); err != nil {
		return nil, fmt.Errorf("queue: consume %w", err)
	}
	if err := b.declare(ctx, queueSpec{name: claimed, kind: broker.DeadLetterQueue, claimed: true}); err != nil {
		return nil, err
	}
	c := &taskConsumer{t: b, queue: queue, claimed: claimed, out: make(chan *broker.Delivery),
		credits: make(chan struct{}, opts.Prefetch), stop: make(chan struct{})}
	runner, err := b.consume(ctx, claimed, consumeOptions{prefetch: opts.Prefetch, tx: true})
	if err != nil {
		return nil, err
	}
	mover, err := b.consume(ctx, queue, consumeOptions{prefetch: opts.Prefetch, tx: true})
	if err != nil {
		_ = runner.Close()
		return nil, err
	}
	c.runner, c.mover = runner, mover
	b.wg.Add(2)
	go c.move()
	go c.run()
	return c, nil
}

// taskConsumer is a broker.Consumer of a task queue: a mover and a runner.
type taskConsumer struct {
	t       *Transport
	queue   string
	claimed string
	mover   *rawConsumer
	runner  *rawConsumer
	out     chan *broker.Delivery
	credits chan struct{} // one per claim not yet seen by the runner

	stopOnce sync.Once
	stop     chan struct{}
}

// creditWait: a claim whose copy no runner of this worker received within
// this (another worker's runner took it) stops holding up the next one.
const creditWait = 250 * time.Millisecond

func (c *taskConsumer) Deliveries() <-chan *broker.Delivery { return c.out }

func (c *taskConsumer) Cancel() error {
	c.stopOnce.Do(func() { close(c.stop) })
	_ = c.mover.Cancel()
	return c.runner.Cancel()
}

// Close implements broker.Consumer: the channels close, and RabbitMQ
// returns what they held: unclaimed messages to Q, claimed ones to
// "<Q>.claimed" (where they count as started).
func (c *taskConsumer) Close() error {
	_ = c.Cancel()
	return errors.Join(c.mover.Close(), c.runner.Close())
}

// move claims messages of Q while the runner has room.
func (c *taskConsumer) move() {
	defer c.t.wg.Done()
	for rd := range c.mover.out {
		timer := time.NewTimer(creditWait)
		select {
		case c.credits <- struct{}{}:
		case <-timer.C:
		case <-c.stop:
		}
		timer.Stop()
		// Claimed with the count it has: nothing started it from Q.
		rd.ch.tx.submit(&txReq{pubs: []txPub{{key: c.claimed, msg: amqpCopy(&rd.d, 0)}}, acks: []uint64{rd.d.DeliveryTag}})
	}
}

// run hands claimed messages to the engine, counting those redelivered.
func (c *taskConsumer) run() {
	defer c.t.wg.Done()
	defer close(c.out)
	for rd := range c.runner.out {
		select {
		case <-c.credits:
		default:
		}
		started := 0
		if n, ok := headerInt(rd.d.Headers[headerStarts]); ok && n > 0 {
			started = int(n)
		}
		if rd.d.Redelivered {
			// Claimed and handed out before, and never settled: count it.
			rd.ch.tx.submit(&txReq{pubs: []txPub{{key: c.claimed, msg: amqpCopy(&rd.d, 1)}}, acks: []uint64{rd.d.DeliveryTag}})
			continue
		}
		d := &broker.Delivery{
			Message: broker.Message{
				ContentType:     rd.d.ContentType,
				ContentEncoding: rd.d.ContentEncoding,
				CorrelationID:   rd.d.CorrelationId,
				ReplyTo:         rd.d.ReplyTo,
				Persistent:      rd.d.DeliveryMode == amqp091.Persistent,
				Priority:        rd.d.Priority,
				Expiration:      rd.d.Expiration,
				Headers:         fromTable(rd.d.Headers),
				Body:            rd.d.Body,
			},
			Queue:   c.queue,
			Started: started,
			Tag:     rd.d.DeliveryTag,
			Settler: rd.ch,
		}
		select {
		case c.out <- d:
		case <-c.t.done:
			return
		}
	}
}

// amqpCopy republishes a delivery as it came, its start count raised by add.
func amqpCopy(d *amqp091.Delivery, add int) amqp091.Publishing {
	h := make(amqp091.Table, len(d.Headers)+1)
	for k, v := range d.Headers {
		h[k] = v
	}
	n, _ := headerInt(h[headerStarts])
	if n+int64(add) > 0 {
		h[headerStarts] = int32(n + int64(add))
	}
	return amqp091.Publishing{
		ContentType: d.ContentType, ContentEncoding: d.ContentEncoding, CorrelationId: d.CorrelationId,
		ReplyTo: d.ReplyTo, DeliveryMode: d.DeliveryMode, Priority: d.Priority, Expiration: d.Expiration,
		Headers: h, Body: d.Body,
	}
}

// Commit implements broker.Settler for deliveries of a runner channel, in
// two steps. First the outcome: results and follow-up messages, published
// and confirmed by RabbitMQ. Then, in one AMQP transaction on the
// delivery's channel, the dead letters and the settlement (a released
// message's copy and the ack, an ack, or a requeue): a worker killed at any
// point leaves no dead letter without its ack, so a poison message is
// dead-lettered once. If the connection drops during the transaction the
// outcome is out already and Commit says so (broker.ErrUnsettled).
func (cs *chanState) Commit(ctx context.Context, d *broker.Delivery, c broker.Commit) error {
	if cs.ch.IsClosed() {
		return fmt.Errorf("%w: the delivery's channel closed; RabbitMQ redelivers it", broker.ErrConnectionLost)
	}
	var confirms []broker.Confirm
	req := &txReq{done: make(chan error, 1)}
	for _, r := range c.Results {
		if r.ReplyTo == "" {
			continue
		}
		conf, err := cs.t.publish(noWait, r.ReplyTo, resultMessage(r))
		if err != nil {
			return fmt.Errorf("queue: commit of a delivery from %s: %w", d.Queue, err)
		}
		confirms = append(confirms, conf)
	}
	for _, p := range c.Publish {
		if cs.t.isDeadLetterQueue(p.Queue) {
			req.pubs = append(req.pubs, txPub{key: p.Queue, msg: toPublishing(p.Message)})
			continue
		}
		conf, err := cs.t.Publish(noWait, p)
		if err != nil {
			return fmt.Errorf("queue: commit of a delivery from %s: %w", d.Queue, err)
		}
		confirms = append(confirms, conf)
	}
	for _, conf := range confirms {
		if err := broker.WaitConfirm(ctx, conf); err != nil {
			return fmt.Errorf("queue: commit of a delivery from %s: %w", d.Queue, err)
		}
	}
	switch c.Settle {
	case broker.Release:
		// Back to its queue as it came (uncounted), with the ack.
		key, m := d.Queue, &d.Message
		if !c.At.IsZero() && time.Until(c.At) >= time.Second {
			var err error
			if key, m, err = cs.t.delayed(ctx, d.Queue, &d.Message, c.At); err != nil {
				return err
			}
		}
		req.pubs = append(req.pubs, txPub{key: key, msg: toPublishing(m)})
		req.acks = []uint64{d.Tag}
	case broker.Requeue:
		req.requeue = []uint64{d.Tag}
	default:
		req.acks = []uint64{d.Tag}
	}
	cs.tx.submit(req)
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	switch {
	case err == nil:
		return nil
	case len(confirms) > 0 && errors.Is(err, broker.ErrConnectionLost):
		return fmt.Errorf("queue: commit of a delivery from %s: %w (%v)", d.Queue, broker.ErrUnsettled, err)
	}
	return fmt.Errorf("queue: commit of a delivery from %s: %w", d.Queue, err)
}

// noWait is the context of a commit's publishes: done already, so a publish
// fails at once while the connection is down instead of waiting for the
// reconnection. A delivery whose connection died is redelivered, and
// publishing for it on the next connection would duplicate what its
// redelivery publishes (a second SUCCESS).
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// consumeOptions configure a raw consumer.
type consumeOptions struct {
	prefetch int
	tx       bool // the channel is in transaction mode (commits through txCommitter)
	autoAck  bool // rpc:// reply queues: the broker forgets results as it sends them
}

// chanState is one channel of a consumer (a new one after each reconnection).
type chanState struct {
	t  *Transport
	ch *amqp091.Channel
	tx *txCommitter // nil unless tx
}

// rawDelivery is a delivery and the channel it came on.
type rawDelivery struct {
	d  amqp091.Delivery
	ch *chanState
}

// rawConsumer consumes one queue and re-subscribes after connection losses.
type rawConsumer struct {
	b     *Transport
	queue string
	opts  consumeOptions
	tag   string
	out   chan rawDelivery

	stopOnce sync.Once
	stop     chan struct{}
	mu       sync.Mutex
	cur      *chanState
}

func (b *Transport) consume(ctx context.Context, queue string, opts consumeOptions) (*rawConsumer, error) {
	if opts.prefetch <= 0 {
		opts.prefetch = 1
	}
	c := &rawConsumer{b: b, queue: queue, opts: opts, out: make(chan rawDelivery), stop: make(chan struct{}),
		tag: "dsys-" + newID()}
	// The first subscription is synchronous so a missing queue is an error.
	cs, deliveries, err := c.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	b.wg.Add(1)
	go c.run(cs, deliveries)
	return c, nil
}

// Cancel stops the broker sending; deliveries already on their way are
// still handed out, then out closes.
func (c *rawConsumer) Cancel() error {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.mu.Lock()
		cs := c.cur
		c.mu.Unlock()
		if cs != nil {
			cs.cancel(c.tag)
		}
	})
	return nil
}

// cancel stops the consumer tag on the channel, through the committer on
// a transaction channel.
func (cs *chanState) cancel(tag string) {
	if cs.ch.IsClosed() {
		return
	}
	if cs.tx == nil {
		_ = cs.ch.Cancel(tag, false)
		return
	}
	r := &txReq{do: func(ch *amqp091.Channel) error { return ch.Cancel(tag, false) }, done: make(chan error, 1)}
	cs.tx.submit(r)
	<-r.done
}

// Close cancels, lets pending commits finish and closes the channel.
func (c *rawConsumer) Close() error {
	_ = c.Cancel()
	c.mu.Lock()
	cs := c.cur
	c.mu.Unlock()
	if cs == nil {
		return nil
	}
	if cs.tx != nil {
		cs.tx.stop()
	}
	if !cs.ch.IsClosed() {
		if err := cs.ch.Close(); err != nil && !errors.Is(err, amqp091.ErrClosed) {
			return fmt.Errorf("queue: close consumer of %s: %w", c.queue, err)
		}
	}
	return nil
}

func (c *rawConsumer) subscribe(ctx context.Context) (*chanState, <-chan amqp091.Delivery, error) {
	conn, _, _, err := c.b.current(ctx)
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("queue: consume %s: %w", c.queue, err)
	}
	fail := func(what string, err error) (*chanState, <-chan amqp091.Delivery, error) {
		ch.Close()
		if isNotFound(err) {
			return nil, nil, fmt.Errorf("queue: consume %s: %w", c.queue, broker.ErrQueueNotFound)
		}
		return nil, nil, fmt.Errorf("queue: consume %s: %s: %w", c.queue, what, err)
	}
	if !c.opts.autoAck {
		if err := ch.Qos(c.opts.prefetch, 0, false); err != nil {
			return fail("qos", err)
		}
	}
	if c.opts.tx {
		if err := ch.Tx(); err != nil {
			return fail("tx", err)
		}
	}
	deliveries, err := ch.Consume(c.queue, c.tag, c.opts.autoAck, false, false, false, nil)
	if err != nil {
		return fail("consume", err)
	}
	cs := &chanState{t: c.b, ch: ch}
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	go func() {
		if e := <-closed; e != nil {
			c.b.log.Warn("queue: channel closed by the broker", "queue", c.queue, "err", e.Error())
		}
	}()
	if c.opts.tx {
		cs.tx = newTxCommitter(ch)
	}
	c.mu.Lock()
	old := c.cur
	c.cur = cs
	c.mu.Unlock()
	if old != nil && old.tx != nil {
		old.tx.stop()
	}
	select {
	case <-c.stop: // cancelled while subscribing
		cs.cancel(c.tag)
	default:
	}
	return cs, deliveries, nil
}

// run forwards deliveries and re-subscribes after connection losses.
func (c *rawConsumer) run(cs *chanState, deliveries <-chan amqp091.Delivery) {
	defer c.b.wg.Done()
	defer close(c.out)
	delay := c.b.opts.ReconnectMin
	for {
		for d := range deliveries {
			select {
			case c.out <- rawDelivery{d: d, ch: cs}:
			case <-c.b.done:
				return
			}
		}
		// The channel closed: cancelled, or the connection dropped.
		select {
		case <-c.stop:
			return
		case <-c.b.done:
			return
		default:
		}
		for {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.stop:
				case <-c.b.done:
				case <-ctx.Done():
				}
				cancel()
			}()
			var err error
			cs, deliveries, err = c.subscribe(ctx)
			cancel()
			if err == nil {
				delay = c.b.opts.ReconnectMin
				break
			}
			select {
			case <-c.stop:
				return
			case <-c.b.done:
				return
			default:
			}
			c.b.log.Debug("queue: re-subscribe failed", "queue", c.queue, "err", err)
			select {
			case <-time.After(delay):
			case <-c.stop:
				return
			case <-c.b.done:
				return
			}
			delay = min(delay*2, c.b.opts.ReconnectMax)
		}
	}
}
