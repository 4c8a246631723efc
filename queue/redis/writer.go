package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/queue/broker"
)

// The writer sends every write of a transport — publishes, settlements and
// the results and messages a settlement carries — through one goroutine
// that takes whatever is waiting and sends it as one MULTI/EXEC block: one
// round trip for many operations, and each settlement atomic with what it
// carries (a crash or disconnection applies all of it or none). While Redis
// is unreachable it retries with backoff, up to each operation's deadline.

// maxBatch bounds the operations of one MULTI block.
const maxBatch = 512

// writeTimeout bounds how long an operation waits for Redis.
const writeTimeout = 30 * time.Second

// op is one write; it is the Confirm of a publish.
type op struct {
	put     []putOp
	results []broker.Result
	ack     []string   // delivery tags to remove from the unacked hash, index and leases
	putBack *putBackOp // a message going back to its queue
	barrier bool       // nothing to write: done once everything before it is
	// onDone, if set, runs after the op is done (from the writer goroutine).
	onDone func(error)

	deadline time.Time
	done     chan struct{}
	err      error
	cmds     []goredis.Cmder
}

// putBackOp is a settlement that returns a message to its queue.
type putBackOp struct {
	list, delayed string
	tag           string
	value         []byte
	how           string // "rpush", "lpush" or "zadd"
	due           int64  // ms, for zadd
}

func (o *op) Done() <-chan struct{} { return o.done }
func (o *op) Err() error            { return o.err }

type writer struct {
	c    *conn
	in   chan *op
	mu   sync.Mutex
	shut bool
	stop chan struct{}
	wg   sync.WaitGroup
}

func newWriter(c *conn) *writer {
	w := &writer{c: c, in: make(chan *op, 4*maxBatch), stop: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

// submit queues o (ErrClosed after close).
func (w *writer) submit(o *op) error {
	o.done = make(chan struct{})
	if o.deadline.IsZero() {
		o.deadline = time.Now().Add(writeTimeout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.shut {
		return broker.ErrClosed
	}
	w.in <- o
	return nil
}

// flush waits until everything submitted before it is done.
func (w *writer) flush(ctx context.Context) error {
	o := &op{barrier: true}
	if err := w.submit(o); err != nil {
		return err
	}
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close sends what is waiting, then stops.
func (w *writer) close() {
	w.mu.Lock()
	if w.shut {
		w.mu.Unlock()
		return
	}
	w.shut = true
	close(w.stop)
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *writer) run() {
	defer w.wg.Done()
	batch := make([]*op, 0, maxBatch)
	for {
		var first *op
		select {
		case first = <-w.in:
		case <-w.stop:
			// Drain: nothing new can come (submit holds the lock).
			for {
				select {
				case o := <-w.in:
					w.exec([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-w.in:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		w.exec(batch)
	}
}

// exec sends a batch, retrying while Redis is unreachable, and completes
// its operations.
func (w *writer) exec(batch []*op) {
	delay := time.Duration(0)
	for {
		live := batch[:0:0]
		now := time.Now()
		for _, o := range batch {
			if now.After(o.deadline) {
				w.complete(o, fmt.Errorf("queue: Redis at %s: %w", w.c.url, broker.ErrConnectionLost))
				continue
			}
			live = append(live, o)
		}
		if len(live) == 0 {
			return
		}
		err := w.send(live)
		if err == nil || !connErr(err) {
			for _, o := range live {
				w.complete(o, opErr(o, err))
			}
			return
		}
		w.c.failed(err)
		delay = w.c.backoff(delay)
		if !w.c.sleep(delay) {
			for _, o := range live {
				w.complete(o, broker.ErrClosed)
			}
			return
		}
		batch = live
	}
}

// send queues every operation's commands in one MULTI block. Pushes onto
// one list and the acknowledgements of the whole batch are merged into one
// command each (LPUSH key v1 v2 … keeps their order), which saves Redis a
// command per task; an error of a merged command is every sharer's.
func (w *writer) send(batch []*op) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	pipe := w.c.rdb.TxPipeline()
	k := keys{prefix: w.c.opts.KeyPrefix}
	n := 0
	type pushes struct {
		values []any
		ops    []*op
	}
	lists := map[string]*pushes{}
	var listOrder []string
	var ackTags []string
	var ackOps []*op
	for _, o := range batch {
		o.cmds = o.cmds[:0]
		for _, r := range o.results {
			doc := resultDocument(r)
			o.cmds = append(o.cmds, storeResultScript.Eval(ctx, pipe, []string{taskKey(r.TaskID)}, doc, w.c.resultTTL()))
		}
		for _, p := range o.put {
			if p.due > 0 {
				o.cmds = append(o.cmds, pipe.ZAdd(ctx, p.key, goredis.Z{Score: float64(p.due), Member: p.value}))
				continue
			}
			l := lists[p.key]
			if l == nil {
				l = &pushes{}
				lists[p.key] = l
				listOrder = append(listOrder, p.key)
			}
			l.values = append(l.values, p.value)
			l.ops = append(l.ops, o)
		}
		if len(o.ack) > 0 {
			ackTags = append(ackTags, o.ack...)
			ackOps = append(ackOps, o)
		}
		if pb := o.putBack; pb != nil {
			o.cmds = append(o.cmds, putBackScript.Eval(ctx, pipe,
				[]string{k.unacked(), k.unackedIndex(), k.leases(), pb.list, pb.delayed}, pb.tag, pb.value, pb.how, pb.due))
		}
		n += len(o.cmds)
	}
	for _, key := range listOrder {
		l := lists[key]
		cmd := pipe.LPush(ctx, key, l.values...)
		for _, o := range l.ops {
			o.cmds = append(o.cmds, cmd)
		}
		n++
	}
	if len(ackTags) > 0 {
		tags := make([]any, len(ackTags))
		for i, t := range ackTags {
			tags[i] = t
		}
		cmds := []goredis.Cmder{pipe.HDel(ctx, k.unacked(), ackTags...), pipe.ZRem(ctx, k.unackedIndex(), tags...),
			pipe.ZRem(ctx, k.leases(), tags...)}
		for _, o := range ackOps {
			o.cmds = append(o.cmds, cmds...)
		}
		n += len(cmds)
	}
	if n == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	if err != nil && connErr(err) {
		return err
	}
	return nil // per-command errors are read by opErr
}

// opErr is the outcome of one operation of a batch sent with err.
func opErr(o *op, err error) error {
	if err != nil {
		return fmt.Errorf("queue: Redis: %w", err)
	}
	for _, c := range o.cmds {
		if e := c.Err(); e != nil && e != goredis.Nil {
			return fmt.Errorf("queue: Redis: %s: %w", c.Name(), e)
		}
	}
	return nil
}

func (w *writer) complete(o *op, err error) {
	o.err = err
	o.cmds = nil
	close(o.done)
	if o.onDone != nil {
		o.onDone(err)
	}
}
