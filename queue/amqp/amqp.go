package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/queue/broker"
)

// Options tune Dial. The zero value is the documented default.
type Options struct {
	// TLS configures amqps:// connections (nil = system roots).
	TLS *tls.Config
	// Logger receives reconnection events (nil = discard).
	Logger *slog.Logger
	// DialTimeout bounds each connection attempt (default 5s).
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval (default 10s).
	Heartbeat time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// reconnection attempts (defaults 100ms and 5s).
	ReconnectMin, ReconnectMax time.Duration
	// ManagementURL is the RabbitMQ management API base URL Inspect asks
	// for unacked counts: "" = http://<broker host>:15672 with the broker's
	// credentials; "-" = never ask.
	ManagementURL string
	// ConnectionName shows in RabbitMQ's connection list.
	ConnectionName string
	// QueueArguments are the arguments of the task queues this transport
	// creates (x-max-priority, x-queue-type, x-message-ttl, …; see
	// QueueArguments). A task queue that exists already is used as it was
	// declared, whatever its arguments.
	QueueArguments map[string]any
}

// Transport is the broker.Transport on RabbitMQ (AMQP 0-9-1). It keeps one
// connection with one publishing channel in confirm mode and one channel
// per consumer; when the connection drops it reconnects with backoff,
// re-declares every queue declared through it and resumes every consumer.
// Its result backend is Celery's rpc:// (reply queues, see Results).
type Transport struct {
	uri  string
	opts Options
	log  *slog.Logger
	mgmt *management

	mu        sync.Mutex
	conn      *amqp091.Connection
	pub       *amqp091.Channel
	gen       uint64 // connection generation, bumped by each reconnection
	up        chan struct{}
	closed    bool
	declared  map[string]queueSpec
	delayDecl map[string]uint64          // delay queue → generation it was declared in
	delayOf   map[string]map[string]bool // target queue → its delay queues
	done      chan struct{}
	wg        sync.WaitGroup
	rpc       *rpcBackend
	bcast     broadcaster
}

// queueSpec is a declaration to repeat after a reconnection.
type queueSpec struct {
	name    string
	kind    broker.QueueKind
	reply   bool          // an rpc:// reply queue
	claimed bool          // a <queue>.claimed queue (declared as a plain durable queue)
	expires time.Duration // reply queues: x-expires
	bind    *broker.Binding
}

var _ broker.Transport = (*Transport)(nil)

// Dial connects to RabbitMQ at rawURL (amqp://, amqps:// or Celery's
// pyamqp://). A first connection that fails is an error wrapping
// broker.ErrUnreachable; later disconnections are healed in the background.
func Dial(ctx context.Context, rawURL string, opts Options) (*Transport, error) {
	uri, err := NormalizeURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 10 * time.Second
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = 100 * time.Millisecond
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Transport{uri: uri, opts: opts, log: log, up: make(chan struct{}),
		declared: map[string]queueSpec{}, delayDecl: map[string]uint64{}, delayOf: map[string]map[string]bool{}, done: make(chan struct{})}
	b.mgmt = newManagement(uri, opts.ManagementURL)
	b.rpc = &rpcBackend{t: b}
	if err := b.connect(ctx); err != nil {
		if refused(err) {
			return nil, fmt.Errorf("%w: %s: %v", broker.ErrAuth, redact(uri), err)
		}
		return nil, fmt.Errorf("%w: %s: %v", broker.ErrUnreachable, redact(uri), err)
	}
	b.wg.Add(1)
	go b.supervise()
	return b, nil
}

// refused tells a handshake RabbitMQ answered with "no" (wrong user or
// password: 403 ACCESS_REFUSED; a virtual host that does not exist or the
// user may not open: 530 NOT_ALLOWED naming the vhost) from a broker that
// could not be reached.
func refused(err error) bool {
	var e *amqp091.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == amqp091.AccessRefused || e.Code == amqp091.NotAllowed && strings.Contains(e.Reason, "vhost")
}

