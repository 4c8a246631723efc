// Package redis is the Redis transport of dsys's task queue and Celery's
// Redis result backend, wire-compatible with Celery 5.2 / kombu 5.2, so that
// Celery clients and workers share queues and results with dsys.
//
// The transport speaks kombu's Redis transport (see keys.go and
// envelope.go): lists per queue and priority step, the unacked hash and
// index with restore after a visibility timeout, the unacked mutex, binding
// sets. Results are Celery's celery-task-meta-<id> keys (results.go), and
// chords count their parts in Celery's celery-taskset-meta-<group>.j/.t/.s
// keys (chord.go).
package redis

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

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/queue/broker"
)

// Options tune Dial and OpenResults. The zero value is the documented default.
type Options struct {
	// TLS configures rediss:// connections (nil = system roots).
	TLS *tls.Config
	// Logger receives connection events (nil = discard).
	Logger *slog.Logger
	// VisibilityTimeout: a delivery held by a dsys consumer that stops
	// renewing it (its process died) goes back to its queue this long after
	// the last renewal; consumers renew at a third of it (default 30s).
	VisibilityTimeout time.Duration
	// ForeignVisibilityTimeout is the same for deliveries held by other
	// consumers (Celery workers, which do not renew): kombu's
	// visibility_timeout, whose default is one hour. Restoring them sooner
	// would run a long Celery task twice.
	ForeignVisibilityTimeout time.Duration
	// KeyPrefix starts every key of the transport (kombu's
	// global_keyprefix transport option); result keys are not prefixed, as
	// Celery's backend does not prefix them.
	KeyPrefix string
	// ResultExpires is how long results are kept (Celery's result_expires,
	// default 24h; negative = for ever).
	ResultExpires time.Duration
	// DialTimeout bounds each connection attempt (default 5s).
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff while
	// Redis is unreachable (defaults 100ms and 5s).
	ReconnectMin, ReconnectMax time.Duration
}

