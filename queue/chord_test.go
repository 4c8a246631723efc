package queue

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

func chordTask(t *testing.T, index int) *celery.Task {
	t.Helper()
	cb, err := json.Marshal(sig("tasks.tsum", "cb-id", false))
	if err != nil {
		t.Fatal(err)
	}
	i := index
	return &celery.Task{ID: "part-" + string(rune('a'+index)), Name: "add", ReplyTo: "rq", Group: "g1", GroupIndex: &i, Chord: cb,
		Args: []any{json.Number("1"), json.Number("2")}}
}

// A header task that ends, in any final state, is a part to count; a task
// outside a chord is not.
func TestChordPartOfFinishedHeaderTask(t *testing.T) {
	r := testRules()
	def := &TaskDef{Name: "add"}
	task := chordTask(t, 1)
	p := r.finished(delivery(t, task, 0), def, task, json.Number("3"), nil, 0, false, planNow)
	if p.chord == nil || p.chord.part.GroupID != "g1" || *p.chord.part.Index != 1 || p.chord.part.State != "SUCCESS" ||
		string(p.chord.part.Result) != "3" {
		t.Fatalf("success: chord part %+v", p.chord)
	}
	p = r.finished(delivery(t, task, 0), def, task, nil, errors.New("boom"), 0, false, planNow)
	if p.chord == nil || p.chord.part.State != "FAILURE" || !json.Valid(p.chord.part.Result) {
		t.Fatalf("failure: chord part %+v", p.chord)
	}
	if p = r.chordOf(r.expired(task), task); p.chord == nil || p.chord.part.State != "REVOKED" || !json.Valid(p.chord.part.Result) {
		t.Fatalf("expired: chord part %+v", p.chord)
	}
	plain := &celery.Task{ID: "x", Name: "add", ReplyTo: "rq"}
	if p = r.finished(delivery(t, plain, 0), def, plain, json.Number("3"), nil, 0, false, planNow); p.chord != nil {
		t.Fatalf("a task outside a chord has a chord part: %+v", p.chord)
	}
}

// The part that completes the chord sends the callback with the header's
// results in group order prepended; a failed part fails the callback.
func TestChordCallback(t *testing.T) {
	r := testRules()
	def := &TaskDef{Name: "add"}
	task := chordTask(t, 2)
	parts := []broker.ChordPart{{TaskID: "part-a", State: "SUCCESS", Result: []byte("1")},
		{TaskID: "part-b", State: "SUCCESS", Result: []byte("2.5")}, {TaskID: "part-c", State: "SUCCESS", Result: []byte(`"x"`)}}
	p := r.finished(delivery(t, task, 0), def, task, json.Number("3"), nil, 0, false, planNow)
	r.chordDone(p, parts, "q", planNow)
	if !p.chord.complete || len(p.commit.Publish) != 1 {
		t.Fatalf("complete chord: %+v", p.commit.Publish)
	}
	cb := decoded(t, p.commit.Publish[0])
	want := []any{[]any{json.Number("1"), json.Number("2.5"), "x"}}
	if cb.Name != "tasks.tsum" || cb.ID != "cb-id" || cb.ParentID != task.ID || !reflect.DeepEqual(cb.Args, want) {
		t.Fatalf("callback %s(%v) id %s parent %s", cb.Name, cb.Args, cb.ID, cb.ParentID)
	}

	p = r.finished(delivery(t, task, 0), def, task, json.Number("3"), nil, 0, false, planNow)
	failed := append([]broker.ChordPart(nil), parts...)
	failed[1] = broker.ChordPart{TaskID: "part-b", State: "FAILURE",
		Result: []byte(`{"exc_type": "ValueError", "exc_message": ["boom"], "exc_module": "builtins"}`)}
	r.chordDone(p, failed, "q", planNow)
	if len(p.commit.Publish) != 0 {
		t.Fatalf("failed chord sent its callback: %+v", p.commit.Publish)
	}
	last := p.commit.Results[len(p.commit.Results)-1]
	res := resultOf(t, last)
	if last.TaskID != "cb-id" || res.State != celery.StateFailure || res.Err.Type != "ChordError" ||
		res.Err.Error() != "ChordError: Dependency part-b raised ValueError('boom')" {
		t.Fatalf("failed chord: %s %+v", last.TaskID, res.Err)
	}
}
