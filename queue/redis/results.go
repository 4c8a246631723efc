package redis

import (
	"bytes"
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
	"github.com/dsys-dev/dsys/queue/celery"
)

// Results is Celery's Redis result backend (celery/backends/redis.py): the
// latest state of a task is the JSON document at celery-task-meta-<id>
//
//	{"status": "SUCCESS", "result": 8, "traceback": null, "children": [],
//	 "date_done": "2026-12-01T09:39:56.746195", "task_id": "…"}
//
// set with the result expiry and PUBLISHed on the same key for clients
// waiting on it. Results are readable by id, by anyone, as often as asked.
type Results struct {
	c *conn
	// own: the backend closes its pool (OpenResults); a transport's
	// backend shares the transport's.
	own bool

	mu   sync.Mutex
	subs map[*subscription]struct{}
}

var _ broker.ResultBackend = (*Results)(nil)

func newResults(c *conn) *Results { return &Results{c: c, subs: map[*subscription]struct{}{}} }

// OpenResults connects to a Redis result backend of its own, for use with
// another broker (RabbitMQ with Redis results is a common Celery setup).
// Close it when done.
func OpenResults(ctx context.Context, rawURL string, opts Options) (*Results, error) {
	c, err := dial(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	r := newResults(c)
	r.own = true
	return r, nil
}

// Close ends the subscriptions and, for a backend of its own, the pool.
func (r *Results) Close() error {
	r.closeAll()
	if r.own {
		return r.c.close()
	}
	return nil
}

func (r *Results) closeAll() {
	r.mu.Lock()
	subs := make([]*subscription, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	r.mu.Unlock()
	for _, s := range subs {
		_ = s.Close()
	}
}

// taskKey is Celery's key of a task's result.
func taskKey(id string) string { return "celery-task-meta-" + id }

// resultTTL is the expiry of result keys in seconds (0: none).
func (c *conn) resultTTL() int64 {
	if c.opts.ResultExpires < 0 {
		return 0
	}
	return max(int64(c.opts.ResultExpires/time.Second), 1)
}

// resultDocument is a result as Celery's Redis backend stores it: the
// result document with date_done (UTC, Python's isoformat) for final
// states, null otherwise.
func resultDocument(r broker.Result) []byte {
	body := bytes.TrimRight(r.Body, " \n")
	if len(body) < 2 || body[len(body)-1] != '}' || bytes.Contains(body, []byte(`"date_done"`)) {
		return r.Body
	}
	out := make([]byte, 0, len(body)+48)
	out = append(out, body[:len(body)-1]...)
	if broker.Final(r.State) {
		out = append(out, `, "date_done": "`...)
		out = time.Now().UTC().AppendFormat(out, "2006-01-02T15:04:05.000000")
		out = append(out, `"}`...)
	} else {
		out = append(out, `, "date_done": null}`...)
	}
	return out
}

// Store implements broker.ResultBackend: one round trip for all of rs.
func (r *Results) Store(ctx context.Context, rs []broker.Result) error {
	if len(rs) == 0 {
		return nil
	}
	if err := r.c.ready(ctx); err != nil {
		return err
	}
	pipe := r.c.rdb.Pipeline()
	ttl := r.c.resultTTL()
	for _, res := range rs {
		storeResultScript.Eval(ctx, pipe, []string{taskKey(res.TaskID)}, resultDocument(res), ttl)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		r.c.failed(err)
		return fmt.Errorf("queue: store results in Redis: %w", err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("queue: store results in Redis: %w", err)
		}
	}
	return nil
}

// resultMeta is what the backend reads of a stored document.
type resultMeta struct {
	TaskID string `json:"task_id"`
	Status string `json:"status"`
}

// Get implements broker.ResultBackend.
func (r *Results) Get(ctx context.Context, taskID string) (broker.Result, error) {
	if err := r.c.ready(ctx); err != nil {
		return broker.Result{}, err
	}
	b, err := r.c.rdb.Get(ctx, taskKey(taskID)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return broker.Result{}, fmt.Errorf("%w: task %s", broker.ErrResultNotFound, taskID)
	}
	if err != nil {
		r.c.failed(err)
		return broker.Result{}, fmt.Errorf("queue: read result of %s from Redis: %w", taskID, err)
	}
	return decodeStored(taskID, b)
}

func decodeStored(taskID string, b []byte) (broker.Result, error) {
	if status, ok := storedStatus(b); ok {
		return broker.Result{TaskID: taskID, State: status, Body: b}, nil
	}
	var m resultMeta
	if err := celery.DecodeJSON(b, &m); err != nil { // Python's NaN and Infinity too
		return broker.Result{}, fmt.Errorf("queue: result of %s in Redis: %w", taskID, err)
	}
	return broker.Result{TaskID: taskID, State: m.Status, Body: b}, nil
}

// storedStatus reads a result document's status in one pass (every result
// a client receives goes through here); false sends it to encoding/json.
func storedStatus(b []byte) (string, bool) {
	s := &scanner{b: b}
	status, seen := "", false
	ok := s.object(func(key string) bool {
		if key == "status" {
			v, ok := s.str()
			status, seen = v, true
			return ok
		}
		if foldsTo(key, "status", "task_id") {
			return false
		}
		_, ok := s.value(0)
		return ok
	})
	return status, ok && seen && s.end()
}

// Subscribe implements broker.ResultBackend: results arrive on Redis
// pub/sub, one channel per task (its key), as Celery's client listens.
// The subscription hears of the tasks it is told of (Watch, Want): each is
// subscribed, and once Redis confirms the subscription its key is read
// once, so a result stored before is not missed.
func (r *Results) Subscribe(ctx context.Context, _ broker.SubscribeOptions) (broker.Subscription, error) {
	if err := r.c.ready(ctx); err != nil {
		return nil, err
	}
	s := &subscription{r: r, replyTo: uuid.NewString(), out: make(chan broker.Result, 256),
		wants: map[string]string{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		batches: map[string][]string{}}
	s.ps = r.c.rdb.Subscribe(context.Background())
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	s.wg.Add(2)
	go s.receive()
	go s.send()
	return s, nil
}

// subscription is one client's stream of results.
type subscription struct {
	r       *Results
	replyTo string
	ps      *goredis.PubSub
	out     chan broker.Result

	mu      sync.Mutex
	wants   map[string]string   // task ids subscribed (or to be) until their final result → the last state delivered
	toSub   []string            // ids to subscribe
	toUnsub []string            // ids to unsubscribe
	batches map[string][]string // ping payload → the ids subscribed before it, to read once confirmed
	resync  bool                // the connection dropped: read every wanted key again
	seq     uint64
	kick    chan struct{}

	once sync.Once
	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

func (s *subscription) ReplyTo() string               { return s.replyTo }
func (s *subscription) Results() <-chan broker.Result { return s.out }

// Want implements broker.Subscription: the tasks are subscribed and their
// stored results read.
func (s *subscription) Want(ids ...string) { s.Watch(ids...) }

// Watch implements broker.Watcher: the client's own tasks, told before
// they are sent.
func (s *subscription) Watch(ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		if _, ok := s.wants[id]; !ok {
			s.wants[id] = ""
			s.toSub = append(s.toSub, id)
		}
	}
	s.mu.Unlock()
	s.poke()
}

func (s *subscription) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close implements broker.Subscription.
func (s *subscription) Close() error {
	s.once.Do(func() {
		close(s.stop)
		_ = s.ps.Close() // ends a blocked Receive
		s.wg.Wait()
		close(s.out)
		s.r.mu.Lock()
		delete(s.r.subs, s)
		s.r.mu.Unlock()
	})
	return nil
}

func (s *subscription) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// send subscribes and unsubscribes as asked, each batch followed by a PING
// whose answer confirms it.
func (s *subscription) send() {
	defer s.wg.Done()
	var delay time.Duration
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-s.kick:
		case <-keepalive.C: // the ping checks the connection
		case <-s.stop:
			return
		}
		s.mu.Lock()
		sub, unsub := s.toSub, s.toUnsub
		s.toSub, s.toUnsub = nil, nil
		resync := s.resync
		s.resync = false
		if resync {
			// Every wanted key is subscribed and read again: batches whose
			// PING answer the dropped connection took with it are covered,
			// and so are ids told (toSub) but never subscribed, which
			// go-redis's own resubscription does not know of.
			clear(s.batches)
			sub = sub[:0:0]
			for id := range s.wants {
				sub = append(sub, id)
			}
		}
		s.seq++
		token := "dsys-" + strconv.FormatUint(s.seq, 10)
		s.batches[token] = sub
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		var err error
		if len(unsub) > 0 {
			err = s.ps.Unsubscribe(ctx, keysOf(unsub)...)
		}
		if err == nil && len(sub) > 0 {
			err = s.ps.Subscribe(ctx, keysOf(sub)...)
		}
		if err == nil {
			err = s.ps.Ping(ctx, token)
		}
		cancel()
		if err != nil {
			if s.stopped() {
				return
			}
			s.r.c.failed(err)
			s.mu.Lock()
			delete(s.batches, token)
			s.toSub = append(s.toSub, sub...)
			s.toUnsub = append(s.toUnsub, unsub...)
			s.mu.Unlock()
			delay = s.r.c.backoff(delay)
			select {
			case <-time.After(delay):
			case <-s.stop:
				return
			}
			s.poke()
			continue
		}
		delay = 0
	}
}

func keysOf(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = taskKey(id)
	}
	return out
}