func (o *Options) defaults() {
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.ForeignVisibilityTimeout <= 0 {
		o.ForeignVisibilityTimeout = time.Hour
	}
	if o.ResultExpires == 0 {
		o.ResultExpires = 24 * time.Hour
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 100 * time.Millisecond
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// conn is a Redis connection pool with its health: commands that fail for
// want of a connection mark it down, and a supervisor pings with backoff
// until Redis answers again.
type conn struct {
	rdb  *goredis.Client
	url  string // redacted, for messages
	db   int    // the database number (kombu's fanout channels name it)
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	up     chan struct{} // closed while Redis answers
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// dial opens a pool for rawURL and checks that Redis answers.
func dial(ctx context.Context, rawURL string, opts Options) (*conn, error) {
	opts.defaults()
	ro, insecure, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if ro.TLSConfig != nil || insecure {
		tc := opts.TLS
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			tc = tc.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(ro.Addr)
		}
		if insecure {
			tc.InsecureSkipVerify = true //nolint:gosec // asked for by the URL (ssl_cert_reqs=none)
		}
		ro.TLSConfig = tc
	}
	ro.DialTimeout = opts.DialTimeout
	// RESP2, as redis-py (Celery) speaks it: go-redis's RESP3 push
	// handling peeks for notifications before each reply, which stalled a
	// blocking BLMOVE for good under load.
	ro.Protocol = 2
	// The transport retries on its own, with its backoff, and tells the
	// caller when Redis is down; go-redis's own retries would only hide it.
	ro.MaxRetries = -1
	ro.PoolSize = max(ro.PoolSize, 32)
	c := &conn{rdb: goredis.NewClient(ro), url: broker.RedactURL(rawURL), db: ro.DB, opts: opts, log: opts.Logger,
		up: make(chan struct{}), done: make(chan struct{})}
	pctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if err := c.rdb.Ping(pctx).Err(); err != nil {
		c.rdb.Close()
		if refused(err) {
			return nil, fmt.Errorf("%w: %s: %v", broker.ErrAuth, c.url, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", broker.ErrUnreachable, c.url, err)
	}
	if err := c.checkVersion(pctx); err != nil {
		c.rdb.Close()
		return nil, err
	}
	close(c.up)
	return c, nil
}

// refused tells an answer of Redis that rejects the credentials (a wrong
// password or user, a password Redis does not expect, none where it wants
// one, a user without the permission) from a Redis that could not be
// reached.
func refused(err error) bool {
	var re goredis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.HasPrefix(msg, "ERR AUTH") || strings.Contains(msg, "without any password configured")
}

// minVersion is the oldest Redis dsys speaks to: BLMOVE and ZMSCORE came
// with 6.2.
var minVersion = [2]int{6, 2}

// checkVersion refuses a Redis older than minVersion, saying so.
func (c *conn) checkVersion(ctx context.Context) error {
	info, err := c.rdb.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", broker.ErrUnreachable, c.url, err)
	}
	for _, line := range strings.Split(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		var major, minor int
		if _, err := fmt.Sscanf(v, "%d.%d", &major, &minor); err == nil &&
			(major < minVersion[0] || major == minVersion[0] && minor < minVersion[1]) {
			return fmt.Errorf("queue: Redis at %s is version %s; dsys needs %d.%d or later", c.url, v, minVersion[0], minVersion[1])
		}
	}
	return nil
}

// connErr reports whether err means Redis could not be reached (as
// opposed to an answer of Redis, or nil).
func connErr(err error) bool {
	if err == nil || errors.Is(err, goredis.Nil) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re goredis.Error
	if errors.As(err, &re) {
		// A server that is starting or failing over answers, but cannot serve.
		msg := re.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "MASTERDOWN") || strings.HasPrefix(msg, "READONLY")
	}
	return true
}

// failed notes the error of a command: a connection error marks Redis down.
func (c *conn) failed(err error) {
	if !connErr(err) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	select {
	case <-c.up:
	default:
		return // already down; the supervisor is at work
	}
	c.up = make(chan struct{})
	c.log.Warn("queue: Redis connection lost; reconnecting", "broker", c.url, "err", err)
	c.wg.Add(1)
	go c.supervise()
}

// supervise pings with backoff until Redis answers.
func (c *conn) supervise() {
	defer c.wg.Done()
	delay := c.opts.ReconnectMin
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.DialTimeout)
		err := c.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			c.mu.Lock()
			close(c.up)
			c.mu.Unlock()
			c.log.Info("queue: Redis reconnected", "broker", c.url, "attempts", attempt)
			return
		}
		c.log.Debug("queue: Redis reconnect failed", "attempt", attempt, "err", err)
		if !c.sleep(delay + time.Duration(rand.Int64N(int64(delay)/2+1))) {
			return
		}
		delay = min(delay*2, c.opts.ReconnectMax)
	}
}

// sleep waits d or until the connection is closed (false).
func (c *conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// ready waits until Redis answers, bounded by ctx; with a ctx that is done
// already it fails at once unless Redis answers now.
func (c *conn) ready(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return broker.ErrClosed
	}
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
		return nil
	default:
	}
	select {
	case <-up:
		return nil
	case <-c.done:
		return broker.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("queue: waiting for Redis at %s: %w (%w)", c.url, ctx.Err(), broker.ErrConnectionLost)
	}
}

// isClosed reports whether Close was called.
func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// backoff returns the next delay of an exponential backoff.
func (c *conn) backoff(d time.Duration) time.Duration {
	if d <= 0 {
		return c.opts.ReconnectMin
	}
	return min(d*2, c.opts.ReconnectMax)
}

func (c *conn) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	c.wg.Wait()
	return c.rdb.Close()
}

// Transport is the broker.Transport on Redis, speaking kombu's Redis
// transport. Its result backend (Results) is Celery's Redis backend on the
// same server.
type Transport struct {
	*conn
	k       keys
	w       *writer
	results *Results

	mu        sync.Mutex
	consumers map[*consumer]struct{}
	listeners map[*listener]struct{}
	janitor   bool // the restore loop runs
}

var _ broker.Transport = (*Transport)(nil)

