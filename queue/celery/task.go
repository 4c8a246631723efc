package celery

import (
	"encoding/json"
	"time"
)

// Task is one task invocation: what a client submits and what a worker
// decodes from a Celery message (protocol v2, or v1 when reading).
// Argument values use JSON types: json.Number for numbers, string, bool,
// nil, []any and map[string]any.
type Task struct {
	ID     string // task id (a UUID); the client fills it when empty
	Name   string // registered task name, e.g. "tasks.add"
	Args   []any
	Kwargs map[string]any

	ETA     time.Time // earliest run time; zero = now
	Expires time.Time // after it the task is revoked; zero = never
	Retries int       // retries done so far

	TimeLimit     time.Duration // hard limit; 0 = none
	SoftTimeLimit time.Duration // soft limit; 0 = none

	RootID, ParentID string
	Group            string
	GroupIndex       *int
	Shadow           string
	IgnoreResult     bool
	ReplyTo          string // result queue; "" = nobody waits
	Priority         uint8
	Origin           string
	Lang             string

	Callbacks []Signature // run with the result prepended on success
	Errbacks  []Signature // run with the task id prepended on failure
	Chain     []Signature // the rest of a chain, next task LAST (as Celery stores it)
	Chord     json.RawMessage

	// Headers holds any other message headers; they are kept when the task
	// is re-published (retries, delays).
	Headers map[string]any

	Protocol int // 1 or 2: the protocol the message was read in
}

// Signature is a task call carried inside another message (a callback, an
// errback or a chain element), in Celery's dict form.
type Signature struct {
	Task        string         `json:"task"`
	Args        []any          `json:"args"`
	Kwargs      map[string]any `json:"kwargs"`
	Options     map[string]any `json:"options"`
	SubtaskType *string        `json:"subtask_type"`
	Immutable   bool           `json:"immutable"`
}

// Option returns a string option of the signature ("" if absent), such as
// "task_id" or "reply_to".
func (s *Signature) Option(key string) string {
	v, _ := s.Options[key].(string)
	return v
}

// Call is the task a signature stands for when a worker sends it after
// parent, as Celery's worker does: partial (the parent's result, or an
// errback's arguments) is prepended to the arguments unless the signature
// is immutable; rest is the remainder of a chain; the options (task_id,
// reply_to, queue or routing_key, countdown, time limits, ignore_result,
// priority, group_id, group_index, link, link_error) are applied. queue is
// "" when the signature names none (the parent's queue then). origin names
// the sender.
func (s *Signature) Call(parent *Task, partial []any, rest []Signature, now time.Time, origin string) (t *Task, queue string) {
	t = &Task{ID: s.Option("task_id"), Name: s.Task, Kwargs: s.Kwargs, ReplyTo: s.Option("reply_to"),
		RootID: parent.RootID, ParentID: parent.ID, Lang: "go", Origin: origin, Chain: rest}
	if t.RootID == "" {
		t.RootID = parent.ID
	}
	if t.ReplyTo == "" {
		t.ReplyTo = parent.ReplyTo
	}
	t.Args = s.Args
	if !s.Immutable && len(partial) > 0 {
		t.Args = append(append(make([]any, 0, len(partial)+len(s.Args)), partial...), s.Args...)
	}
	opts := s.Options
	if q, ok := opts["queue"].(string); ok && q != "" {
		queue = q
	} else if q, ok := opts["routing_key"].(string); ok && q != "" {
		queue = q
	}
	if f, ok := AsFloat(opts["countdown"]); ok && f > 0 {
		t.ETA = now.Add(time.Duration(f * float64(time.Second)))
	}
	if f, ok := AsFloat(opts["time_limit"]); ok && f > 0 {
		t.TimeLimit = time.Duration(f * float64(time.Second))
	}
	if f, ok := AsFloat(opts["soft_time_limit"]); ok && f > 0 {
		t.SoftTimeLimit = time.Duration(f * float64(time.Second))
	}
	if b, ok := opts["ignore_result"].(bool); ok {
		t.IgnoreResult = b
	}
	if p, ok := AsInt(opts["priority"]); ok && p >= 0 && p <= 255 {
		t.Priority = uint8(p)
	}
	if g, ok := opts["group_id"].(string); ok {
		t.Group = g
	}
	if i, ok := AsInt(opts["group_index"]); ok {
		gi := int(i)
		t.GroupIndex = &gi
	}
	t.Callbacks = signaturesOption(opts["link"])
	t.Errbacks = signaturesOption(opts["link_error"])
	return t, queue
}

// signaturesOption reads a "link"/"link_error" option: a dict or a list of
// dicts; entries that are not signatures are skipped.
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
		if s, err := SignatureOf(e); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// State is a Celery task state.
type State string

// The states a result message carries. PENDING is never sent.
const (
	StateSuccess State = "SUCCESS"
	StateFailure State = "FAILURE"
	StateRevoked State = "REVOKED"
	StateRetry   State = "RETRY"
	StateStarted State = "STARTED"
)

// Final reports whether no other result follows this one.
func (s State) Final() bool {
	return s == StateSuccess || s == StateFailure || s == StateRevoked
}
