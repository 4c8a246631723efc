package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// maxRetryBackoff caps exponential retry delays, as Celery's retry_backoff_max.
const maxRetryBackoff = 10 * time.Minute

type outcome struct {
	v   any
	err error
}

// timeLimits returns the hard and soft limits of a run.
func timeLimits(def *TaskDef, task *Task) (hard, soft time.Duration) {
	hard = task.TimeLimit
	if def.Timeout > 0 && (hard == 0 || def.Timeout < hard) {
		hard = def.Timeout
	}
	return hard, task.SoftTimeLimit
}

// execute runs the task under its time limits. At the soft limit the task's
// context is cancelled with cause ErrSoftTimeLimit; at the hard limit the run
// is reported as TimeLimitExceeded at once (a Go function that ignores its
// context keeps running in the background until it returns; a command task
// is killed).
func (w *Worker) execute(def *TaskDef, task *Task) (any, error) {
	hard, soft := timeLimits(def, task)
	if hard <= 0 && soft <= 0 {
		// No limit to enforce: the worker's task context (cancelled when
		// the task is abandoned) is all the task needs.
		o := safeCall(w.taskCtx, def.Func, task)
		return o.v, o.err
	}
	ctx, cancel := context.WithCancelCause(w.taskCtx)
	defer cancel(nil)
	if soft > 0 {
		t := time.AfterFunc(soft, func() { cancel(ErrSoftTimeLimit) })
		defer t.Stop()
	}
	if hard <= 0 {
		o := safeCall(ctx, def.Func, task)
		return o.v, o.err
	}
	done := make(chan outcome, 1)
	go func() { done <- safeCall(ctx, def.Func, task) }()
	timer := time.NewTimer(hard)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.v, o.err
	case <-timer.C:
		cancel(ErrTimeLimit)
		return nil, fmt.Errorf("%w: %s", ErrTimeLimit, hard)
	}
}

// safeCall turns a panic into an error with its stack as traceback.
func safeCall(ctx context.Context, f TaskFunc, task *Task) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = outcome{err: &RemoteError{Type: "PanicError", Module: errorModule,
				Message: []any{fmt.Sprint(p)}, Traceback: fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack())}}
		}
	}()
	v, err := f(ctx, task)
	return outcome{v: v, err: err}
}

// remoteError maps a task's error to the exception Celery clients see.
func remoteError(err error, def *TaskDef, task *Task) *RemoteError {
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, ErrTimeLimit):
		hard, _ := timeLimits(def, task)
		return &RemoteError{Type: "TimeLimitExceeded", Module: "billiard.exceptions", Message: []any{hard.Seconds()},
			Traceback: err.Error()}
	case errors.Is(err, ErrSoftTimeLimit):
		return &RemoteError{Type: "SoftTimeLimitExceeded", Module: "billiard.exceptions",
			Message: []any{task.SoftTimeLimit.Seconds()}, Traceback: err.Error()}
	case errors.Is(err, ErrBadArgs):
		msg := strings.TrimPrefix(err.Error(), ErrBadArgs.Error()+": ")
		return &RemoteError{Type: "TypeError", Module: "builtins", Message: []any{msg}, Traceback: err.Error()}
	}
	return &RemoteError{Type: "TaskError", Module: errorModule, Message: []any{err.Error()}, Traceback: err.Error()}
}

