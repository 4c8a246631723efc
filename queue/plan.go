package queue

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// A plan is what becomes of one delivery, decided as a value before
// anything is done: what to commit (results, messages, the settlement),
// which queues the messages need, and what to log and count. The worker
// performs it in one place (Worker.commit); the rules below are pure, so
// retries, chains, callbacks, errbacks and dead letters are table tests.
type plan struct {
	commit  broker.Commit
	declare []string // queues the published messages go to, declared first as Celery's producer would
	// chord is the part of a chord's header task that ended, to count (chord.go).
	chord *chordMember

	// For the log line and the metrics.
	id, name string
	state    celery.State // the task line's state; "" = no task line
	elapsed  time.Duration
	errText  string // the task's error
	retries  int    // RETRY: the number of the retry
	reason   string // REVOKED: why
	dead     *deadLetter
	event    event // what else happened

	// For Celery's events: the run's value, its exception, the signal of
	// a terminated run.
	value  any
	exc    *celery.RemoteError
	signal int
}

// deadLetter is why a delivery went to "<queue>.dead".
type deadLetter struct {
	kind   string // metric label: oversized, malformed, redelivered
	reason string
}

// event names the outcomes that log something other than a task line.
type event int

const (
	eventNone         event = iota
	eventUnregistered       // a task name this worker does not serve
	eventDone               // a redelivery of a run whose outcome is out already
	eventDelayed            // not due yet: back to the broker until its eta
	eventReleased           // not started (shutdown): back to the queue
)

// Header names dsys adds. Celery ignores headers it does not know.
const (
	// headerDeadReason says why a message was dead-lettered.
	headerDeadReason = "x-dsys-dead-reason"
	// headerPrefix starts every dsys header; retries do not inherit them.
	headerPrefix = "x-dsys-"
)

// holdETA: a task due within this is held by the worker until it is due;
// later ones go back to the broker until their time.
const holdETA = time.Second

// maxRetryBackoff caps exponential retry delays, as Celery's retry_backoff_max.
const maxRetryBackoff = 10 * time.Minute

// rules are the worker's decisions, configured once.
type rules struct {
	maxRedeliveries int // negative: none (the first counted redelivery is dead-lettered)
	maxMessageSize  int
	origin          string   // names the worker in the messages it sends
	queues          []string // the queues it consumes (declared already)
	newID           func() string
	// arity tells how many positional arguments a task of this worker
	// takes (-1: any), for errback calls; ok is false for tasks it does
	// not know.
	arity func(name string) (n int, ok bool)
}

func newRules(cfg *WorkerConfig, reg *Registry) *rules {
	return &rules{maxRedeliveries: cfg.MaxRedeliveries, maxMessageSize: cfg.MaxMessageSize,
		origin: cfg.Hostname, queues: cfg.Queues, newID: uuid.NewString, arity: reg.arity}
}

// messageID finds a task id in a message without decoding its body.
func messageID(m *broker.Message) string {
	if id, ok := m.Headers["id"].(string); ok && id != "" {
		return id
	}
	return m.CorrelationID
}

// admit decides about a delivery before its body is decoded: an oversized
// message, one whose headers the transport could not read, or one
// redelivered more often than allowed, is dead-lettered and answered.
func (r *rules) admit(d *broker.Delivery) *plan {
	if len(d.Body) > r.maxMessageSize {
		reason := fmt.Sprintf("body of %d bytes exceeds max_message_size %d", len(d.Body), r.maxMessageSize)
		return r.refuse(d, "oversized", celery.Exception(kombuExceptions, "LimitExceeded", reason))
	}
	if reason, ok := d.Headers[broker.HeaderUnreadable].(string); ok {
		return r.refuse(d, "malformed", celery.Exception(kombuExceptions, "DecodeError", reason))
	}
	if d.Started > max(r.maxRedeliveries, 0) {
		// Celery's answer to a task whose worker process died.
		return r.refuse(d, "redelivered", celery.Exception("billiard.exceptions", "WorkerLostError",
			fmt.Sprintf("redelivered %d times (max_redeliveries %d): its worker keeps dying or disconnecting", d.Started, r.maxRedeliveries)))
	}
	return nil
}

// kombuExceptions is the module of the exceptions Celery raises for
// messages it cannot read.
const kombuExceptions = "kombu.exceptions"

