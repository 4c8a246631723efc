package broker

import (
	"context"
	"time"
)

// Broadcaster is implemented by transports that carry Celery's broadcast
// traffic besides tasks: remote control (the "celery.pidbox" fanout
// exchange and its "reply.celery.pidbox" reply exchange) and events (the
// "celeryev" exchange). It is optional — the engine asks for it with a
// type assertion and says so in its log when a transport has none — and
// it is at most once: nothing broadcast is confirmed, persisted or counted.
//
// Exchanges and bindings follow AMQP 0-9-1, as kombu models every
// transport: RabbitMQ has them natively; kombu's Redis transport carries
// fanout exchanges over PUBLISH/SUBSCRIBE (channel "/{db}.{exchange}", or
// "/{db}.{exchange}/{routing key}" with kombu's fanout_patterns) and
// direct ones through its binding sets and the bound queues' lists.
type Broadcaster interface {
	// Broadcast publishes m to ex with a routing key: a fanout exchange
	// copies it to every bound queue (key ignored), a direct exchange to
	// the queues bound with key, a topic exchange to those whose binding
	// pattern matches. The exchange is declared first (as kombu declares
	// it). A message nobody is bound to receive is dropped.
	Broadcast(ctx context.Context, ex Exchange, key string, m *Message) error
	// Listen declares b's exchange and queue, binds them and consumes the
	// queue without acknowledgements (kombu's no_ack). After a
	// reconnection the transport declares and consumes it again.
	Listen(ctx context.Context, b Binding) (Listener, error)
}

// ExchangeKind is an AMQP exchange type.
type ExchangeKind string

// The exchange types Celery's broadcasts use.
const (
	Fanout ExchangeKind = "fanout" // remote control commands
	Direct ExchangeKind = "direct" // remote control replies
	Topic  ExchangeKind = "topic"  // events (Celery makes it fanout on Redis)
)

// Exchange names an exchange as kombu declares it; declaring one of the
// same name with other flags fails on RabbitMQ (406), so they must be
// kombu's: celery.pidbox and reply.celery.pidbox are not durable,
// celeryev is.
type Exchange struct {
	Name    string
	Kind    ExchangeKind
	Durable bool
}

// Binding is a subscriber's queue bound to an exchange. Its queue is not
// durable and is deleted by the broker when its consumer goes
// (auto-delete), as kombu declares pidbox and event queues.
type Binding struct {
	Queue    string // e.g. "celery@host.celery.pidbox", "celeryev.<uuid>"
	Exchange Exchange
	Key      string // routing key or topic pattern; "" for fanout
	// MessageTTL and Expires are the queue's x-message-ttl and x-expires
	// (0 = none): kombu's queue_ttl and queue_expires, e.g. 300 s and 10 s
	// for a worker's pidbox queue.
	MessageTTL, Expires time.Duration
}

// Listener receives the messages of one Binding.
type Listener interface {
	// Messages is closed after Close, or when the transport closes.
	Messages() <-chan *Message
	// Close cancels the consumer; the broker then deletes the queue.
	Close() error
}
