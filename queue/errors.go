package queue

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers branch on.
var (
	// ErrUnreachable: the broker cannot be reached (the CLI exits 3).
	ErrUnreachable = errors.New("queue: broker unreachable")
	// ErrClosed: the broker, client or consumer was closed.
	ErrClosed = errors.New("queue: broker closed")
	// ErrConnectionLost: the connection dropped before the broker confirmed a
	// publish; the message may or may not have been delivered.
	ErrConnectionLost = errors.New("queue: connection lost before confirm")
	// ErrNacked: the broker refused a publish.
	ErrNacked = errors.New("queue: publish not confirmed by broker")
	// ErrBadMessage: a message is not a valid Celery task (poison).
	ErrBadMessage = errors.New("queue: bad message")
	// ErrBadArgs: a task was called with the wrong number or type of
	// arguments. Handlers wrap it; the worker dead-letters the message and
	// answers TypeError.
	ErrBadArgs = errors.New("queue: bad task arguments")
	// ErrNotRegistered: no task of that name is registered on this worker.
	ErrNotRegistered = errors.New("queue: task not registered")
	// ErrSkipRetry: wrapped by a handler error, the task fails at once
	// instead of being retried.
	ErrSkipRetry = errors.New("queue: skip retry")
	// ErrSoftTimeLimit is the cause of a task context cancelled by its soft
	// time limit.
	ErrSoftTimeLimit = errors.New("queue: soft time limit exceeded")
	// ErrTimeLimit: the task ran past its hard time limit.
	ErrTimeLimit = errors.New("queue: time limit exceeded")
	// ErrTimeout: no result arrived in time (the CLI exits 3).
	ErrTimeout = errors.New("queue: timed out waiting for result")
)

// BadMessageError says why a delivery is poison. It wraps ErrBadMessage.
type BadMessageError struct {
	TaskID string // "" when the message does not say
	Reason string
}

func (e *BadMessageError) Error() string {
	if e.TaskID == "" {
		return "queue: bad message: " + e.Reason
	}
	return fmt.Sprintf("queue: bad message (task %s): %s", e.TaskID, e.Reason)
}

func (e *BadMessageError) Unwrap() error { return ErrBadMessage }

func badMessage(id, format string, args ...any) error {
	return &BadMessageError{TaskID: id, Reason: fmt.Sprintf(format, args...)}
}

// RemoteError is a task failure as Celery reports it: the exception type,
// its arguments, its module and the traceback text. Client.Wait returns it
// for FAILURE and REVOKED results; handlers may return one to choose the
// exception Python clients see.
type RemoteError struct {
	Type      string // exc_type, e.g. "ValueError"
	Message   []any  // exc_message: the exception's args
	Module    string // exc_module, e.g. "builtins"
	Traceback string
	State     State // FAILURE or REVOKED (set by the client)
}

func (e *RemoteError) Error() string {
	parts := make([]string, 0, len(e.Message))
	for _, m := range e.Message {
		if s, ok := m.(string); ok {
			parts = append(parts, s)
		} else {
			parts = append(parts, fmt.Sprint(m))
		}
	}
	msg := strings.Join(parts, ", ")
	if msg == "" {
		return e.Type
	}
	return e.Type + ": " + msg
}

// errorModule is the exc_module of errors raised by Go code.
const errorModule = "dsys.errors"

// Exception builds a RemoteError a handler can return to fail with a given
// exception type (module "builtins" for Python's own, like ValueError).
func Exception(module, typ string, args ...any) *RemoteError {
	return &RemoteError{Type: typ, Module: module, Message: args}
}

// ErrQueueNotFound: Inspect or Purge of a queue that does not exist.
var ErrQueueNotFound = errors.New("queue: no such queue")