// malformed dead-letters a message that does not decode, and answers its
// caller with the exception Celery would raise (see refuse).
func (r *rules) malformed(d *broker.Delivery, err error) *plan {
	reason, typ, kind := err.Error(), "DecodeError", "malformed"
	var bm *celery.BadMessageError
	if errors.As(err, &bm) {
		reason = bm.Reason
		if bm.Exception != "" {
			typ = bm.Exception
		}
		if typ == "LimitExceeded" { // a body too large once decompressed
			kind = "oversized"
		}
	}
	return r.refuse(d, kind, celery.Exception(kombuExceptions, typ, reason))
}

// refuse dead-letters a message no task is run for and, when it names a
// task id, answers its caller FAILURE with exc: a Celery client's .get()
// raises exc instead of waiting for ever. The message's body is not read:
// its id, name, reply-to and ignore_result come from its properties and
// headers.
func (r *rules) refuse(d *broker.Delivery, kind string, exc *celery.RemoteError) *plan {
	id := messageID(&d.Message)
	p := r.deadLetter(d, id, kind, exc.Message[0].(string))
	if id == "" {
		return p
	}
	task := &celery.Task{ID: id, ReplyTo: d.ReplyTo}
	task.Name, _ = d.Headers["task"].(string)
	task.IgnoreResult, _ = d.Headers["ignore_result"].(bool)
	p.name, p.exc = task.Name, exc
	p.commit.Results = r.errorResult(task, celery.StateFailure, exc)
	return p
}

func (r *rules) deadLetter(d *broker.Delivery, id, kind, reason string) *plan {
	return &plan{id: id, dead: &deadLetter{kind: kind, reason: reason},
		commit: broker.Commit{Publish: []broker.Publishing{{Queue: d.Queue + ".dead", Message: deadCopy(d, reason)}}}}
}

// deadCopy is d's message as it goes to the dead-letter queue: the reason
// in a header, persistent, never expiring.
func deadCopy(d *broker.Delivery, reason string) *broker.Message {
	cp := d.Message
	cp.Headers = cloneHeaders(d.Headers, 1)
	cp.Headers[headerDeadReason] = reason
	cp.Expiration = ""
	cp.Persistent = true
	return &cp
}

// done acks a redelivery of a run whose outcome this worker committed
// already (its batched ack was lost with the connection).
func (r *rules) done(id string) *plan {
	return &plan{id: id, event: eventDone}
}

// unregistered answers NotRegistered, as Celery does, and drops the message.
func (r *rules) unregistered(task *celery.Task) *plan {
	exc := celery.NotRegistered(task.Name)
	return &plan{id: task.ID, name: task.Name, state: celery.StateFailure, errText: "NotRegistered", event: eventUnregistered,
		commit: broker.Commit{Results: r.errorResult(task, celery.StateFailure, exc)}}
}

// expired answers REVOKED for a task received after its expiry.
func (r *rules) expired(task *celery.Task) *plan {
	return r.revoked(task, "expired")
}

// revoked answers REVOKED for a task that is not run: expired, revoked by
// remote control ("revoked"), or terminated while running ("terminated").
// The rest of its chain is answered REVOKED too, so that nobody waits on
// a task that will never run.
func (r *rules) revoked(task *celery.Task, reason string) *plan {
	exc := celery.Revoked(reason)
	p := &plan{id: task.ID, name: task.Name, state: celery.StateRevoked, reason: reason, exc: exc,
		commit: broker.Commit{Results: r.errorResult(task, celery.StateRevoked, exc)}}
	r.answerChain(p, task, celery.StateRevoked, exc)
	return p
}

// delay sends a task not due yet back to the broker until its eta, without
// counting a start: no worker holds it meanwhile.
func (r *rules) delay(task *celery.Task) *plan {
	return &plan{id: task.ID, name: task.Name, event: eventDelayed,
		commit: broker.Commit{Settle: broker.Release, At: task.ETA}}
}

// release puts back a task that was received and not started.
func (r *rules) release(id string) *plan {
	return &plan{id: id, event: eventReleased, commit: broker.Commit{Settle: broker.Release}}
}

// requeue gives up a running task (shutdown timeout): it comes back, counted.
func (r *rules) requeue(id, name string, elapsed time.Duration) *plan {
	return &plan{id: id, name: name, state: "REQUEUED", elapsed: elapsed, commit: broker.Commit{Settle: broker.Requeue}}
}

