package queue

import (
	"context"
	"time"
)

// Message is one broker message: the AMQP 0-9-1 properties Celery uses,
// its headers and its body. Transports other than AMQP carry the same fields.
type Message struct {
	ContentType     string
	ContentEncoding string
	CorrelationID   string
	ReplyTo         string
	Persistent      bool   // AMQP delivery_mode 2: survives a broker restart
	Priority        uint8  // 0..255; queues without x-max-priority ignore it
	Expiration      string // per-message TTL in milliseconds, "" for none
	Headers         map[string]any
	Body            []byte
}

// Delivery is a Message received from a queue. It must be settled exactly
// once with Ack or Reject; a delivery whose connection was lost meanwhile
// cannot be settled (the broker redelivers it) and its Ack returns an error
// wrapping ErrConnectionLost.
type Delivery struct {
	Message
	Queue       string // the queue it was consumed from
	Redelivered bool   // the broker delivered it before and it was not acked
	Tag         uint64 // transport-specific delivery identifier
	Acker       Acknowledger
}

// Ack settles d as done: the broker forgets the message.
func (d *Delivery) Ack() error { return d.Acker.Ack(d) }

// Reject settles d as not done: requeued (marked redelivered) or dropped.
func (d *Delivery) Reject(requeue bool) error { return d.Acker.Reject(d, requeue) }

// Acknowledger settles deliveries for their transport.
type Acknowledger interface {
	Ack(d *Delivery) error
	Reject(d *Delivery, requeue bool) error
}

// Confirm is the broker's answer to one publish.
type Confirm interface {
	// Done is closed when the broker confirmed or refused the message, or
	// the connection was lost.
	Done() <-chan struct{}
	// Err is nil after Done when the broker took responsibility for the
	// message (for a persistent message to a durable queue: it is on disk).
	// Otherwise it wraps ErrNacked or ErrConnectionLost.
	Err() error
}

// WaitConfirm waits for c, bounded by ctx.
func WaitConfirm(ctx context.Context, c Confirm) error {
	select {
	case <-c.Done():
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// QueueKind selects how a queue is declared.
type QueueKind int

const (
	// TaskQueue is declared exactly as Celery declares its queues: durable,
	// not exclusive, not auto-deleted, no arguments, with a direct durable
	// exchange of the same name bound with the queue name as routing key.
	TaskQueue QueueKind = iota
	// DeadLetterQueue is a plain durable queue (no exchange).
	DeadLetterQueue
	// ReplyQueue receives results. It survives broker restarts and is
	// deleted by the broker after Expires without use.
	ReplyQueue
)

// QueueSpec names a queue and how to declare it.
type QueueSpec struct {
	Name    string
	Kind    QueueKind
	Expires time.Duration // ReplyQueue only: 0 = 1 day
}

// ConsumeOptions tune a consumer.
type ConsumeOptions struct {
	// Prefetch bounds the unsettled deliveries the broker sends ahead
	// (0 = 1). Ignored with AutoAck.
	Prefetch int
	// AutoAck: the broker forgets messages as it sends them (result queues).
	AutoAck bool
	// BatchAcks lets Ack return before the broker has the ack, so that a
	// transport can merge acks (AMQP: one multiple-ack over the longest run
	// of settled deliveries). Waiting acks go out once Prefetch/4 of them
	// (at most 64) are waiting, after AckDelay, and on Close; with Prefetch
	// below 8 acks are sent at once. If the consumer dies meanwhile those
	// messages are redelivered, as if it had died just before acking.
	BatchAcks bool
	// AckDelay bounds how long a batched ack waits (default 1ms).
	AckDelay time.Duration
}

// Consumer receives deliveries from one queue until cancelled. A transport
// that reconnects keeps feeding the same channel.
type Consumer interface {
	Deliveries() <-chan *Delivery
	// Cancel stops the flow; Deliveries is closed once nothing more comes.
	// Unsettled deliveries may still be settled after Cancel.
	Cancel() error
	// Close cancels and releases the consumer: deliveries still unsettled
	// go back to the queue (marked redelivered) and can no longer be settled.
	Close() error
}

// QueueInfo is what Inspect tells about a queue.
type QueueInfo struct {
	Name      string
	Ready     int // messages waiting
	Unacked   int // messages delivered and not yet settled; -1 = unknown
	Consumers int
}

// Broker is the transport under the Worker and the Client. Publish, Consume
// and declarations survive reconnections where the transport supports them;
// methods are safe for concurrent use.
type Broker interface {
	// Declare declares a queue (idempotent) and re-declares it after a
	// reconnection.
	Declare(ctx context.Context, q QueueSpec) error
	// Publish sends m to queue; the Confirm tells when the broker has it.
	// It waits (bounded by ctx) while the transport reconnects; with a ctx
	// that is done already it publishes only if connected, else fails at
	// once.
	Publish(ctx context.Context, queue string, m *Message) (Confirm, error)
	// PublishAt makes m appear on queue at about time at, without any
	// consumer holding it meanwhile. It may deliver early (never late by
	// more than transport latency): consumers re-check the message's eta.
	PublishAt(ctx context.Context, queue string, m *Message, at time.Time) (Confirm, error)
	// Consume starts receiving from queue.
	Consume(ctx context.Context, queue string, opts ConsumeOptions) (Consumer, error)
	// Inspect counts a queue's messages and consumers; a missing queue is
	// an error wrapping ErrQueueNotFound.
	Inspect(ctx context.Context, queue string) (QueueInfo, error)
	// Purge drops a queue's ready messages and returns how many.
	Purge(ctx context.Context, queue string) (int, error)
	// Delete removes a queue (and any delay queues PublishAt made for it).
	Delete(ctx context.Context, queue string) error
	// Close ends the connection; consumers' channels are closed.
	Close() error
}