// connect dials, opens the publishing channel and re-declares the topology.
func (b *Transport) connect(ctx context.Context) error {
	uri, tc, err := b.plainURI()
	if err != nil {
		return err
	}
	cfg := amqp091.Config{
		Heartbeat:  b.opts.Heartbeat,
		Locale:     "en_US",
		Dial:       func(network, addr string) (net.Conn, error) { return b.dial(network, addr, tc) },
		Properties: amqp091.NewConnectionProperties(),
	}
	if tc != nil && tc.Certificates != nil && strings.Contains(strings.ToUpper(b.uri), "AUTH_MECHANISM=EXTERNAL") {
		cfg.SASL = []amqp091.Authentication{&amqp091.ExternalAuth{}}
	}
	if b.opts.ConnectionName != "" {
		cfg.Properties.SetClientConnectionName(b.opts.ConnectionName)
	}
	type dialed struct {
		c   *amqp091.Connection
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := amqp091.DialConfig(uri, cfg)
		ch <- dialed{c, err}
	}()
	var conn *amqp091.Connection
	select {
	case d := <-ch:
		if d.err != nil {
			return d.err
		}
		conn = d.c
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.c != nil {
				d.c.Close()
			}
		}()
		return ctx.Err()
	}
	pub, err := conn.Channel()
	if err == nil {
		err = pub.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return fmt.Errorf("open publishing channel: %w", err)
	}
	b.mu.Lock()
	specs := make([]queueSpec, 0, len(b.declared))
	for _, s := range b.declared {
		specs = append(specs, s)
	}
	b.mu.Unlock()
	for _, s := range specs {
		if err := b.declareOn(conn, s); err != nil {
			conn.Close()
			return fmt.Errorf("re-declare %s: %w", s.name, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		conn.Close()
		return broker.ErrClosed
	}
	b.conn, b.pub = conn, pub
	b.gen++
	close(b.up)
	return nil
}

// plainURI is the URI amqp091-go dials and, for amqps://, the TLS
// configuration dial runs itself: tableFixConn must read the frames in
// clear, so TLS goes under it and amqp091-go is told amqp:// on the amqps
// port.
func (b *Transport) plainURI() (string, *tls.Config, error) {
	u, err := amqp091.ParseURI(b.uri)
	if err != nil {
		return "", nil, err
	}
	if u.Scheme != "amqps" {
		return b.uri, nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if b.opts.TLS != nil {
		tc = b.opts.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = u.Host
	}
	u.Scheme = "amqp"
	return u.String(), tc, nil
}

// dial opens the TCP connection (and TLS on it when tc is set), its writes
// coalesced (coalescingConn) and the header tables it reads made readable
// (tableFixConn).
func (b *Transport) dial(network, addr string, tc *tls.Config) (net.Conn, error) {
	c, err := amqp091.DefaultDial(b.opts.DialTimeout)(network, addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		// Within the deadline DefaultDial set, which amqp091-go clears
		// once the AMQP handshake is done.
		tlsConn := tls.Client(c, tc)
		if err := tlsConn.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tlsConn
	}
	return newTableFixConn(newCoalescingConn(c)), nil
}

// supervise waits for the connection to drop and reconnects with backoff.
func (b *Transport) supervise() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		conn := b.conn
		b.mu.Unlock()
		lost := conn.NotifyClose(make(chan *amqp091.Error, 1))
		var reason *amqp091.Error
		select {
		case reason = <-lost:
		case <-b.done:
			return
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		b.up = make(chan struct{})
		b.mu.Unlock()
		b.log.Warn("queue: broker connection lost; reconnecting", "broker", redact(b.uri), "reason", errString(reason))
		delay := b.opts.ReconnectMin
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), b.opts.DialTimeout)
			go func() {
				select {
				case <-b.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			err := b.connect(ctx)
			cancel()
			if err == nil {
				b.log.Info("queue: broker reconnected", "broker", redact(b.uri), "attempts", attempt)
				break
			}
			if errors.Is(err, broker.ErrClosed) {
				return
			}
			b.log.Debug("queue: reconnect failed", "attempt", attempt, "err", err)
			jitter := time.Duration(rand.Int64N(int64(delay)/2 + 1))
			select {
			case <-time.After(delay + jitter):
			case <-b.done:
				return
			}
			delay = min(delay*2, b.opts.ReconnectMax)
		}
	}
}

