package queue

import (
	"errors"

	"github.com/dsys-dev/dsys/queue/broker"
)

// Sentinel errors callers branch on. The transport's are re-exported, so a
// caller of the engine needs no other package to tell them apart.
var (
	// ErrUnreachable: the broker cannot be reached (the CLI exits 3).
	ErrUnreachable = broker.ErrUnreachable
	// ErrAuth: the broker refused the credentials (the CLI exits 2).
	ErrAuth = broker.ErrAuth
	// ErrClosed: the broker, client or consumer was closed.
	ErrClosed = broker.ErrClosed
	// ErrQueueNotFound: the queue does not exist.
	ErrQueueNotFound = broker.ErrQueueNotFound
	// ErrBadArgs: a task was called with the wrong number or type of
	// arguments. Task functions wrap it; the worker dead-letters the
	// message and answers TypeError.
	ErrBadArgs = errors.New("queue: bad task arguments")
	// ErrSkipRetry: wrapped by a task's error, the task fails at once
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
