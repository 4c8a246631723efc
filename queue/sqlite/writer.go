package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

// An op is one unit of writing: a publish, a claim, a delivery's commit,
// a lease renewal, results. The writer groups the ops waiting into one
// transaction (a savepoint each, so one op's failure does not undo the
// others') and then tells each how it went: a few hundred commits cost one
// SQLite transaction, one WAL append and one wake-up of the other processes.
type op struct {
	publish []msgRow
	results []broker.Result
	claim   *claimOp
	settle  *settleOp
	fn      func(tx *sql.Tx) error // anything else (declare, purge, renew...)
	// wake: the op may make messages or results visible, so this
	// process's waiters look again (other processes learn of it from the
	// file's change notification). Claims and renewals do not wake anyone:
	// a consumer woken by its own empty claim would spin.
	wake bool

	err  error
	done chan struct{}
}

// Done implements broker.Confirm.
func (o *op) Done() <-chan struct{} { return o.done }

// Err implements broker.Confirm.
func (o *op) Err() error { return o.err }

type claimOp struct {
	queue    string
	consumer int64
	max      int
	now      int64
	lease    int64     // visible_at of what is claimed
	got      []claimed // filled by the writer
	next     int64     // when something may become claimable next (ms; 0 = unknown)
}

type claimed struct {
	id       int64
	priority int
	started  int
	props    []byte
	body     []byte
}

type settleOp struct {
	id       int64
	consumer int64
	settle   broker.Settle
	at       int64 // Release: visible again then (0 = now)
}

// The statements of the hot path, prepared once at open.
const (
	qInsertMessage  = "INSERT INTO messages (queue, priority, visible_at, scheduled, props, body) VALUES (?, ?, ?, ?, ?, ?)"
	qDropOpenResult = "DELETE FROM results WHERE task_id = ? AND state NOT IN ('SUCCESS', 'FAILURE', 'REVOKED')"
	qAck            = "DELETE FROM messages WHERE id = ? AND lease = ?"
	qRelease        = "UPDATE messages SET lease = 0, started = started - 1, visible_at = ?, scheduled = ? WHERE id = ? AND lease = ?"
	qRequeue        = "UPDATE messages SET lease = 0, visible_at = ? WHERE id = ? AND lease = ?"
	qPromote        = "UPDATE messages SET scheduled = 0 WHERE scheduled = 1 AND visible_at <= ?"
	qClaim          = `UPDATE messages SET lease = ?1, started = started + 1, visible_at = ?2
		WHERE id IN (SELECT id FROM messages WHERE queue = ?3 AND scheduled = 0 AND visible_at <= ?4
			ORDER BY priority DESC, visible_at, id LIMIT ?5)
		RETURNING id, priority, started, props, body`
	qNextVisible = `SELECT min(v) FROM (
		SELECT min(visible_at) AS v FROM messages WHERE scheduled = 1
		UNION ALL SELECT min(visible_at) FROM messages WHERE lease != 0 AND queue = ?)`
	qInsertResult = "INSERT OR IGNORE INTO results (task_id, reply_to, state, body, expires_at) VALUES (?, ?, ?, ?, ?)"
)

var hotStatements = []string{qInsertMessage, qDropOpenResult, qAck, qRelease, qRequeue, qPromote, qClaim, qNextVisible, qInsertResult}

// maxBatch bounds the ops of one transaction.
const maxBatch = 512

type writer struct {
	t    *Transport
	ops  chan *op
	quit chan struct{}
	gone chan struct{}

	lastExpiry time.Time
	prep       map[string]*sql.Stmt // prepared on the writer's one connection
}

// wtx is the writer's transaction: statements prepared once, bound to it.
type wtx struct {
	tx    *sql.Tx
	w     *writer
	bound map[string]*sql.Stmt
}

func (x *wtx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := x.bound[q]; ok {
		return st, nil
	}
	st, ok := x.w.prep[q]
	if !ok {
		// Not prepared at open (the one connection is this transaction's).
		return x.tx.Prepare(q)
	}
	b := x.tx.Stmt(st)
	x.bound[q] = b
	return b, nil
}

