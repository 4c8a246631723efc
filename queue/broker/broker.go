// Package broker is the contract between dsys's task-queue engine (package
// queue) and its transports (queue/amqp for RabbitMQ, queue/sqlite for the
// embedded broker): the message envelope, deliveries and how they are
// settled, and where results live. It holds types only; every transport
// passes the conformance suite in queue/brokertest.
//
// Two ideas shape it. A delivery is settled by one Commit that carries
// everything its outcome causes (results, follow-up messages, the
// settlement), so that a transport can make it atomic (SQLite: one
// transaction) or at least ordered (AMQP: publishes confirmed before the
// ack). And a transport counts the deliveries of a message that a worker
// started (Delivery.Started), so poison messages are bounded by the broker's
// own count, not by copies.
package broker

import (
	"context"
	"time"
)

// Message is one task message: the AMQP 0-9-1 properties Celery uses, its
// headers and its body. Every transport carries all of it unchanged.
type Message struct {
	ContentType     string
	ContentEncoding string
	CorrelationID   string
	ReplyTo         string
	Persistent      bool   // AMQP delivery_mode 2: survives a broker restart
	Priority        uint8  // 0..255, higher first where the queue supports priorities
	Expiration      string // per-message TTL in milliseconds, "" for none; a transport may drop it once expired
	Headers         map[string]any
	Body            []byte
}

// HeaderUnreadable is the header a transport puts in a message whose
// headers it could not read in full (AMQP field tables its client
// refuses): the reason, and what of them it could read. The engine
// dead-letters such a message and answers its caller.
const HeaderUnreadable = "x-dsys-unreadable"

// Publishing is a message on its way to a queue.
type Publishing struct {
	Queue   string
	Message *Message
	// At delays the message: no consumer sees it before (about) this time,
	// and none holds it meanwhile. Zero means now. A transport may deliver
	// early by its granularity; consumers re-check the task's eta.
	At time.Time
}

// Delivery is a message received from a queue. It is settled exactly once,
// by Commit.
type Delivery struct {
	Message
	Queue string // the queue it was consumed from
	// Started counts the earlier deliveries of this message that a worker
	// started and did not settle (it died, lost its connection or was
	// abandoned): 0 on a first run. The transport keeps the count.
	Started int
	// Redelivered tells that the transport delivered the message before;
	// informational (Started is the count that matters).
	Redelivered bool
	// Tag identifies the delivery to its transport.
	Tag uint64
	// Settler is the transport's side of the delivery.
	Settler Settler
}

// Commit settles d with everything its outcome causes; see Commit.
func (d *Delivery) Commit(ctx context.Context, c Commit) error { return d.Settler.Commit(ctx, d, c) }

// Settler commits deliveries for their transport.
type Settler interface {
	// Commit performs c for d. Results and publishes are durable before the
	// settlement takes effect (SQLite: in the same transaction). On error
	// nothing more can be done for d: the transport redelivers it (its
	// consumer is gone, its lease lost) and the redelivery is committed
	// instead. Commit may be called after the consumer was cancelled.
	Commit(ctx context.Context, d *Delivery, c Commit) error
}

// Settle says what becomes of a delivery.
type Settle int

const (
	// Ack: done; the message is removed.
	Ack Settle = iota
	// Release: not started; the message goes back to its queue (visible
	// again at Commit.At) and the start is not counted.
	Release
	// Requeue: started and given up (a worker shutting down); the message
	// goes back to its queue and counts as started.
	Requeue
)

func (s Settle) String() string {
	switch s {
	case Ack:
		return "ack"
	case Release:
		return "release"
	case Requeue:
		return "requeue"
	}
	return "settle?"
}

// Commit is the outcome of one delivery as a transport performs it.
type Commit struct {
	// Results go to the transport's own result backend (Transport.Results);
	// results for another backend are stored before the commit.
	Results []Result
	// Publish holds the task messages the outcome causes: a retry,
	// callbacks, the next step of a chain, a dead letter.
	Publish []Publishing
	Settle  Settle
	// At is when a released message becomes visible again (zero: now).
	At time.Time
}

