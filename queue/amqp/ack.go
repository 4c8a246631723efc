package amqp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/queue/broker"
)

// maxAckBatch caps how many acks one consumer keeps waiting.
const maxAckBatch = 64

// defaultAckDelay bounds how long a batched ack waits.
const defaultAckDelay = time.Millisecond

// amqpAcker settles the deliveries of one channel. With batching it keeps
// acks back and sends them as one multiple-ack over the longest run of
// settled delivery tags (RabbitMQ numbers a channel's deliveries 1, 2, 3 …):
// the broker then does one settlement per batch instead of one per message.
// Rejects go out at once. An ack that cannot join the run because an
// earlier delivery is still unsettled (a long task) waits a few more
// flushes, then goes out alone, so a slow task never holds the others'
// prefetch for long.
type amqpAcker struct {
	t     *Transport
	ch    *amqp091.Channel
	batch int // send once this many acks wait; < 2 = no batching
	delay time.Duration

	mu          sync.Mutex          // held while frames go out, so they leave in decision order
	outstanding map[uint64]struct{} // delivered, not yet settled by the caller
	waiting     []waitingAck        // acked by the caller, not yet sent
	timer       *time.Timer
	armed       bool
}

type waitingAck struct {
	tag uint64
	age int // flushes it could not join the run
}

// maxAckAge is how many flushes an ack may wait for the run to reach it.
const maxAckAge = 4

func newAMQPAcker(t *Transport, ch *amqp091.Channel, opts consumeOptions) *amqpAcker {
	a := &amqpAcker{t: t, ch: ch}
	if opts.BatchAcks && !opts.autoAck {
		a.batch = min(opts.Prefetch/4, maxAckBatch)
	}
	if a.batch >= 2 {
		a.delay = opts.AckDelay
		if a.delay <= 0 {
			a.delay = defaultAckDelay
		}
		a.outstanding = make(map[uint64]struct{}, opts.Prefetch)
		a.waiting = make([]waitingAck, 0, 2*a.batch)
	}
	return a
}

func (a *amqpAcker) batching() bool { return a.batch >= 2 }

// track records a delivery as unsettled; deliveries are tracked in tag order.
func (a *amqpAcker) track(tag uint64) {
	if !a.batching() {
		return
	}
	a.mu.Lock()
	a.outstanding[tag] = struct{}{}
	a.mu.Unlock()
}

// ack settles d as done. With batching it returns once the ack is queued;
// an ack that fails later means the broker redelivers the message.
func (a *amqpAcker) ack(d *broker.Delivery) error {
	if !a.batching() {
		if err := a.ch.Ack(d.Tag, false); err != nil {
			return settleErr(a.ch, err)
		}
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.outstanding[d.Tag]; !ok {
		return fmt.Errorf("queue: settle delivery %d: already settled", d.Tag)
	}
	if a.ch.IsClosed() {
		return settleErr(a.ch, amqp091.ErrClosed)
	}
	delete(a.outstanding, d.Tag)
	a.waiting = append(a.waiting, waitingAck{tag: d.Tag})
	if len(a.waiting) >= a.batch {
		a.flushLocked(false)
	} else {
		a.arm()
	}
	return nil
}

// reject settles d as not done (requeued or dropped); it is never batched.
func (a *amqpAcker) reject(d *broker.Delivery, requeue bool) error {
	if a.batching() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if _, ok := a.outstanding[d.Tag]; !ok {
			return fmt.Errorf("queue: settle delivery %d: already settled", d.Tag)
		}
		delete(a.outstanding, d.Tag)
	}
	if err := a.ch.Reject(d.Tag, requeue); err != nil {
		return settleErr(a.ch, err)
	}
	return nil
}

// flush sends every waiting ack (before the channel closes).
func (a *amqpAcker) flush() {
	if !a.batching() {
		return
	}
	a.mu.Lock()
	a.flushLocked(true)
	a.mu.Unlock()
}

func (a *amqpAcker) arm() {
	if a.armed {
		return
	}
	a.armed = true
	if a.timer == nil {
		a.timer = time.AfterFunc(a.delay, a.onTimer)
		return
	}
	a.timer.Reset(a.delay)
}

func (a *amqpAcker) onTimer() {
	a.mu.Lock()
	a.armed = false
	a.flushLocked(false)
	a.mu.Unlock()
}