func errString(e *amqp091.Error) string {
	if e == nil {
		return "closed"
	}
	return e.Error()
}

// current waits until connected and returns the connection and its generation.
func (b *Transport) current(ctx context.Context) (*amqp091.Connection, *amqp091.Channel, uint64, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, nil, 0, broker.ErrClosed
		}
		up := b.up
		select {
		case <-up:
			conn, pub, gen := b.conn, b.pub, b.gen
			b.mu.Unlock()
			if conn.IsClosed() {
				// The supervisor has not noticed yet: wait for it.
				select {
				case <-ctx.Done():
					return nil, nil, 0, ctx.Err()
				case <-b.done:
					return nil, nil, 0, broker.ErrClosed
				case <-time.After(10 * time.Millisecond):
				}
				continue
			}
			return conn, pub, gen, nil
		default:
		}
		b.mu.Unlock()
		select {
		case <-up:
		case <-ctx.Done():
			return nil, nil, 0, fmt.Errorf("queue: waiting for the broker connection: %w", ctx.Err())
		case <-b.done:
			return nil, nil, 0, broker.ErrClosed
		}
	}
}

// channel opens a short-lived channel for declarations and queries (a
// failed one, e.g. a 404, closes only that channel).
func (b *Transport) channel(ctx context.Context) (*amqp091.Channel, error) {
	conn, _, _, err := b.current(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("queue: open channel: %w", err)
	}
	return ch, nil
}

// Declare implements broker.Transport.
func (b *Transport) Declare(ctx context.Context, q broker.QueueSpec) error {
	return b.declare(ctx, queueSpec{name: q.Name, kind: q.Kind})
}

func (b *Transport) declare(ctx context.Context, q queueSpec) error {
	conn, _, _, err := b.current(ctx)
	if err != nil {
		return err
	}
	if err := b.declareOn(conn, q); err != nil {
		return fmt.Errorf("queue: declare %s: %w", q.name, err)
	}
	b.mu.Lock()
	b.declared[q.name] = q
	b.mu.Unlock()
	return nil
}

func (b *Transport) declareOn(conn *amqp091.Connection, q queueSpec) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer func() { ch.Close() }()
	switch {
	case q.bind != nil:
		return declareBinding(ch, q.bind)
	case q.reply:
		// Celery's rpc:// reply queue: durable here (see Results), deleted
		// by the broker after q.expires unused.
		exp := q.expires
		if exp <= 0 {
			exp = 24 * time.Hour
		}
		_, err := ch.QueueDeclare(q.name, true, false, false, false, amqp091.Table{"x-expires": int64(exp / time.Millisecond)})
		return err
	case q.kind == broker.TaskQueue:
		// A queue that exists is adopted as it was declared: Celery may
		// have given it arguments (x-max-priority, a quorum queue, TTLs)
		// that a declare without them would contradict (406).
		if _, err := ch.QueueDeclarePassive(q.name, false, false, false, false, nil); err == nil {
			return nil
		} else if !isNotFound(err) {
			return err
		}
		// The 404 closed the channel.
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		// Else kombu's Queue(name, Exchange(name, 'direct'), routing_key=name,
		// queue_arguments=…).
		if err := ch.ExchangeDeclare(q.name, "direct", true, false, false, false, nil); err != nil {
			return err
		}
		if _, err := ch.QueueDeclare(q.name, true, false, false, false, toTable(b.opts.QueueArguments)); err != nil {
			return err
		}
		return ch.QueueBind(q.name, q.name, q.name, false, nil)
	case q.claimed:
		return b.declareClaimed(conn, ch, q.name)
	case q.kind == broker.DeadLetterQueue:
		_, err := ch.QueueDeclare(q.name, true, false, false, false, nil)
		return err
	}
	return fmt.Errorf("unknown queue kind %d", q.kind)
}