func (x *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := x.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

func (x *wtx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := x.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

func newWriter(t *Transport) (*writer, error) {
	w := &writer{t: t, ops: make(chan *op, 4*maxBatch), quit: make(chan struct{}), gone: make(chan struct{}),
		prep: map[string]*sql.Stmt{}}
	for _, q := range hotStatements {
		st, err := t.w.Prepare(q)
		if err != nil {
			return nil, fmt.Errorf("queue: sqlite: prepare: %w", err)
		}
		w.prep[q] = st
	}
	return w, nil
}

// submit queues o and returns it; Done closes once it committed or failed.
func (w *writer) submit(o *op) *op {
	o.done = make(chan struct{})
	select {
	case w.ops <- o:
	case <-w.gone:
		o.err = broker.ErrClosed
		close(o.done)
	}
	return o
}

// do runs fn in a transaction of the writer and waits for it.
func (w *writer) do(ctx context.Context, fn func(tx *sql.Tx) error) error {
	o := w.submit(&op{fn: fn, wake: true}) // rare ops: declare, purge, delete, close
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) stop() {
	close(w.quit)
	<-w.gone
}

func (w *writer) run() {
	defer close(w.gone)
	batch := make([]*op, 0, maxBatch)
	for {
		var first *op
		select {
		case first = <-w.ops:
		case <-w.quit:
			// Finish what was submitted before the stop.
			for {
				select {
				case o := <-w.ops:
					w.commit([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-w.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

// commit applies a batch in one transaction and reports to each op. When
// the transaction fails on an SQL error, each op is tried alone so that
// only the one at fault fails.
func (w *writer) commit(batch []*op) {
	err := w.apply(batch)
	if err != nil && len(batch) > 1 && !errors.Is(err, errBusy) {
		for _, o := range batch {
			o.err = nil
			if o.claim != nil {
				o.claim.got = nil
			}
			if e := w.apply([]*op{o}); e != nil && o.err == nil {
				o.err = e
			}
		}
		err = nil
	}
	if err != nil {
		// The transaction failed as a whole (lock timeout, disk full):
		// every op that had not failed on its own fails with it.
		for _, o := range batch {
			if o.err == nil {
				o.err = err
			}
			if o.claim != nil {
				o.claim.got = nil
			}
		}
	}
	wake := false
	for _, o := range batch {
		wake = wake || (o.wake && o.err == nil)
		close(o.done)
	}
	if wake {
		w.t.note.poke()
	}
}

func (w *writer) apply(batch []*op) error {
	tx, err := beginImmediate(context.Background(), w.t.w, w.t.opts.BusyTimeout)
	if err != nil {
		return fmt.Errorf("%w: begin: %v", errBusy, err)
	}
	defer tx.Rollback()
	x := &wtx{tx: tx, w: w, bound: map[string]*sql.Stmt{}}
	for _, o := range batch {
		// A lost lease fails its op before it wrote anything; any other
		// error fails the transaction (and commit retries op by op).
		if o.err = w.applyOne(x, o); o.err != nil && !errors.Is(o.err, errLeaseLost) {
			return o.err
		}
	}
	if time.Since(w.lastExpiry) > time.Minute {
		w.lastExpiry = time.Now()
		if _, err := x.tx.Exec("DELETE FROM results WHERE expires_at < ?", nowMs()); err != nil {
			return fmt.Errorf("queue: sqlite: expiring results: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %v", errBusy, err)
	}
	return nil
}

// errBusy: the transaction itself could not begin or commit (another
// process held the lock past the busy timeout, the disk is full).
var errBusy = errors.New("queue: sqlite")

func (w *writer) applyOne(x *wtx, o *op) error {
	if o.fn != nil {
		return o.fn(x.tx)
	}
	if o.settle != nil {
		if err := w.settle(x, o.settle); err != nil {
			return err
		}
	}
	if err := w.insert(x, o.publish); err != nil {
		return err
	}
	if err := w.store(x, o.results); err != nil {
		return err
	}
	if o.claim != nil {
		return w.claim(x, o.claim)
	}
	return nil
}

func (w *writer) insert(x *wtx, rows []msgRow) error {
	for _, r := range rows {
		if _, err := x.exec(qInsertMessage,
			r.queue, r.priority, r.visibleAt, r.scheduled, r.props, r.body); err != nil {
			return fmt.Errorf("queue: publish to %s: %w", r.queue, err)
		}
	}
	return nil
}

// store writes results; a final result is never replaced (the first final
// result of a task wins, as a client keeps the first one it sees).
func (w *writer) store(x *wtx, rs []broker.Result) error {
	if len(rs) == 0 {
		return nil
	}
	expires := time.Now().Add(w.t.opts.ResultExpires).UnixMilli()
	for _, r := range rs {
		res, err := x.exec(qInsertResult, r.TaskID, r.ReplyTo, r.State, r.Body, expires)
		if err != nil {
			return fmt.Errorf("queue: store result of %s: %w", r.TaskID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			continue // the usual case: the first result of the task
		}
		// One is there: a non-final one is replaced (a new seq, so that
		// followers see it), a final one stays.
		res, err = x.exec(qDropOpenResult, r.TaskID)
		if err != nil {
			return fmt.Errorf("queue: store result of %s: %w", r.TaskID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if _, err := x.exec(qInsertResult, r.TaskID, r.ReplyTo, r.State, r.Body, expires); err != nil {
				return fmt.Errorf("queue: store result of %s: %w", r.TaskID, err)
			}
		}
	}
	return nil
}

var errLeaseLost = fmt.Errorf("%w: the message was claimed again after its visibility timeout", broker.ErrLeaseLost)

func (w *writer) settle(x *wtx, s *settleOp) error {
	var res sql.Result
	var err error
	switch s.settle {
	case broker.Ack:
		res, err = x.exec(qAck, s.id, s.consumer)
	case broker.Release:
		at, scheduled := s.at, 1
		if now := nowMs(); at <= now {
			at, scheduled = now, 0
		}
		res, err = x.exec(qRelease,
			at, scheduled, s.id, s.consumer)
	case broker.Requeue:
		res, err = x.exec(qRequeue, nowMs(), s.id, s.consumer)
	default:
		return fmt.Errorf("queue: unknown settlement %d", s.settle)
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errLeaseLost
	}
	return nil
}

// claim promotes due delayed messages, then claims up to c.max ready ones
// of the queue for the consumer: highest priority first, then in the order
// they became visible.
func (w *writer) claim(x *wtx, c *claimOp) error {
	if _, err := x.exec(qPromote, c.now); err != nil {
		return err
	}
	rows, err := x.query(qClaim, c.consumer, c.lease, c.queue, c.now, c.max)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var m claimed
		if err := rows.Scan(&m.id, &m.priority, &m.started, &m.props, &m.body); err != nil {
			return err
		}
		c.got = append(c.got, m)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(c.got) > 0 {
		// RETURNING keeps no order: deliver as the claim chose.
		slices.SortFunc(c.got, func(a, b claimed) int {
			if a.priority != b.priority {
				return b.priority - a.priority
			}
			return cmp.Compare(a.id, b.id)
		})
		return nil
	}
	// Nothing ready: when might something be? (A hint for the wait.)
	var next sql.NullInt64
	rows, err = x.query(qNextVisible, c.queue)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&next); err != nil {
			return err
		}
	}
	c.next = next.Int64
	return nil
}

// beginImmediate takes the file's write lock (BEGIN IMMEDIATE: the writer's
// connection has _txlock=immediate and no busy timeout of its own). While
// another process holds it, it retries after 20 µs, doubling to 1 ms, up to
// timeout: SQLite's own busy handler sleeps a whole millisecond at least,
// which two processes trading the lock under load turn into stalls.
func beginImmediate(ctx context.Context, db *sql.DB, timeout time.Duration) (*sql.Tx, error) {
	deadline := time.Now().Add(timeout)
	pause := 20 * time.Microsecond
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return tx, err
		}
		time.Sleep(pause) // another process holds the write lock
		pause = min(2*pause, time.Millisecond)
	}
}

// isBusy reports SQLITE_BUSY (5) or SQLITE_LOCKED (6).
func isBusy(err error) bool {
	var se interface{ Code() int }
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == 5 || c == 6
	}
	return false
}