// Confirm is the broker's answer to one publish.
type Confirm interface {
	// Done is closed when the broker took the message, refused it, or the
	// connection was lost.
	Done() <-chan struct{}
	// Err is nil after Done when the broker took responsibility for the
	// message (for a persistent message: it is on disk). Otherwise it wraps
	// ErrNacked or ErrConnectionLost.
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

// Confirmed is the Confirm of a message already durable.
var Confirmed Confirm = doneConfirm{}

type doneConfirm struct{}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneConfirm) Done() <-chan struct{} { return closedChan }
func (doneConfirm) Err() error            { return nil }

// QueueKind selects how a queue is declared.
type QueueKind int

const (
	// TaskQueue is declared exactly as Celery declares its queues (on AMQP:
	// durable, no arguments, a direct durable exchange of the same name).
	TaskQueue QueueKind = iota
	// DeadLetterQueue holds messages no worker can serve ("<queue>.dead").
	DeadLetterQueue
)

// QueueSpec names a queue and how to declare it.
type QueueSpec struct {
	Name string
	Kind QueueKind
}

// ConsumeOptions tune a consumer.
type ConsumeOptions struct {
	// Prefetch bounds the unsettled deliveries the transport hands out
	// ahead (0 = 1).
	Prefetch int
	// BatchAcks lets Commit return before an Ack is durable, so that the
	// transport can merge settlements (AMQP: one multiple-ack over a run of
	// settled deliveries). Waiting acks go out within AckDelay and on
	// Close. If the consumer dies meanwhile those messages are redelivered,
	// as if it had died just before settling them.
	BatchAcks bool
	// AckDelay bounds how long a batched ack waits (default 1ms).
	AckDelay time.Duration
}

// Consumer receives deliveries from one queue until cancelled. A transport
// that reconnects keeps feeding the same channel.
type Consumer interface {
	Deliveries() <-chan *Delivery
	// Cancel stops the flow; Deliveries is closed once nothing more comes.
	// Unsettled deliveries may still be committed after Cancel.
	Cancel() error
	// Close cancels and releases the consumer: deliveries still unsettled
	// go back to the queue (counted as started) and can no longer be
	// committed.
	Close() error
}

// QueueInfo is what Inspect tells about a queue.
type QueueInfo struct {
	Name      string
	Ready     int // messages waiting, due now
	Unacked   int // delivered and not yet settled; -1 = unknown
	Consumers int // consumers now; on transports without connections, the ones seen recently
	Delayed   int // messages waiting for their time (eta, countdown, retry backoff)
}

// Transport is a broker as the engine uses it. Methods are safe for
// concurrent use; transports that reconnect re-declare their queues and
// resume their consumers.
type Transport interface {
	// Declare declares a queue (idempotent).
	Declare(ctx context.Context, q QueueSpec) error
	// Publish sends a message; the Confirm tells when the broker has it. A
	// transport that is reconnecting waits, bounded by ctx; with a ctx that
	// is done already it publishes only if connected, else fails at once.
	Publish(ctx context.Context, p Publishing) (Confirm, error)
	// Consume starts receiving from a queue (ErrQueueNotFound if missing).
	Consume(ctx context.Context, queue string, opts ConsumeOptions) (Consumer, error)
	// Inspect counts a queue's messages and consumers (ErrQueueNotFound if missing).
	Inspect(ctx context.Context, queue string) (QueueInfo, error)
	// Purge drops a queue's ready messages and returns how many.
	Purge(ctx context.Context, queue string) (int, error)
	// Delete removes a queue and whatever the transport keeps for it.
	Delete(ctx context.Context, queue string) error
	// Results is the result backend the transport provides: rpc:// reply
	// queues on AMQP, the database file on SQLite.
	Results() ResultBackend
	// Close ends the connection; consumers' channels are closed.
	Close() error
}