// receive reads published results and PING answers; after a PING answer
// it reads the keys of the batch it confirms.
func (s *subscription) receive() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		msg, err := s.ps.Receive(context.Background())
		if err != nil {
			if s.stopped() {
				return
			}
			s.r.c.failed(err)
			// go-redis reconnects and resubscribes at the next Receive;
			// what was published meanwhile is read from the keys.
			s.mu.Lock()
			s.resync = true
			s.mu.Unlock()
			s.poke()
			delay = s.r.c.backoff(delay)
			select {
			case <-time.After(delay):
			case <-s.stop:
				return
			}
			continue
		}
		delay = 0
		switch m := msg.(type) {
		case *goredis.Message:
			id, ok := strings.CutPrefix(m.Channel, "celery-task-meta-")
			if !ok {
				continue
			}
			res, err := decodeStored(id, []byte(m.Payload))
			if err != nil {
				s.r.c.log.Warn("queue: ignoring a bad result document", "id", id, "err", err)
				continue
			}
			if !s.deliver(res) {
				return
			}
		case *goredis.Pong:
			s.mu.Lock()
			ids := s.batches[m.Payload]
			delete(s.batches, m.Payload)
			s.mu.Unlock()
			if len(ids) > 0 && !s.readStored(ids) {
				return
			}
		}
	}
}