// Publish implements broker.Transport. A message due in a second or more
// goes through the delay queues (see publishAt).
func (b *Transport) Publish(ctx context.Context, p broker.Publishing) (broker.Confirm, error) {
	if !p.At.IsZero() && time.Until(p.At) >= time.Second {
		return b.publishAt(ctx, p.Queue, p.Message, p.At)
	}
	return b.publish(ctx, p.Queue, p.Message)
}

func (b *Transport) publish(ctx context.Context, queue string, m *broker.Message) (broker.Confirm, error) {
	p := toPublishing(m)
	for {
		_, pub, _, err := b.current(ctx)
		if err != nil {
			return nil, err
		}
		dc, err := pub.PublishWithDeferredConfirm("", queue, false, false, p)
		if err == nil {
			return amqpConfirm{dc: dc, ch: pub}, nil
		}
		if !pub.IsClosed() {
			return nil, fmt.Errorf("queue: publish to %s: %w", queue, err)
		}
		// The channel died under us: wait for the reconnection and retry;
		// nothing was sent.
		if err := b.reopenPub(ctx, pub); err != nil {
			return nil, err
		}
	}
}

// reopenPub replaces a publishing channel closed by a channel-level error
// while the connection lives on.
func (b *Transport) reopenPub(ctx context.Context, dead *amqp091.Channel) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pub != dead || b.conn == nil || b.conn.IsClosed() {
		return nil // reconnection in progress or already replaced
	}
	pub, err := b.conn.Channel()
	if err == nil {
		err = pub.Confirm(false)
	}
	if err != nil {
		return nil // the connection is going down: current() waits for it
	}
	b.pub = pub
	return nil
}

type amqpConfirm struct {
	dc *amqp091.DeferredConfirmation
	ch *amqp091.Channel
}

func (c amqpConfirm) Done() <-chan struct{} { return c.dc.Done() }

func (c amqpConfirm) Err() error {
	if c.dc.Acked() {
		return nil
	}
	if c.ch.IsClosed() {
		return broker.ErrConnectionLost
	}
	return broker.ErrNacked
}

// delayLevels are the TTLs of the delay queues: 1s, 2s, 4s … ~388 days.
const delayLevels = 25

// publishAt delays a message (see delayed).
func (b *Transport) publishAt(ctx context.Context, queue string, m *broker.Message, at time.Time) (broker.Confirm, error) {
	name, cp, err := b.delayed(ctx, queue, m, at)
	if err != nil {
		return nil, err
	}
	return b.publish(ctx, name, cp)
}

// delayed routes a message due at at through the delay queues
// "<queue>.delay.<N>s", each holding messages for a fixed TTL of N = 2^k
// seconds and dead-lettering them back to queue. Every message of one
// delay queue has the same TTL, so expiry order is queue order and a long
// delay never blocks a short one. A delay d goes through the largest level
// ≤ d and comes back early; the consumer re-delays the rest (at most
// log2(d) hops), holding only the last sub-second part itself. It returns
// the delay queue to publish to and the message to publish.
func (b *Transport) delayed(ctx context.Context, queue string, m *broker.Message, at time.Time) (string, *broker.Message, error) {
	d := time.Until(at)
	level := 0
	for level+1 < delayLevels && time.Duration(1)<<(level+1)*time.Second <= d {
		level++
	}
	ttl := time.Duration(1) << level * time.Second
	name := fmt.Sprintf("%s.delay.%ds", queue, int64(ttl/time.Second))
	if err := b.declareDelay(ctx, name, queue, ttl); err != nil {
		return "", nil, err
	}
	cp := *m
	cp.Expiration = "" // the queue's TTL rules; the expires header still holds
	return name, &cp, nil
}

