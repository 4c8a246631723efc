package celery

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Kind is what a signature stands for in Celery's canvas.
type Kind int

const (
	// KindTask is one task call.
	KindTask Kind = iota
	// KindGroup is group(...): its members run in parallel, each with the
	// partial arguments prepended (Celery's "celery.group", subtask_type
	// "group").
	KindGroup
	// KindChain is chain(...): the first member runs, the rest follow it
	// ("celery.chain", subtask_type "chain").
	KindChain
	// KindChord is chord(header, body), which needs a result backend that
	// counts the header's results ("celery.chord", subtask_type "chord").
	KindChord
)

// Kind tells a group, a chain or a chord from a plain task call, by its
// subtask_type or, failing that, its task name.
func (s *Signature) Kind() Kind {
	typ := ""
	if s.SubtaskType != nil {
		typ = *s.SubtaskType
	}
	switch {
	case typ == "group" || typ == "" && s.Task == "celery.group":
		return KindGroup
	case typ == "chain" || typ == "" && s.Task == "celery.chain":
		return KindChain
	case typ == "chord" || typ == "" && s.Task == "celery.chord":
		return KindChord
	}
	return KindTask
}

// Members returns the signatures of a group or a chain (its "tasks"
// keyword argument), in order.
func (s *Signature) Members() ([]Signature, error) {
	return SignatureList(s.Kwargs["tasks"])
}

// SignatureList reads a list of signatures in Celery's dict form, as the
// JSON decoder gives them (a single dict is a list of one).
func SignatureList(v any) ([]Signature, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		list = []any{x}
	case []any:
		list = x
	default:
		return nil, fmt.Errorf("want a list of signatures, got %T", v)
	}
	out := make([]Signature, 0, len(list))
	for i, e := range list {
		s, err := SignatureOf(e)
		if err != nil {
			return nil, fmt.Errorf("signature %d: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// SignatureOf reads one signature in Celery's dict form: {"task", "args",
// "kwargs", "options", "subtask_type", "immutable"}.
func SignatureOf(v any) (Signature, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Signature{}, fmt.Errorf("want a signature (an object with a task name), got %T", v)
	}
	var s Signature
	s.Task, _ = m["task"].(string)
	if s.Task == "" {
		return Signature{}, fmt.Errorf("signature without a task name")
	}
	var bad string
	if a, ok := m["args"]; ok && a != nil {
		if s.Args, ok = a.([]any); !ok {
			bad = "args"
		}
	}
	if k, ok := m["kwargs"]; ok && k != nil {
		if s.Kwargs, ok = k.(map[string]any); !ok {
			bad = "kwargs"
		}
	}
	if o, ok := m["options"]; ok && o != nil {
		if s.Options, ok = o.(map[string]any); !ok {
			bad = "options"
		}
	}
	if bad != "" {
		return Signature{}, fmt.Errorf("signature %s: %s of the wrong type", s.Task, bad)
	}
	if t, ok := m["subtask_type"].(string); ok {
		s.SubtaskType = &t
	}
	s.Immutable, _ = m["immutable"].(bool)
	return s, nil
}

// Leaves calls fn for every task call a signature stands for: itself, or
// the members of its groups and chains, recursively (a chord's header and
// body). Failure propagation uses it to answer whoever waits on any of
// them.
func (s *Signature) Leaves(fn func(*Signature)) {
	s.leaves(fn, 0)
}

// maxCanvasDepth bounds the nesting of groups and chains a worker follows.
const maxCanvasDepth = 32

func (s *Signature) leaves(fn func(*Signature), depth int) {
	if depth > maxCanvasDepth {
		return
	}
	switch s.Kind() {
	case KindGroup, KindChain:
		members, err := s.Members()
		if err != nil {
			return
		}
		for i := range members {
			members[i].leaves(fn, depth+1)
		}
	case KindChord:
		if header, err := SignatureList(s.Kwargs["header"]); err == nil {
			for i := range header {
				header[i].leaves(fn, depth+1)
			}
		}
		if body, err := SignatureOf(s.Kwargs["body"]); err == nil {
			body.leaves(fn, depth+1)
		}
	default:
		fn(s)
	}
}

// FormatTime is Python's isoformat() of an aware UTC time, as Celery's
// messages and events carry times.
func FormatTime(t time.Time) string { return t.UTC().Format(isoLayout) }

// Request is the task's request as the dict Celery's task.request holds:
// what a new-style errback gets as its first argument. queue is where the
// task came from, hostname the worker that ran it.
func (t *Task) Request(queue, hostname string) map[string]any {
	args, kwargs := t.Args, t.Kwargs
	if args == nil {
		args = []any{}
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	var groupIndex any
	if t.GroupIndex != nil {
		groupIndex = json.Number(strconv.Itoa(*t.GroupIndex))
	}
	return map[string]any{
		"id": t.ID, "task": t.Name, "args": args, "kwargs": kwargs,
		"root_id": nilIfEmpty(t.RootID), "parent_id": nilIfEmpty(t.ParentID),
		"group": nilIfEmpty(t.Group), "group_index": groupIndex,
		"retries": json.Number(strconv.Itoa(t.Retries)), "eta": isoOrNil(t.ETA), "expires": isoOrNil(t.Expires),
		"hostname": hostname, "origin": nilIfEmpty(t.Origin), "reply_to": nilIfEmpty(t.ReplyTo),
		"correlation_id": t.ID, "ignore_result": t.IgnoreResult, "is_eager": false,
		"delivery_info": map[string]any{"exchange": "", "routing_key": queue,
			"priority": json.Number(strconv.Itoa(int(t.Priority))), "redelivered": false},
	}
}

// Document is the exception as Celery's result documents carry it:
// {"exc_type", "exc_message", "exc_module"}, which Python's
// app.backend.exception_to_python rebuilds.
func (e *RemoteError) Document() map[string]any {
	msg, module := e.parts()
	return map[string]any{"exc_type": e.Type, "exc_message": msg, "exc_module": module}
}

// parts are the exception's arguments (never null) and module (Go's own
// when unset), as its documents carry them.
func (e *RemoteError) parts() ([]any, string) {
	msg := e.Message
	if msg == nil {
		msg = []any{}
	}
	module := e.Module
	if module == "" {
		module = ErrorModule
	}
	return msg, module
}
