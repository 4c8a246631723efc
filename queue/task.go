package queue

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

// option returns a string option of the signature ("" if absent).
func (s *Signature) option(key string) string {
	v, _ := s.Options[key].(string)
	return v
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