// flushLocked acks every waiting tag below the lowest unsettled one with a
// single multiple-ack (RabbitMQ acks each unsettled tag up to it; rejected
// ones are gone already). Tags above that gap wait up to maxAckAge
// flushes, then go out one by one; with all set, at once.
func (a *amqpAcker) flushLocked(all bool) {
	if len(a.waiting) == 0 {
		return
	}
	low := uint64(math.MaxUint64)
	for t := range a.outstanding {
		low = min(low, t)
	}
	var top uint64
	kept := a.waiting[:0]
	var err error
	for _, w := range a.waiting {
		switch {
		case w.tag < low:
			top = max(top, w.tag)
		case w.age >= maxAckAge || all:
			if err == nil {
				err = a.ch.Ack(w.tag, false)
			}
		default:
			w.age++
			kept = append(kept, w)
		}
	}
	if top > 0 && err == nil {
		err = a.ch.Ack(top, true)
	}
	if err != nil || a.ch.IsClosed() {
		// The channel is gone and the broker redelivers everything it had
		// not settled; nothing more can be acked on it.
		kept = kept[:0]
	}
	a.waiting = kept
	if len(kept) > 0 {
		a.arm()
	}
}

func settleErr(ch *amqp091.Channel, err error) error {
	if ch.IsClosed() || errors.Is(err, amqp091.ErrClosed) {
		return fmt.Errorf("%w: %v", broker.ErrConnectionLost, err)
	}
	return fmt.Errorf("queue: settle delivery: %w", err)
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

// Commit implements broker.Settler: every result and message of c is
// published and confirmed by RabbitMQ before d is settled. A delivery
// whose channel is gone is left alone (the broker redelivers it); a publish
// that fails or is refused requeues it.
func (a *amqpAcker) Commit(ctx context.Context, d *broker.Delivery, c broker.Commit) error {
	if a.ch.IsClosed() {
		return fmt.Errorf("%w: the delivery's channel closed; RabbitMQ redelivers it", broker.ErrConnectionLost)
	}
	confirms := make([]broker.Confirm, 0, len(c.Results)+len(c.Publish)+1)
	publish := func(p broker.Publishing) error {
		conf, err := a.t.Publish(noWait, p)
		if err != nil {
			return err
		}
		confirms = append(confirms, conf)
		return nil
	}
	var err error
	for _, r := range c.Results {
		if r.ReplyTo != "" && err == nil {
			err = publish(broker.Publishing{Queue: r.ReplyTo, Message: resultMessage(r)})
		}
	}
	for _, p := range c.Publish {
		if err == nil {
			err = publish(p)
		}
	}
	if c.Settle == broker.Release && err == nil {
		// Back to the tail (or to the delay queues) as it is: a copy, then
		// the ack of the original. No redelivery is counted.
		err = publish(broker.Publishing{Queue: d.Queue, Message: &d.Message, At: c.At})
	}
	for _, conf := range confirms {
		if err != nil {
			break
		}
		err = broker.WaitConfirm(ctx, conf)
	}
	if err != nil {
		if !errors.Is(err, broker.ErrConnectionLost) {
			_ = a.reject(d, true)
		}
		return fmt.Errorf("queue: commit of a delivery from %s: %w", d.Queue, err)
	}
	if c.Settle == broker.Requeue {
		return a.reject(d, true)
	}
	return a.ack(d)
}

// recount handles a delivery RabbitMQ redelivers: its consumer died or
// disconnected. Classic queues keep no count, so a copy carrying the count
// goes to the tail of the queue and the original is acked; the engine sees
// the copy, with Started set from the count.
func (a *amqpAcker) recount(d *broker.Delivery) {
	cp := d.Message
	cp.Headers = make(map[string]any, len(d.Headers)+1)
	for k, v := range d.Headers {
		cp.Headers[k] = v
	}
	cp.Headers[headerRedeliveries] = int32(d.Started + 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conf, err := a.t.Publish(noWait, broker.Publishing{Queue: d.Queue, Message: &cp})
	if err == nil {
		err = broker.WaitConfirm(ctx, conf)
	}
	if err != nil {
		_ = a.reject(d, true)
		return
	}
	a.t.log.Debug("queue: redelivered message counted", "queue", d.Queue, "redeliveries", d.Started+1)
	_ = a.ack(d)
}
