package queue

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

type outcome struct {
	v   any
	err error
}

// timeLimits returns the hard and soft limits of a run.
func timeLimits(def *TaskDef, task *celery.Task) (hard, soft time.Duration) {
	hard = task.TimeLimit
	if def.Timeout > 0 && (hard == 0 || def.Timeout < hard) {
		hard = def.Timeout
	}
	return hard, task.SoftTimeLimit
}

// execute runs the task under its time limits, in the run's context parent. At the soft limit the task's
// context is cancelled with cause ErrSoftTimeLimit; at the hard limit the run
// is reported as TimeLimitExceeded at once (a Go function that ignores its
// context keeps running in the background until it returns; a command task
// is killed).
func (w *Worker) execute(parent context.Context, def *TaskDef, task *celery.Task) (any, error) {
	hard, soft := timeLimits(def, task)
	if hard <= 0 && soft <= 0 {
		// No limit to enforce: the run's context (cancelled when the task
		// is abandoned or terminated) is all the task needs.
		o := safeCall(parent, def.Func, task)
		return o.v, o.err
	}
	ctx, cancel := context.WithCancelCause(parent)
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
func safeCall(ctx context.Context, f TaskFunc, task *celery.Task) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = outcome{err: &celery.RemoteError{Type: "PanicError", Module: celery.ErrorModule,
				Message: []any{fmt.Sprint(p)}, Traceback: fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack())}}
		}
	}()
	v, err := f(ctx, task)
	return outcome{v: v, err: err}
}
