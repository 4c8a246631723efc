package broker

import (
	"context"
	"time"
)

// Result is one task state as a result backend keeps it.
type Result struct {
	TaskID string
	// ReplyTo is the reply address of the client that waits (a task's
	// reply_to); backends that route results (rpc://) send them there,
	// backends keyed by task id keep it so a client can follow its own.
	ReplyTo string
	State   string // Celery state: SUCCESS, FAILURE, REVOKED, RETRY, STARTED
	// Body is Celery's result document:
	// {"task_id", "status", "result", "traceback", "children"}.
	Body []byte
}

// Final reports whether no other result follows a result in this state.
func Final(state string) bool {
	return state == "SUCCESS" || state == "FAILURE" || state == "REVOKED"
}

// ResultBackend is where results live, apart from where tasks travel: the
// reply queues of Celery's rpc:// protocol on RabbitMQ, a table of the
// embedded broker's file, Redis keys.
type ResultBackend interface {
	// Store records results durably. Workers use it when the backend is not
	// their transport's own (whose results go into Commit).
	Store(ctx context.Context, rs []Result) error
	// Subscribe opens the stream of results addressed to one client.
	Subscribe(ctx context.Context, opts SubscribeOptions) (Subscription, error)
	// Get returns the latest result stored for a task: ErrResultNotFound
	// when there is none (yet), ErrResultsNotStored when the backend keeps
	// none readable by id (rpc://: only the submitting client reads them).
	Get(ctx context.Context, taskID string) (Result, error)
}

// SubscribeOptions tune a subscription.
type SubscribeOptions struct {
	// Expires: a backend that allocates per-client storage (rpc:// reply
	// queues) drops it after this long unused (default 24h).
	Expires time.Duration
}

// Subscription receives the results addressed to one client.
type Subscription interface {
	// ReplyTo is the address tasks carry so their results come here.
	ReplyTo() string
	// Want asks for the results of tasks addressed elsewhere, or stored
	// before the subscription began; backends keyed by task id look them
	// up, routing backends (rpc://) cannot and ignore it.
	Want(ids ...string)
	// Results is closed when the subscription ends.
	Results() <-chan Result
	// Close ends the subscription and frees what it allocated.
	Close() error
}

// Watcher is implemented by subscriptions that hear only of the tasks they
// are told of, such as Celery's Redis backend (one channel per task): a
// client calls Watch with the id of each task it sends, before sending it.
type Watcher interface {
	Watch(ids ...string)
}

// ChordCounter is implemented by result backends that count the parts of
// chords as Celery's Redis backend does (on_chord_part_return): a worker
// adds the final result of each task of a chord's header; the one that
// completes the chord gets every part, in group order, and sends the
// chord's callback, then calls ChordDone. Adding the same part twice (a
// redelivery) counts it once.
type ChordCounter interface {
	ChordPart(ctx context.Context, p ChordPart) (parts []ChordPart, complete bool, err error)
	// ChordDone forgets a chord whose callback was sent.
	ChordDone(ctx context.Context, groupID string) error
}

// ChordPart is the final result of one task of a chord's header.
type ChordPart struct {
	GroupID string
	TaskID  string
	Index   *int   // its group_index; nil sorts last
	State   string // SUCCESS, FAILURE or REVOKED
	// Result is the result document's "result" field: the return value, or
	// the exception of a FAILURE or REVOKED.
	Result []byte
}
