package broker

import "errors"

// Sentinel errors callers branch on. Transports wrap them with context.
var (
	// ErrUnreachable: the broker cannot be reached (the CLI exits 3).
	ErrUnreachable = errors.New("queue: broker unreachable")
	// ErrAuth: the broker refused the credentials or the virtual host (the
	// CLI exits 2: retrying cannot help, the configuration must change).
	ErrAuth = errors.New("queue: broker authentication failed")
	// ErrClosed: the transport, consumer or subscription was closed.
	ErrClosed = errors.New("queue: broker closed")
	// ErrConnectionLost: the connection dropped before the broker confirmed
	// a publish or a commit; it may or may not have taken effect, and a
	// delivery of that connection is redelivered.
	ErrConnectionLost = errors.New("queue: connection lost before confirm")
	// ErrNacked: the broker refused a publish.
	ErrNacked = errors.New("queue: publish not confirmed by broker")
	// ErrQueueNotFound: the queue does not exist.
	ErrQueueNotFound = errors.New("queue: no such queue")
	// ErrUnsettled: a commit's results and messages are durable, but its
	// settlement may not have reached the broker (the connection dropped
	// meanwhile): the message may come back, and a worker that remembers
	// committing it can drop it instead of running it again.
	ErrUnsettled = errors.New("queue: outcome stored, settlement lost with the connection")
	// ErrLeaseLost: a delivery's lease ran out and the message went to
	// another consumer; its commit did nothing.
	ErrLeaseLost = errors.New("queue: lease lost")
	// ErrResultNotFound: no result is stored for the task (yet).
	ErrResultNotFound = errors.New("queue: no result stored")
	// ErrResultsNotStored: the result backend keeps no results readable
	// by task id.
	ErrResultsNotStored = errors.New("queue: this result backend keeps no results readable by id")
)