func (b *Transport) declareDelay(ctx context.Context, name, target string, ttl time.Duration) error {
	conn, _, gen, err := b.current(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	done := b.delayDecl[name] == gen
	b.mu.Unlock()
	if done {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("queue: declare %s: %w", name, err)
	}
	defer ch.Close()
	ms := int64(ttl / time.Millisecond)
	_, err = ch.QueueDeclare(name, true, false, false, false, amqp091.Table{
		"x-message-ttl":             ms,
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": target,
		"x-expires":                 ms + int64(time.Hour/time.Millisecond),
	})
	if err != nil {
		return fmt.Errorf("queue: declare delay queue %s: %w", name, err)
	}
	b.mu.Lock()
	b.delayDecl[name] = gen
	if b.delayOf[target] == nil {
		b.delayOf[target] = map[string]bool{}
	}
	b.delayOf[target][name] = true
	b.mu.Unlock()
	return nil
}

// headerStarts counts, in the copy of a message a worker claimed, the
// earlier deliveries of it that a worker started (classic queues keep no
// count of their own).
const headerStarts = "x-dsys-starts"

// headerInt reads an integer header as amqp091-go types it.
func headerInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}

func toPublishing(m *broker.Message) amqp091.Publishing {
	p := amqp091.Publishing{
		ContentType:     m.ContentType,
		ContentEncoding: m.ContentEncoding,
		CorrelationId:   m.CorrelationID,
		ReplyTo:         m.ReplyTo,
		Priority:        m.Priority,
		Expiration:      m.Expiration,
		Headers:         toTable(m.Headers),
		Body:            m.Body,
		DeliveryMode:    amqp091.Transient,
	}
	if m.Persistent {
		p.DeliveryMode = amqp091.Persistent
	}
	return p
}

// fromTable turns nested AMQP tables into map[string]any so the codec sees
// transport-neutral types. It converts in place: the table is the
// delivery's own.
func fromTable(t amqp091.Table) map[string]any {
	if t == nil {
		return nil
	}
	for k, v := range t {
		switch v.(type) {
		case amqp091.Table, []any:
			t[k] = fromField(v)
		}
	}
	return map[string]any(t)
}

func fromField(v any) any {
	switch x := v.(type) {
	case amqp091.Table:
		return fromTable(x)
	case []any:
		for i := range x {
			x[i] = fromField(x[i])
		}
		return x
	}
	return v
}

// toTable gives the headers as an AMQP table: the map itself when every
// value already has an AMQP field type (the codec's own headers), else a
// converted copy (the caller's map is never changed).
func toTable(m map[string]any) amqp091.Table {
	if m == nil {
		return nil
	}
	plain := true
	for _, v := range m {
		if !plainField(v) {
			plain = false
			break
		}
	}
	if plain {
		return amqp091.Table(m)
	}
	t := make(amqp091.Table, len(m))
	for k, v := range m {
		t[k] = toField(v)
	}
	return t
}

// plainField reports whether toField would return v unchanged.
func plainField(v any) bool {
	switch x := v.(type) {
	case nil, string, bool, int32, int64, float64, time.Time, []byte:
		return true
	case []any:
		for _, e := range x {
			if !plainField(e) {
				return false
			}
		}
		return true
	}
	return false
}

func toField(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return toTable(x)
	case amqp091.Table:
		return x
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = toField(x[i])
		}
		return out
	case uint:
		return int64(x)
	case uint64:
		return int64(x)
	}
	if n, ok := v.(interface{ Int64() (int64, error) }); ok { // json.Number
		if i, err := n.Int64(); err == nil {
			return i
		}
		if fl, ok := v.(interface{ Float64() (float64, error) }); ok {
			if f, err := fl.Float64(); err == nil {
				return f
			}
		}
	}
	return v
}

// Inspect implements broker.Transport: passive declares give ready
// messages (the queue's and those claimed and not yet delivered, see
// Consume) and consumers; unacked comes from the management API when it
// answers; delayed sums the delay queues of publishAt.
func (b *Transport) Inspect(ctx context.Context, queue string) (broker.QueueInfo, error) {
	info, err := b.exists(ctx, queue)
	if err != nil {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %w", err)
	}
	if claimed, err := b.exists(ctx, queue+claimedSuffix); err == nil {
		info.Ready += claimed.Ready
	} else if !errors.Is(err, broker.ErrQueueNotFound) {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %w", err)
	}
	if n, ok := b.mgmt.unacked(ctx, queue); ok {
		if m, ok := b.mgmt.unacked(ctx, queue+claimedSuffix); ok {
			n += m
		}
		info.Unacked = n
	}
	if info.Delayed, err = b.delayedCount(ctx, queue); err != nil {
		return broker.QueueInfo{}, err
	}
	return info, nil
}