// finish publishes the outcome of a run (result, retry, callbacks, chain,
// dead letter) and then settles the delivery.
func (w *Worker) finish(d *Delivery, def *TaskDef, task *Task, value any, runErr error, elapsed time.Duration) {
	if runErr == nil {
		raw, err := appendValue(nil, value)
		if err != nil {
			runErr = &RemoteError{Type: "EncodeError", Module: "kombu.exceptions",
				Message: []any{fmt.Sprintf("result of %s is not JSON-encodable: %v", task.Name, err)}}
		} else {
			out := []outgoing{w.resultTo(task, StateSuccess, raw, nil)}
			out = w.followUps(out, task, value, true, d.Queue)
			w.publishAndSettle(d, task, out, true)
			w.m.observe(def.Name, StateSuccess, elapsed)
			if w.log.Enabled(context.Background(), slog.LevelInfo) { // spare the arguments' allocations
				w.log.Info("task", "id", task.ID, "name", task.Name, "state", string(StateSuccess), "duration", elapsed)
			}
			return
		}
	}
	exc := remoteError(runErr, def, task)
	if errors.Is(runErr, ErrBadArgs) {
		out := []outgoing{w.resultTo(task, StateFailure, nil, exc), {queue: d.Queue + ".dead", m: deadCopy(d, exc.Error())}}
		w.log.Error("queue: dead-lettering message", "id", task.ID, "queue", d.Queue, "reason", exc.Error())
		w.publishAndSettle(d, task, out, true)
		w.m.incDeadLettered(d.Queue, "bad_args")
		w.m.observe(def.Name, StateFailure, elapsed)
		w.log.Info("task", "id", task.ID, "name", task.Name, "state", string(StateFailure), "duration", elapsed, "error", exc.Error())
		return
	}
	if def.Retries > task.Retries && !errors.Is(runErr, ErrSkipRetry) && !w.isStopping() {
		if w.retry(d, def, task, exc) {
			w.m.observe(def.Name, StateRetry, elapsed)
			w.log.Info("task", "id", task.ID, "name", task.Name, "state", string(StateRetry), "duration", elapsed,
				"retries", task.Retries+1, "error", exc.Error())
		}
		return
	}
	out := []outgoing{w.resultTo(task, StateFailure, nil, exc)}
	out = w.followUps(out, task, exc, false, d.Queue)
	w.publishAndSettle(d, task, out, true)
	w.m.observe(def.Name, StateFailure, elapsed)
	w.log.Info("task", "id", task.ID, "name", task.Name, "state", string(StateFailure), "duration", elapsed, "error", exc.Error())
}

