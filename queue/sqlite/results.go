package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/queue/broker"
)

// results is the embedded broker's result backend: the results table of
// the same file. A worker's results commit with the settlement of their
// task (Commit); Store is for other writers.
type results struct {
	t    *Transport
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

// Store implements broker.ResultBackend.
func (r *results) Store(ctx context.Context, rs []broker.Result) error {
	if err := r.t.checkOpen(); err != nil {
		return err
	}
	o := r.t.wr.submit(&op{results: rs, wake: true})
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get implements broker.ResultBackend: the latest stored result of a task,
// as often as asked, until it expires.
func (r *results) Get(ctx context.Context, id string) (broker.Result, error) {
	res := broker.Result{TaskID: id}
	err := r.t.r.QueryRowContext(ctx, "SELECT reply_to, state, body FROM results WHERE task_id = ? AND expires_at > ?", id, nowMs()).
		Scan(&res.ReplyTo, &res.State, &res.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return broker.Result{}, fmt.Errorf("%w: task %s", broker.ErrResultNotFound, id)
	}
	if err != nil {
		return broker.Result{}, fmt.Errorf("queue: result of %s: %w", id, err)
	}
	return res, nil
}

// Subscribe implements broker.ResultBackend: the subscription follows the
// results addressed to its reply address as they are stored, and looks up
// the tasks it is asked to Want.
func (r *results) Subscribe(ctx context.Context, _ broker.SubscribeOptions) (broker.Subscription, error) {
	if err := r.t.checkOpen(); err != nil {
		return nil, err
	}
	s := &subscription{r: r, replyTo: "sqlite-" + uuid.NewString(), out: make(chan broker.Result, 256),
		stop: make(chan struct{}), done: make(chan struct{}), wants: map[string]bool{}, kick: make(chan struct{}, 1)}
	// Start after the newest result: earlier ones are not ours.
	if err := r.t.r.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM results").Scan(&s.seq); err != nil {
		return nil, fmt.Errorf("queue: subscribe to results: %w", err)
	}
	r.mu.Lock()
	if r.subs == nil {
		r.subs = map[*subscription]struct{}{}
	}
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	go s.run()
	return s, nil
}

func (r *results) closeAll() {
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

type subscription struct {
	r       *results
	replyTo string
	out     chan broker.Result
	seq     int64 // results seen up to this seq

	mu    sync.Mutex
	wants map[string]bool // looked up by id until found final
	kick  chan struct{}

	once sync.Once
	stop chan struct{}
	done chan struct{}
}

func (s *subscription) ReplyTo() string               { return s.replyTo }
func (s *subscription) Results() <-chan broker.Result { return s.out }

// Want implements broker.Subscription.
func (s *subscription) Want(ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		s.wants[id] = true
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close implements broker.Subscription.
func (s *subscription) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.r.mu.Lock()
		delete(s.r.subs, s)
		s.r.mu.Unlock()
	})
	return nil
}

func (s *subscription) run() {
	defer close(s.done)
	defer close(s.out)
	timer := time.NewTimer(safetyPoll)
	defer timer.Stop()
	notified := false
	for {
		changed := s.r.t.note.wait()
		more, err := s.poll()
		if err != nil && !errors.Is(err, context.Canceled) {
			s.r.t.log.Warn("queue: reading results failed; retrying", "err", err)
		}
		if more {
			continue
		}
		wait := safetyPoll
		if notified {
			wait, notified = settleDelay, false
		}
		timer.Reset(wait)
		select {
		case <-changed:
			notified = true
		case <-s.kick:
		case <-timer.C:
		case <-s.stop:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// pollBatch bounds the results read at once.
const pollBatch = 1000

// poll reads new results for the reply address and those wanted; more
// tells that a full batch was read.
func (s *subscription) poll() (more bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	rows, err := s.r.t.r.QueryContext(ctx, "SELECT seq, task_id, state, body FROM results WHERE reply_to = ? AND seq > ? ORDER BY seq LIMIT ?",
		s.replyTo, s.seq, pollBatch)
	if err != nil {
		return false, err
	}
	var got []broker.Result
	for rows.Next() {
		r := broker.Result{ReplyTo: s.replyTo}
		if err := rows.Scan(&s.seq, &r.TaskID, &r.State, &r.Body); err != nil {
			rows.Close()
			return false, err
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	more = len(got) == pollBatch
	s.mu.Lock()
	ids := make([]any, 0, len(s.wants))
	for id := range s.wants {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	if len(ids) > 0 {
		q := "SELECT task_id, reply_to, state, body FROM results WHERE task_id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
		rows, err := s.r.t.r.QueryContext(ctx, q, ids...)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var r broker.Result
			if err := rows.Scan(&r.TaskID, &r.ReplyTo, &r.State, &r.Body); err != nil {
				rows.Close()
				return false, err
			}
			if !broker.Final(r.State) {
				continue // waiters want the final one
			}
			s.mu.Lock()
			delete(s.wants, r.TaskID)
			s.mu.Unlock()
			if r.ReplyTo != s.replyTo { // ours come through the tail
				got = append(got, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, err
		}
	}
	for _, r := range got {
		select {
		case s.out <- r:
		case <-s.stop:
			return false, nil
		}
	}
	return more, nil
}