// finished decides what a run's outcome causes: on success its result,
// callbacks, what a canvas task launches and the next step of its chain; a
// run terminated by remote control is REVOKED; on a failure a retry while
// retries are left (and the worker is not stopping; bad arguments are never
// retried), else the FAILURE, errbacks and the failure of the rest of its
// chain.
func (r *rules) finished(d *broker.Delivery, def *TaskDef, task *celery.Task, value any, runErr error,
	elapsed time.Duration, stopping bool, now time.Time) *plan {
	p := &plan{id: task.ID, name: task.Name, elapsed: elapsed}
	var l *launch
	if x, ok := value.(*launch); ok && runErr == nil {
		l, value = x, x.result
	}
	if runErr == nil {
		body, raw, err := celery.SuccessResult(task.ID, value)
		if err == nil {
			p.state, p.value = celery.StateSuccess, value
			p.commit.Results = r.result(task, celery.StateSuccess, body)
			if l != nil {
				r.launchAfter(p, d.Queue, l, task, now)
			}
			r.followUps(p, d.Queue, task, value, nil, now)
			r.chord(p, task, raw)
			return p
		}
		runErr = celery.Exception("kombu.exceptions", "EncodeError",
			fmt.Sprintf("result of %s is not JSON-encodable: %v", task.Name, err))
	}
	var term *Terminated
	if errors.As(runErr, &term) {
		rp := r.revoked(task, "terminated")
		rp.elapsed, rp.signal = elapsed, term.Signal
		return rp
	}
	exc := r.remoteError(runErr, def, task)
	p.errText, p.exc = exc.Error(), exc
	// Bad arguments are the caller's mistake, not poison: a TypeError, as
	// Celery answers, acknowledged, and never retried (it would fail again).
	retriable := !errors.Is(runErr, ErrSkipRetry) && !errors.Is(runErr, ErrBadArgs)
	if def.Retries > task.Retries && retriable && !stopping {
		if next, err := r.retryMessage(d, def, task, now); err == nil {
			p.state, p.retries = celery.StateRetry, task.Retries+1
			p.commit.Results = r.errorResult(task, celery.StateRetry, exc)
			p.commit.Publish = []broker.Publishing{next}
			return p
		}
		// A task that cannot be re-encoded fails now.
	}
	p.state = celery.StateFailure
	p.commit.Results = r.errorResult(task, celery.StateFailure, exc)
	r.followUps(p, d.Queue, task, nil, exc, now)
	r.chord(p, task, resultField(celery.ErrorResult(task.ID, celery.StateFailure, exc, "")))
	return p
}

// retryMessage re-publishes the task with retries+1, parent_id = its id,
// after the backoff: RetryBackoff doubled per retry, capped.
func (r *rules) retryMessage(d *broker.Delivery, def *TaskDef, task *celery.Task, now time.Time) (broker.Publishing, error) {
	next := *task
	next.Retries++
	next.ParentID = task.ID
	next.Headers = nil
	for k, v := range task.Headers {
		if !strings.HasPrefix(k, headerPrefix) && !strings.HasPrefix(k, "x-death") && !strings.HasPrefix(k, "x-first-death-") {
			if next.Headers == nil {
				next.Headers = map[string]any{}
			}
			next.Headers[k] = v
		}
	}
	next.ETA = time.Time{}
	if def.RetryBackoff > 0 {
		delay := def.RetryBackoff << min(task.Retries, 20)
		if delay > maxRetryBackoff || delay <= 0 {
			delay = maxRetryBackoff
		}
		next.ETA = now.Add(delay)
	}
	if next.Lang == "" {
		next.Lang = "go"
	}
	m, err := celery.EncodeTask(&next)
	if err != nil {
		return broker.Publishing{}, err
	}
	m.Priority = d.Priority
	return broker.Publishing{Queue: d.Queue, Message: m, At: next.ETA}, nil
}