// retry re-publishes the task with retries+1 after the backoff and sends
// the RETRY state.
func (w *Worker) retry(d *Delivery, def *TaskDef, task *Task, exc *RemoteError) bool {
	next := *task
	next.Retries++
	next.ParentID = task.ID
	next.Headers = nil
	for k, v := range task.Headers {
		if !strings.HasPrefix(k, "x-dsys-") && !strings.HasPrefix(k, "x-death") && k != "x-first-death-exchange" &&
			k != "x-first-death-queue" && k != "x-first-death-reason" {
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
		next.ETA = time.Now().Add(delay)
	}
	if next.Lang == "" {
		next.Lang = "go"
	}
	m, err := EncodeTask(&next)
	if err != nil {
		w.log.Error("queue: cannot re-encode task for retry", "id", task.ID, "err", err)
		return false
	}
	m.Priority = d.Priority
	out := []outgoing{w.resultTo(task, StateRetry, nil, exc), {queue: d.Queue, m: m, at: next.ETA}}
	return w.publishAndSettle(d, task, out, true)
}

// followUps appends what Celery runs after a task: on success its callbacks
// (result prepended) and the next task of its chain; on failure its errbacks
// (task id prepended) and a FAILURE for every task left in its chain, so
// whoever waits on the chain's end hears of it.
func (w *Worker) followUps(out []outgoing, task *Task, value any, ok bool, queue string) []outgoing {
	if ok {
		for i := range task.Callbacks {
			out = w.appendSig(out, &task.Callbacks[i], task, value, nil, queue)
		}
		if n := len(task.Chain); n > 0 {
			out = w.appendSig(out, &task.Chain[n-1], task, value, task.Chain[:n-1], queue)
		}
		return out
	}
	exc, _ := value.(*RemoteError)
	for i := range task.Errbacks {
		out = w.appendSig(out, &task.Errbacks[i], task, task.ID, nil, queue)
	}
	for i := range task.Chain {
		id := task.Chain[i].option("task_id")
		reply := task.Chain[i].option("reply_to")
		if id == "" || reply == "" || exc == nil {
			continue
		}
		out = append(out, w.resultTo(&Task{ID: id, ReplyTo: reply}, StateFailure, nil, exc))
	}
	return out
}

// appendSig turns a signature into a task message for the worker to publish.
func (w *Worker) appendSig(out []outgoing, sig *Signature, parent *Task, arg any, chain []Signature, queue string) []outgoing {
	t := &Task{ID: sig.option("task_id"), Name: sig.Task, Kwargs: sig.Kwargs, ReplyTo: sig.option("reply_to"),
		RootID: parent.RootID, ParentID: parent.ID, Lang: "go", Origin: w.cfg.Hostname, Chain: chain}
	if t.ID == "" {
		t.ID = newID()
	}
	if t.RootID == "" {
		t.RootID = parent.ID
	}
	if t.ReplyTo == "" {
		t.ReplyTo = parent.ReplyTo
	}
	t.Args = sig.Args
	if !sig.Immutable {
		t.Args = append([]any{arg}, sig.Args...)
	}
	opts := sig.Options
	if q, ok := opts["queue"].(string); ok && q != "" {
		queue = q
	} else if q, ok := opts["routing_key"].(string); ok && q != "" {
		queue = q
	}
	if f, ok := asFloat(opts["countdown"]); ok && f > 0 {
		t.ETA = time.Now().Add(time.Duration(f * float64(time.Second)))
	}
	if f, ok := asFloat(opts["time_limit"]); ok && f > 0 {
		t.TimeLimit = time.Duration(f * float64(time.Second))
	}
	if f, ok := asFloat(opts["soft_time_limit"]); ok && f > 0 {
		t.SoftTimeLimit = time.Duration(f * float64(time.Second))
	}
	if b, ok := opts["ignore_result"].(bool); ok {
		t.IgnoreResult = b
	}
	if p, ok := asInt(opts["priority"]); ok && p >= 0 && p <= 255 {
		t.Priority = uint8(p)
	}
	t.Callbacks = signaturesOption(opts["link"])
	t.Errbacks = signaturesOption(opts["link_error"])
	m, err := EncodeTask(t)
	if err != nil {
		w.log.Error("queue: cannot encode follow-up task", "parent", parent.ID, "task", sig.Task, "err", err)
		return out
	}
	if err := w.ensureQueue(queue); err != nil {
		w.log.Error("queue: cannot declare queue of follow-up task", "parent", parent.ID, "queue", queue, "err", err)
		return out
	}
	return append(out, outgoing{queue: queue, m: m, at: t.ETA})
}

// signaturesOption reads a "link"/"link_error" option: a dict or a list of dicts.
func signaturesOption(v any) []Signature {
	var list []any
	switch x := v.(type) {
	case map[string]any:
		list = []any{x}
	case []any:
		list = x
	default:
		return nil
	}
	var out []Signature
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		s := Signature{}
		s.Task, _ = m["task"].(string)
		if s.Task == "" {
			continue
		}
		s.Args, _ = m["args"].([]any)
		s.Kwargs, _ = m["kwargs"].(map[string]any)
		s.Options, _ = m["options"].(map[string]any)
		s.Immutable, _ = m["immutable"].(bool)
		out = append(out, s)
	}
	return out
}

// ensureQueue declares a queue follow-up tasks go to, as Celery's producer
// would, once per worker.
func (w *Worker) ensureQueue(name string) error {
	if slices.Contains(w.cfg.Queues, name) {
		return nil
	}
	if _, ok := w.declared.Load(name); ok {
		return nil
	}
	ctx := w.pubCtx()
	if err := w.b.Declare(ctx, QueueSpec{Name: name, Kind: TaskQueue}); err != nil {
		return err
	}
	w.declared.Store(name, true)
	return nil
}
