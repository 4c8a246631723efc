package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/queue/broker"
)

// Celery's broadcast traffic as kombu's Redis transport carries it
// (kombu/transport/redis.py, Channel._put_fanout, _get_publish_topic,
// _subscribe, _queue_bind, _lookup):
//
//   - a fanout exchange (remote control's celery.pidbox; Celery's events,
//     whose topic exchange it makes fanout on Redis) is a pub/sub channel
//     "/<db>.<exchange>", or "/<db>.<exchange>/<routing key>" when a routing
//     key is given (kombu's fanout_patterns); subscribers PSUBSCRIBE it,
//     "#" in a binding key becoming "*";
//   - a direct exchange (remote control's replies) routes through the
//     binding set "_kombu.binding.<exchange>" to the lists of the bound
//     queues, consumed without acknowledgement.
//
// Messages are kombu envelopes, as tasks are. Nothing is confirmed or
// kept: at most once.

var _ broker.Broadcaster = (*Transport)(nil)

// listenWait bounds one BRPOP of a direct listener (Close waits for it).
const listenWait = time.Second

// fanoutTopic is kombu's pub/sub channel of a fanout exchange.
func (t *Transport) fanoutTopic(exchange, key string) string {
	topic := t.k.prefix + "/" + strconv.Itoa(t.db) + "." + exchange
	if key != "" {
		topic += "/" + key
	}
	return topic
}

// Broadcast implements broker.Broadcaster.
func (t *Transport) Broadcast(ctx context.Context, ex broker.Exchange, key string, m *broker.Message) error {
	if err := t.ready(ctx); err != nil {
		return err
	}
	raw, err := encodeEnvelope(m, ex.Name, key, uuid.NewString(), 0)
	if err != nil {
		return err
	}
	if ex.Kind != broker.Direct {
		if err := t.rdb.Publish(ctx, t.fanoutTopic(ex.Name, key), raw).Err(); err != nil {
			t.failed(err)
			return fmt.Errorf("queue: broadcast to %s: %w", ex.Name, err)
		}
		return nil
	}
	members, err := t.rdb.SMembers(ctx, t.k.binding(ex.Name)).Result()
	if err != nil {
		t.failed(err)
		return fmt.Errorf("queue: broadcast to %s: %w", ex.Name, err)
	}
	pipe := t.rdb.Pipeline()
	n := 0
	for _, mb := range members {
		parts := strings.Split(mb, sep)
		if len(parts) == 3 && parts[0] == key {
			pipe.LPush(ctx, t.k.list(parts[2], stepOf(m.Priority)), raw)
			n++
		}
	}
	if n == 0 {
		return nil // nobody bound: dropped, as on AMQP
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.failed(err)
		return fmt.Errorf("queue: broadcast to %s: %w", ex.Name, err)
	}
	return nil
}

// Listen implements broker.Broadcaster: the queue is bound (kombu's
// binding entry), then a fanout binding subscribes to its exchange's
// channel and a direct one pops its list; Close unbinds and deletes the
// queue, as kombu does for auto-delete queues.
func (t *Transport) Listen(ctx context.Context, b broker.Binding) (broker.Listener, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	entry := b.Key + sep + sep + b.Queue
	if err := t.rdb.SAdd(ctx, t.k.binding(b.Exchange.Name), entry).Err(); err != nil {
		t.failed(err)
		return nil, fmt.Errorf("queue: listen on %s: %w", b.Queue, err)
	}
	l := &listener{t: t, b: b, entry: entry, out: make(chan *broker.Message, 64), stop: make(chan struct{}), done: make(chan struct{})}
	t.mu.Lock()
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	if b.Exchange.Kind == broker.Direct {
		go l.pop()
		return l, nil
	}
	l.ps = t.rdb.PSubscribe(context.Background())
	pattern := t.fanoutTopic(b.Exchange.Name, strings.ReplaceAll(b.Key, "#", "*"))
	err := l.ps.PSubscribe(ctx, pattern)
	if err == nil {
		// The subscription is live once Redis confirms it.
		_, err = l.ps.ReceiveTimeout(ctx, t.opts.DialTimeout)
	}
	if err != nil {
		_ = l.ps.Close()
		t.forget(l)
		t.failed(err)
		return nil, fmt.Errorf("queue: listen on %s: %w", b.Queue, err)
	}
	go l.receive()
	return l, nil
}

type listener struct {
	t     *Transport
	b     broker.Binding
	entry string
	ps    *goredis.PubSub
	out   chan *broker.Message
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
}

func (l *listener) Messages() <-chan *broker.Message { return l.out }

func (l *listener) stopped() bool {
	select {
	case <-l.stop:
		return true
	case <-l.t.done:
		return true
	default:
		return false
	}
}

// hand passes a received envelope on; false once stopped.
func (l *listener) hand(raw []byte) bool {
	d, err := decodeEnvelope(raw)
	if err != nil {
		l.t.log.Warn("queue: ignoring a broadcast that is not a kombu message", "queue", l.b.Queue, "err", err)
		return true
	}
	m := d.msg
	select {
	case l.out <- &m:
		return true
	case <-l.stop:
		return false
	case <-l.t.done:
		return false
	}
}

// receive forwards pub/sub messages (go-redis resubscribes after a
// reconnection).
func (l *listener) receive() {
	defer close(l.done)
	defer close(l.out)
	var delay time.Duration
	for {
		msg, err := l.ps.Receive(context.Background())
		if err != nil {
			if !l.retry(err, &delay) {
				return
			}
			continue
		}
		delay = 0
		if m, ok := msg.(*goredis.Message); ok && !l.hand([]byte(m.Payload)) {
			return
		}
	}
}

// pop consumes a direct binding's list (no acknowledgements).
func (l *listener) pop() {
	defer close(l.done)
	defer close(l.out)
	var delay time.Duration
	keys := l.t.k.lists(l.b.Queue)
	for !l.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), listenWait+5*time.Second)
		kv, err := l.t.rdb.BRPop(ctx, listenWait, keys...).Result()
		cancel()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			if !l.retry(err, &delay) {
				return
			}
			continue
		}
		delay = 0
		if len(kv) == 2 && !l.hand([]byte(kv[1])) {
			return
		}
	}
}

// retry notes a failed read and backs off; false once stopped.
func (l *listener) retry(err error, delay *time.Duration) bool {
	if l.stopped() {
		return false
	}
	l.t.failed(err)
	*delay = l.t.backoff(*delay)
	select {
	case <-time.After(*delay):
		return true
	case <-l.stop:
		return false
	case <-l.t.done:
		return false
	}
}

// Close implements broker.Listener: the queue is unbound and deleted.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		if l.ps != nil {
			_ = l.ps.Close()
		}
		<-l.done
		l.t.forget(l)
		if l.t.isClosed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pipe := l.t.rdb.Pipeline()
		pipe.SRem(ctx, l.t.k.binding(l.b.Exchange.Name), l.entry)
		pipe.Del(ctx, l.t.k.lists(l.b.Queue)...)
		if _, e := pipe.Exec(ctx); e != nil {
			l.t.failed(e)
			err = fmt.Errorf("queue: close listener on %s: %w", l.b.Queue, e)
		}
	})
	return err
}

func (t *Transport) forget(l *listener) {
	t.mu.Lock()
	delete(t.listeners, l)
	t.mu.Unlock()
}
