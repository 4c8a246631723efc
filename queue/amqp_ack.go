package queue

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
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
	ch    *amqp.Channel
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

func newAMQPAcker(ch *amqp.Channel, opts ConsumeOptions) *amqpAcker {
	a := &amqpAcker{ch: ch}
	if opts.BatchAcks && !opts.AutoAck {
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

// Ack implements Acknowledger. With batching it returns once the ack is
// queued; an ack that fails later means the broker redelivers the message.
func (a *amqpAcker) Ack(d *Delivery) error {
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
		return settleErr(a.ch, amqp.ErrClosed)
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

// Reject implements Acknowledger; it is never batched.
func (a *amqpAcker) Reject(d *Delivery, requeue bool) error {
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

// Stale reports whether d's channel is gone: the broker will redeliver it,
// so publishing its result now would duplicate the redelivery's.
func (a *amqpAcker) Stale(*Delivery) bool { return a.ch.IsClosed() }

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

func settleErr(ch *amqp.Channel, err error) error {
	if ch.IsClosed() || errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("%w: %v", ErrConnectionLost, err)
	}
	return fmt.Errorf("queue: settle delivery: %w", err)
}
