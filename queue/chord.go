package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// A chord, chord(group(a, b, c), callback), reaches workers as the tasks of
// its header, each carrying the group's id, its index in the group and the
// callback's signature (the "chord" field of its embed). As Celery's
// workers do (backend.on_chord_part_return), the worker that finishes a
// header task adds its final result to the result backend's counters; the
// one that completes the chord sends the callback with every result, in
// group order, prepended to its arguments, or, when a part failed, fails
// the callback with ChordError. The backend counts (broker.ChordCounter),
// so dsys and Celery workers can share a chord's header.

// chordMember is a header task's part in its chord, as the plan carries it.
type chordMember struct {
	part     broker.ChordPart
	callback json.RawMessage // the callback's signature
	parent   *celery.Task    // the header task: the callback's parent
	complete bool            // this part completed the chord (its callback is in the plan)
}

// chord notes, for a task of a chord's header that ended (SUCCESS, FAILURE
// or REVOKED), the part the backend counts; result is the result document's
// "result" field (the value, or the exception).
func (r *rules) chord(p *plan, task *celery.Task, result []byte) {
	if task.Group == "" || len(task.Chord) == 0 || string(task.Chord) == "null" || !p.state.Final() {
		return
	}
	p.chord = &chordMember{part: broker.ChordPart{GroupID: task.Group, TaskID: task.ID, Index: task.GroupIndex,
		State: string(p.state), Result: result}, callback: task.Chord, parent: task}
}

// chordOf adds to a plan of a task not run (expired, revoked) its chord
// part, the exception of its result.
func (r *rules) chordOf(p *plan, task *celery.Task) *plan {
	if len(p.commit.Results) > 0 {
		r.chord(p, task, resultField(p.commit.Results[0].Body))
	} else {
		r.chord(p, task, resultField(celery.ErrorResult(task.ID, p.state, celery.Revoked(p.reason), "")))
	}
	return p
}

// chordDone plans the callback of the chord p's task completed; parts are
// the header's results in group order; queue is where the callback goes
// when its signature names none (the header task's queue, as on Celery's
// workers).
func (r *rules) chordDone(p *plan, parts []broker.ChordPart, queue string, now time.Time) {
	cm := p.chord
	cm.complete = true
	var sig celery.Signature
	if err := json.Unmarshal(cm.callback, &sig); err != nil || sig.Task == "" {
		p.errText = strings.TrimSpace(p.errText + "; chord callback not sent: its signature is unreadable")
		return
	}
	values := make([]any, 0, len(parts))
	for _, part := range parts {
		if part.State == string(celery.StateSuccess) {
			var v any
			if err := celery.DecodeJSON(part.Result, &v); err != nil {
				v = nil
			}
			values = append(values, v)
			continue
		}
		// A part failed: so does the callback, with its errbacks, as
		// Celery's chord_error_from_stack does.
		cb, _ := sig.Call(cm.parent, nil, nil, now, r.origin)
		exc := chordError(part)
		p.commit.Results = append(p.commit.Results, r.errorResult(cb, celery.StateFailure, exc)...)
		for i := range cb.Errbacks {
			r.call(p, queue, &cb.Errbacks[i], cb, r.errbackArgs(&cb.Errbacks[i], cb, queue, exc), nil, now)
		}
		return
	}
	r.call(p, queue, &sig, cm.parent, []any{values}, nil, now)
}

// chordError is Celery's ChordError for a part that failed:
// "Dependency <id> raised <exception>".
func chordError(part broker.ChordPart) *celery.RemoteError {
	what := part.State
	var exc struct {
		Type    string `json:"exc_type"`
		Message []any  `json:"exc_message"`
	}
	if json.Unmarshal(part.Result, &exc) == nil && exc.Type != "" {
		args := make([]string, len(exc.Message))
		for i, a := range exc.Message {
			if s, ok := a.(string); ok {
				args[i] = "'" + s + "'"
			} else {
				args[i] = fmt.Sprint(a)
			}
		}
		what = exc.Type + "(" + strings.Join(args, ", ") + ")"
	}
	msg := fmt.Sprintf("Dependency %s raised %s", part.TaskID, what)
	e := celery.Exception("celery.exceptions", "ChordError", msg)
	e.Traceback = "celery.exceptions.ChordError: " + msg
	return e
}

// resultField is the "result" field of a result document.
func resultField(doc []byte) []byte {
	var d struct {
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil
	}
	return d.Result
}

// countChord adds p's chord part to the result backend's counters and,
// when it completes the chord, plans the callback. False when counting
// failed: the delivery was requeued, to count again.
func (w *Worker) countChord(ctx context.Context, d *broker.Delivery, p *plan) bool {
	cc, ok := w.cfg.Results.(broker.ChordCounter)
	if !ok {
		w.log.Warn("queue: a task of a chord finished, but the result backend counts no chords: the chord's callback will not run (use a Redis result backend)",
			"id", p.id, "group", p.chord.part.GroupID)
		p.chord = nil
		return true
	}
	parts, complete, err := cc.ChordPart(ctx, p.chord.part)
	if err != nil {
		w.log.Warn("queue: counting a chord part failed; requeueing the task", "id", p.id, "group", p.chord.part.GroupID, "err", err)
		_ = d.Commit(ctx, broker.Commit{Settle: broker.Requeue})
		return false
	}
	if complete {
		w.rules.chordDone(p, parts, d.Queue, time.Now())
	}
	return true
}

// chordDone forgets a chord whose callback was committed.
func (w *Worker) chordDone(ctx context.Context, p *plan) {
	if cc, ok := w.cfg.Results.(broker.ChordCounter); ok {
		if err := cc.ChordDone(ctx, p.chord.part.GroupID); err != nil {
			w.log.Warn("queue: forgetting a completed chord failed (its keys expire)", "group", p.chord.part.GroupID, "err", err)
		}
	}
	w.log.Info("queue: chord complete", "group", p.chord.part.GroupID, "last", p.id)
}
