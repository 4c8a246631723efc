package queue

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

// TaskFunc runs one task. Its context is cancelled at the soft time limit
// (cause ErrSoftTimeLimit), at the hard limit, and when the worker gives up
// on it during shutdown. The value it returns must be JSON-encodable; it is
// the task's result. Errors wrapping ErrBadArgs mark the message as poison;
// a *celery.RemoteError chooses the exception clients see; ErrSkipRetry disables
// retries.
type TaskFunc func(ctx context.Context, t *celery.Task) (any, error)

// TaskDef is a registered task.
type TaskDef struct {
	Name string
	Func TaskFunc
	// Timeout is the hard time limit when the message sets none (0 = none).
	Timeout time.Duration
	// Retries is how many times a failed run is retried (0 = never).
	Retries int
	// RetryBackoff is the delay before the first retry; each further retry
	// waits twice as long (capped at 10 minutes). 0 retries at once.
	RetryBackoff time.Duration
	// Arity is how many positional arguments the task takes, -1 for any
	// number (Python's *args); 0 = unknown. It decides how the task is
	// called as an errback, as Celery decides by a function's arity: one
	// taking at most one argument gets the failed task's id, any other
	// Celery's (request, exc, traceback).
	Arity int
}

// Registry maps task names to definitions; safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	defs map[string]*TaskDef
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]*TaskDef{}} }

// Register adds def; a duplicate name is an error.
func (r *Registry) Register(def TaskDef) error {
	if def.Name == "" {
		return fmt.Errorf("queue: register: empty task name")
	}
	if def.Func == nil {
		return fmt.Errorf("queue: register %s: nil function", def.Name)
	}
	if def.Retries < 0 || def.Timeout < 0 || def.RetryBackoff < 0 {
		return fmt.Errorf("queue: register %s: negative timeout, retries or retry_backoff", def.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[def.Name]; dup {
		return fmt.Errorf("queue: register %s: task already registered", def.Name)
	}
	d := def
	r.defs[def.Name] = &d
	return nil
}

// Lookup returns the definition of name, or nil.
func (r *Registry) Lookup(name string) *TaskDef {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.defs[name]
}

// arity reports a registered task's Arity; ok is false when the task is
// not registered or its arity unknown.
func (r *Registry) arity(name string) (int, bool) {
	def := r.Lookup(name)
	if def == nil || def.Arity == 0 {
		return 0, false
	}
	return def.Arity, true
}

// Names lists the registered task names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.defs))
	for n := range r.defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