// isDeadLetterQueue reports whether queue was declared through this
// transport as a dead-letter queue.
func (b *Transport) isDeadLetterQueue(queue string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.declared[queue]
	return ok && q.kind == broker.DeadLetterQueue && !q.reply && !q.claimed
}

// exists reports (with a passive declare) whether a queue exists.
func (b *Transport) exists(ctx context.Context, queue string) (broker.QueueInfo, error) {
	ch, err := b.channel(ctx)
	if err != nil {
		return broker.QueueInfo{}, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		if isNotFound(err) {
			return broker.QueueInfo{}, fmt.Errorf("%s: %w", queue, broker.ErrQueueNotFound)
		}
		return broker.QueueInfo{}, fmt.Errorf("%s: %w", queue, err)
	}
	return broker.QueueInfo{Name: queue, Ready: q.Messages, Consumers: q.Consumers, Unacked: -1}, nil
}

// Purge implements broker.Transport: the queue's ready messages and those
// claimed and not yet delivered.
func (b *Transport) Purge(ctx context.Context, queue string) (int, error) {
	if _, err := b.exists(ctx, queue); err != nil {
		return 0, fmt.Errorf("queue: purge %w", err)
	}
	total := 0
	for _, q := range []string{queue, queue + claimedSuffix} {
		ch, err := b.channel(ctx)
		if err != nil {
			return total, err
		}
		n, err := ch.QueuePurge(q, false)
		ch.Close()
		if err != nil && !isNotFound(err) {
			return total, fmt.Errorf("queue: purge %s: %w", q, err)
		}
		total += n
	}
	return total, nil
}

// Delete implements broker.Transport.
func (b *Transport) Delete(ctx context.Context, queue string) error {
	ch, err := b.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	for _, q := range []string{queue, queue + claimedSuffix} {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			return fmt.Errorf("queue: delete %s: %w", q, err)
		}
	}
	b.mu.Lock()
	delete(b.declared, queue)
	delays := b.delayOf[queue]
	delete(b.delayOf, queue)
	for d := range delays {
		delete(b.delayDecl, d)
	}
	b.mu.Unlock()
	for d := range delays {
		if _, err := ch.QueueDelete(d, false, false, false); err != nil {
			return fmt.Errorf("queue: delete %s: %w", d, err)
		}
	}
	return nil
}

// Close implements broker.Transport.
func (b *Transport) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	conn := b.conn
	b.mu.Unlock()
	var err error
	if conn != nil && !conn.IsClosed() {
		err = conn.Close()
	}
	b.wg.Wait()
	if err != nil && !errors.Is(err, amqp091.ErrClosed) {
		return fmt.Errorf("queue: close: %w", err)
	}
	return nil
}

func isNotFound(err error) bool {
	var ae *amqp091.Error
	return errors.As(err, &ae) && ae.Code == amqp091.NotFound
}

// delayedCount counts the messages waiting in queue's delay queues.
func (b *Transport) delayedCount(ctx context.Context, queue string) (int, error) {
	ch, err := b.channel(ctx)
	if err != nil {
		return 0, err
	}
	defer func() {
		if ch != nil { // nil when the transport closed under the loop
			ch.Close()
		}
	}()
	n := 0
	for level := range delayLevels {
		name := fmt.Sprintf("%s.delay.%ds", queue, int64(1)<<level)
		q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		if err != nil {
			if !isNotFound(err) {
				return 0, fmt.Errorf("queue: inspect %s: %w", name, err)
			}
			// A 404 closes the channel: take a new one.
			if ch, err = b.channel(ctx); err != nil {
				return 0, err
			}
			continue
		}
		n += q.Messages
	}
	return n, nil
}