// readStored reads the stored results of ids (those still wanted).
func (s *subscription) readStored(ids []string) bool {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		chunk := ids[:n]
		ids = ids[n:]
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		vals, err := s.r.c.rdb.MGet(ctx, keysOf(chunk)...).Result()
		cancel()
		if err != nil {
			s.r.c.failed(err)
			s.mu.Lock()
			s.resync = true
			s.mu.Unlock()
			s.poke()
			return !s.stopped()
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue
			}
			res, err := decodeStored(chunk[i], []byte(str))
			if err != nil {
				continue
			}
			if !s.deliver(res) {
				return false
			}
		}
	}
	return true
}

// deliver hands a result on if its task is still wanted and its state is
// new (a state read from the key and also heard on the channel is passed
// on once); a final one ends the task's subscription. False once the
// subscription is closed.
func (s *subscription) deliver(res broker.Result) bool {
	s.mu.Lock()
	last, ok := s.wants[res.TaskID]
	if !ok || last == res.State {
		s.mu.Unlock()
		return true
	}
	final := broker.Final(res.State)
	if final {
		delete(s.wants, res.TaskID)
		s.toUnsub = append(s.toUnsub, res.TaskID)
	} else {
		s.wants[res.TaskID] = res.State
	}
	s.mu.Unlock()
	if final {
		s.poke()
	}
	res.ReplyTo = s.replyTo
	select {
	case s.out <- res:
		return true
	case <-s.stop:
		return false
	}
}
