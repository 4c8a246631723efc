package celery

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadMessage: a message is not a valid Celery task (poison).
var ErrBadMessage = errors.New("queue: bad message")

// BadMessageError says why a message is poison. It wraps ErrBadMessage.
type BadMessageError struct {
	TaskID string // "" when the message does not say
	Reason string
	// Exception is the kombu exception Celery raises for such a message:
	// "ContentDisallowed" for a content type it does not accept, ""
	// (DecodeError) for anything else.
	Exception string
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

// disallowed is the BadMessageError of a message in a serialization Celery
// was not told to accept (kombu's ContentDisallowed).
func disallowed(id, format string, args ...any) error {
	return &BadMessageError{TaskID: id, Reason: fmt.Sprintf(format, args...), Exception: "ContentDisallowed"}
}

// RemoteError is a task failure as Celery reports it: the exception type,
// its arguments, its module and the traceback text. Clients return it for
// FAILURE and REVOKED results; task functions may return one to choose the
// exception Python clients see.
type RemoteError struct {
	Type      string // exc_type, e.g. "ValueError"
	Message   []any  // exc_message: the exception's args
	Module    string // exc_module, e.g. "builtins"
	Traceback string
	State     State // FAILURE or REVOKED (set when decoded from a result)
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

// ErrorModule is the exc_module of errors raised by Go code.
const ErrorModule = "dsys.errors"

// Exception builds a RemoteError a task can return to fail with a given
// exception type (module "builtins" for Python's own, like ValueError).
func Exception(module, typ string, args ...any) *RemoteError {
	return &RemoteError{Type: typ, Module: module, Message: args}
}

// NotRegistered is Celery's answer to a task name the worker does not serve.
func NotRegistered(name string) *RemoteError {
	return Exception("celery.exceptions", "NotRegistered", name)
}

// Revoked is Celery's answer to a revoked (e.g. expired) task.
func Revoked(reason string) *RemoteError {
	return Exception("celery.exceptions", "TaskRevokedError", reason)
}