// Dial connects to Redis at rawURL (redis://[[user]:password@]host[:port][/db]
// or rediss://). A first connection that fails is an error wrapping
// broker.ErrUnreachable; later disconnections are healed with backoff.
func Dial(ctx context.Context, rawURL string, opts Options) (*Transport, error) {
	c, err := dial(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	t := &Transport{conn: c, k: keys{prefix: c.opts.KeyPrefix}, consumers: map[*consumer]struct{}{},
		listeners: map[*listener]struct{}{}}
	t.results = newResults(c)
	t.w = newWriter(c)
	return t, nil
}

// Results implements broker.Transport: Celery's Redis result backend on
// the same Redis (results by task id, readable by anyone, many times).
func (t *Transport) Results() broker.ResultBackend { return t.results }

// Declare implements broker.Transport: the queue is bound to the exchange
// of its own name as kombu binds Celery's queues. A queue exists for dsys
// when it is bound or holds messages.
func (t *Transport) Declare(ctx context.Context, q broker.QueueSpec) error {
	if err := t.ready(ctx); err != nil {
		return err
	}
	if err := t.rdb.SAdd(ctx, t.k.binding(q.Name), bindingEntry(q.Name)).Err(); err != nil {
		t.failed(err)
		return fmt.Errorf("queue: declare %s: %w", q.Name, err)
	}
	return nil
}

// exists reports whether a queue is bound or holds messages.
func (t *Transport) exists(ctx context.Context, queue string) (bool, error) {
	keys := append(t.k.lists(queue), t.delayedKeys(queue)...)
	pipe := t.rdb.Pipeline()
	bound := pipe.SIsMember(ctx, t.k.binding(queue), bindingEntry(queue))
	n := pipe.Exists(ctx, keys...)
	if _, err := pipe.Exec(ctx); err != nil {
		t.failed(err)
		return false, err
	}
	return bound.Val() || n.Val() > 0, nil
}

func (t *Transport) delayedKeys(queue string) []string {
	out := make([]string, len(prioritySteps))
	for i := range prioritySteps {
		out[i] = t.k.delayed(queue, i)
	}
	return out
}

// Publish implements broker.Transport: LPUSH onto the queue's list for the
// message's priority (the end BRPOP takes last), or, with a future At, into
// the queue's delayed set, moved to the list when due by its consumers.
// Publishes are sent in batches (one round trip for all waiting); the
// Confirm is done when Redis has the message.
func (t *Transport) Publish(ctx context.Context, p broker.Publishing) (broker.Confirm, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	put, err := t.put(p)
	if err != nil {
		return nil, err
	}
	o := &op{put: []putOp{put}}
	if err := t.w.submit(o); err != nil {
		return nil, err
	}
	return o, nil
}

// putOp is a message on its way into a list or a delayed set.
type putOp struct {
	key   string
	due   int64 // ms; 0 = now (LPUSH)
	value []byte
}

// put encodes a publishing with a new delivery tag.
func (t *Transport) put(p broker.Publishing) (putOp, error) {
	raw, err := encodeEnvelope(p.Message, "", p.Queue, uuid.NewString(), 0)
	if err != nil {
		return putOp{}, err
	}
	step := stepOf(p.Message.Priority)
	if !p.At.IsZero() && time.Until(p.At) > 5*time.Millisecond {
		return putOp{key: t.k.delayed(p.Queue, step), due: p.At.UnixMilli(), value: raw}, nil
	}
	return putOp{key: t.k.list(p.Queue, step), value: raw}, nil
}

// Inspect implements broker.Transport: ready is the length of the queue's
// lists, delayed the size of its delayed sets, unacked what the unacked
// hash holds for it (from any consumer, Celery's too), consumers the dsys
// consumers seen within the visibility timeout (Celery workers are not
// counted: ask them with celery inspect).
func (t *Transport) Inspect(ctx context.Context, queue string) (broker.QueueInfo, error) {
	if err := t.ready(ctx); err != nil {
		return broker.QueueInfo{}, err
	}
	pipe := t.rdb.Pipeline()
	var lens, delayed []*goredis.IntCmd
	for _, l := range t.k.lists(queue) {
		lens = append(lens, pipe.LLen(ctx, l))
	}
	for _, d := range t.delayedKeys(queue) {
		delayed = append(delayed, pipe.ZCard(ctx, d))
	}
	since := time.Now().Add(-t.opts.VisibilityTimeout).UnixMilli()
	cons := pipe.ZCount(ctx, t.k.consumers(queue), fmt.Sprint(since), "+inf")
	bound := pipe.SIsMember(ctx, t.k.binding(queue), bindingEntry(queue))
	if _, err := pipe.Exec(ctx); err != nil {
		t.failed(err)
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %s: %w", queue, err)
	}
	info := broker.QueueInfo{Name: queue, Consumers: int(cons.Val())}
	for _, c := range lens {
		info.Ready += int(c.Val())
	}
	for _, c := range delayed {
		info.Delayed += int(c.Val())
	}
	if !bound.Val() && info.Ready == 0 && info.Delayed == 0 {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %s: %w", queue, broker.ErrQueueNotFound)
	}
	n, err := t.unackedOf(ctx, queue)
	if err != nil {
		return broker.QueueInfo{}, fmt.Errorf("queue: inspect %s: %w", queue, err)
	}
	info.Unacked = n
	return info, nil
}

// maxUnackedScan bounds the unacked entries Inspect reads; past it the
// count is unknown (-1).
const maxUnackedScan = 100_000

// unackedOf counts the unacked entries whose routing key is queue.
func (t *Transport) unackedOf(ctx context.Context, queue string) (int, error) {
	n, seen := 0, 0
	var cursor uint64
	for {
		kv, next, err := t.rdb.HScan(ctx, t.k.unacked(), cursor, "", 1000).Result()
		if err != nil {
			t.failed(err)
			return 0, err
		}
		for i := 1; i < len(kv); i += 2 {
			if e, err := decodeUnacked([]byte(kv[i])); err == nil && e.queue() == queue {
				n++
			}
		}
		seen += len(kv) / 2
		if next == 0 {
			return n, nil
		}
		if seen > maxUnackedScan {
			return -1, nil
		}
		cursor = next
	}
}

// Purge implements broker.Transport: the queue's lists are emptied
// (delayed messages and deliveries in progress stay).
func (t *Transport) Purge(ctx context.Context, queue string) (int, error) {
	if err := t.ready(ctx); err != nil {
		return 0, err
	}
	ok, err := t.exists(ctx, queue)
	if err != nil {
		return 0, fmt.Errorf("queue: purge %s: %w", queue, err)
	}
	if !ok {
		return 0, fmt.Errorf("queue: purge %s: %w", queue, broker.ErrQueueNotFound)
	}
	pipe := t.rdb.TxPipeline()
	var lens []*goredis.IntCmd
	for _, l := range t.k.lists(queue) {
		lens = append(lens, pipe.LLen(ctx, l))
		pipe.Del(ctx, l)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.failed(err)
		return 0, fmt.Errorf("queue: purge %s: %w", queue, err)
	}
	n := 0
	for _, c := range lens {
		n += int(c.Val())
	}
	return n, nil
}

// Delete implements broker.Transport: the queue's lists, delayed sets,
// consumer registry and binding go.
func (t *Transport) Delete(ctx context.Context, queue string) error {
	if err := t.ready(ctx); err != nil {
		return err
	}
	keys := append(t.k.lists(queue), t.delayedKeys(queue)...)
	keys = append(keys, t.k.consumers(queue))
	pipe := t.rdb.TxPipeline()
	pipe.Del(ctx, keys...)
	pipe.SRem(ctx, t.k.binding(queue), bindingEntry(queue))
	if _, err := pipe.Exec(ctx); err != nil {
		t.failed(err)
		return fmt.Errorf("queue: delete %s: %w", queue, err)
	}
	return nil
}

// Close implements broker.Transport: consumers end (what they hold goes
// back to the queue), waiting writes are sent, the pool closes.
func (t *Transport) Close() error {
	t.mu.Lock()
	cs := make([]*consumer, 0, len(t.consumers))
	for c := range t.consumers {
		cs = append(cs, c)
	}
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	for _, l := range ls {
		_ = l.Close()
	}
	t.w.close()
	t.results.closeAll()
	return t.conn.close()
}