// followUps adds what Celery runs after a task: on success (exc nil) its
// callbacks (result prepended) and the next step of its chain; on failure
// its errbacks (see errbackArgs) and a FAILURE for every task left in its
// chain, so whoever waits on the chain's end hears of it.
func (r *rules) followUps(p *plan, queue string, task *celery.Task, value any, exc *celery.RemoteError, now time.Time) {
	if exc == nil {
		for i := range task.Callbacks {
			r.call(p, queue, &task.Callbacks[i], task, []any{value}, nil, now)
		}
		if n := len(task.Chain); n > 0 {
			r.call(p, queue, &task.Chain[n-1], task, []any{value}, task.Chain[:n-1], now)
		}
		return
	}
	for i := range task.Errbacks {
		eb := &task.Errbacks[i]
		r.call(p, queue, eb, task, r.errbackArgs(eb, task, queue, exc), nil, now)
	}
	r.answerChain(p, task, celery.StateFailure, exc)
}

// answerChain gives every task left in task's chain (the members of its
// groups included) the final state of task, when its caller named it (a
// task_id and a reply_to in its options).
func (r *rules) answerChain(p *plan, task *celery.Task, state celery.State, exc *celery.RemoteError) {
	for i := range task.Chain {
		task.Chain[i].Leaves(func(s *celery.Signature) {
			id, reply := s.Option("task_id"), s.Option("reply_to")
			if id == "" || reply == "" {
				return
			}
			p.commit.Results = append(p.commit.Results, r.errorResult(&celery.Task{ID: id, Name: s.Task, ReplyTo: reply}, state, exc)...)
		})
	}
}

// send adds the message of one task signature; one that cannot be encoded
// is skipped (and said so in the plan's error).
func (r *rules) send(p *plan, queue string, sig *celery.Signature, parent *celery.Task, partial []any, rest []celery.Signature, now time.Time) {
	t, q := sig.Call(parent, partial, rest, now, r.origin)
	if t.ID == "" {
		t.ID = r.newID()
	}
	if q == "" {
		q = queue
	}
	m, err := celery.EncodeTask(t)
	if err != nil {
		p.errText = strings.TrimSpace(p.errText + "; follow-up " + sig.Task + " not sent: " + err.Error())
		return
	}
	if q != queue && !slices.Contains(r.queues, q) && !slices.Contains(p.declare, q) {
		p.declare = append(p.declare, q)
	}
	p.commit.Publish = append(p.commit.Publish, broker.Publishing{Queue: q, Message: m, At: t.ETA})
}

// result is the task's result for the backend, unless it ignores results.
func (r *rules) result(task *celery.Task, state celery.State, body []byte) []broker.Result {
	if task.IgnoreResult {
		return nil
	}
	return []broker.Result{{TaskID: task.ID, ReplyTo: task.ReplyTo, State: string(state), Body: body}}
}

// errorResult is the result of a failure: every FAILURE and RETRY carries a
// traceback (see traceback) for AsyncResult.traceback.
func (r *rules) errorResult(task *celery.Task, state celery.State, exc *celery.RemoteError) []broker.Result {
	if task.IgnoreResult {
		return nil
	}
	tb := exc.Traceback
	if tb == "" && (state == celery.StateFailure || state == celery.StateRetry) {
		tb = traceback(r.origin, task, exc, "")
	}
	return r.result(task, state, celery.ErrorResult(task.ID, state, exc, tb))
}

// remoteError maps a task's error to the exception Celery clients see.
func remoteError(err error, def *TaskDef, task *celery.Task) *celery.RemoteError {
	var re *celery.RemoteError
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, ErrTimeLimit):
		hard, _ := timeLimits(def, task)
		return &celery.RemoteError{Type: "TimeLimitExceeded", Module: "billiard.exceptions", Message: []any{hard.Seconds()},
			Traceback: err.Error()}
	case errors.Is(err, ErrSoftTimeLimit):
		return &celery.RemoteError{Type: "SoftTimeLimitExceeded", Module: "billiard.exceptions",
			Message: []any{task.SoftTimeLimit.Seconds()}, Traceback: err.Error()}
	case errors.Is(err, ErrBadArgs):
		msg := strings.TrimPrefix(err.Error(), ErrBadArgs.Error()+": ")
		return &celery.RemoteError{Type: "TypeError", Module: "builtins", Message: []any{msg}, Traceback: err.Error()}
	}
	return &celery.RemoteError{Type: "TaskError", Module: celery.ErrorModule, Message: []any{err.Error()}, Traceback: err.Error()}
}

func cloneHeaders(h map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(h)+extra)
	for k, v := range h {
		out[k] = v
	}
	return out
}
