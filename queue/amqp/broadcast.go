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

var _ broker.Broadcaster = (*Transport)(nil)

// broadcaster is the Transport's side of broker.Broadcaster: one channel
// of its own, not in confirm mode (broadcasts are at most once), so that a
// channel error of a broadcast (an exchange declared with other flags)
// never touches the confirmed task publishes.
type broadcaster struct {
	mu       sync.Mutex
	ch       *amqp091.Channel
	gen      uint64            // connection generation of ch
	declared map[string]uint64 // exchange → generation it was declared in
}

// Broadcast implements broker.Broadcaster.
func (b *Transport) Broadcast(ctx context.Context, ex broker.Exchange, key string, m *broker.Message) error {
	bc := &b.bcast
	conn, _, gen, err := b.current(ctx)
	if err != nil {
		return err
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.ch == nil || bc.gen != gen || bc.ch.IsClosed() {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("queue: broadcast to %s: %w", ex.Name, err)
		}
		if bc.ch != nil && !bc.ch.IsClosed() {
			_ = bc.ch.Close()
		}
		bc.ch, bc.gen = ch, gen
		if bc.declared == nil {
			bc.declared = map[string]uint64{}
		}
	}
	if bc.declared[ex.Name] != gen {
		if err := declareExchange(bc.ch, ex); err != nil {
			return fmt.Errorf("queue: broadcast: declare exchange %s: %w", ex.Name, err)
		}
		bc.declared[ex.Name] = gen
	}
	if err := bc.ch.PublishWithContext(ctx, ex.Name, key, false, false, toPublishing(m)); err != nil {
		return fmt.Errorf("queue: broadcast to %s: %w", ex.Name, err)
	}
	return nil
}

func declareExchange(ch *amqp091.Channel, ex broker.Exchange) error {
	return ch.ExchangeDeclare(ex.Name, string(ex.Kind), ex.Durable, false, false, false, nil)
}

// Listen implements broker.Broadcaster: the exchange, a transient
// auto-delete queue with kombu's arguments, the binding, and an auto-ack
// consumer; all of it is declared again after a reconnection.
func (b *Transport) Listen(ctx context.Context, bind broker.Binding) (broker.Listener, error) {
	if err := b.declare(ctx, queueSpec{name: bind.Queue, bind: &bind}); err != nil {
		return nil, err
	}
	cons, err := b.consume(ctx, bind.Queue, consumeOptions{autoAck: true})
	if err != nil {
		b.forget(bind.Queue)
		return nil, err
	}
	l := &listener{t: b, name: bind.Queue, cons: cons, out: make(chan *broker.Message, 16)}
	go l.pump()
	return l, nil
}

// declareBinding declares what a Binding needs, as kombu declares a
// Queue(name, exchange, routing_key, durable=False, auto_delete=True,
// expires=…, message_ttl=…).
func declareBinding(ch *amqp091.Channel, bind *broker.Binding) error {
	if err := declareExchange(ch, bind.Exchange); err != nil {
		return err
	}
	args := amqp091.Table{}
	if bind.Expires > 0 {
		args["x-expires"] = millis(bind.Expires)
	}
	if bind.MessageTTL > 0 {
		args["x-message-ttl"] = millis(bind.MessageTTL)
	}
	if len(args) == 0 {
		args = nil
	}
	if _, err := ch.QueueDeclare(bind.Queue, false, true, false, false, args); err != nil {
		return err
	}
	return ch.QueueBind(bind.Queue, bind.Key, bind.Exchange.Name, false, nil)
}

// millis is a duration as py-amqp writes kombu's seconds-to-ms
// arguments: a 32-bit integer when it fits.
func millis(d time.Duration) any {
	ms := d.Milliseconds()
	if ms >= -1<<31 && ms < 1<<31 {
		return int32(ms)
	}
	return ms
}

// forget drops a declaration that is not to be repeated.
func (b *Transport) forget(queue string) {
	b.mu.Lock()
	delete(b.declared, queue)
	b.mu.Unlock()
}

type listener struct {
	t    *Transport
	name string
	cons *rawConsumer
	out  chan *broker.Message
	once sync.Once
}

func (l *listener) Messages() <-chan *broker.Message { return l.out }

func (l *listener) pump() {
	defer close(l.out)
	for rd := range l.cons.out {
		l.out <- &broker.Message{ContentType: rd.d.ContentType, ContentEncoding: rd.d.ContentEncoding,
			CorrelationID: rd.d.CorrelationId, ReplyTo: rd.d.ReplyTo, Headers: fromTable(rd.d.Headers), Body: rd.d.Body}
	}
}

// Close implements broker.Listener: the consumer is cancelled and RabbitMQ
// deletes the auto-delete queue.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		l.t.forget(l.name)
		err = l.cons.Close()
		if errors.Is(err, amqp091.ErrClosed) {
			err = nil
		}
		// Unblock the pump if nobody reads any more.
		go func() {
			for range l.out {
			}
		}()
	})
	return err
}
