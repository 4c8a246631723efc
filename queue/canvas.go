package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/queue/celery"
)

// Celery's canvas, as a worker carries it out: the rules that send a
// group's members and a chain's steps after a task (instead of sending the
// group or chain as a task of its own, which no worker could run), the
// arguments of errbacks, and the canvas tasks every Celery worker hosts
// (celery.map, celery.starmap, celery.chunks, celery.group, celery.chain,
// celery.accumulate).

// maxCanvasDepth bounds the nesting of groups and chains a worker follows.
const maxCanvasDepth = 32

// call adds the messages a signature stands for after parent: a task call;
// for a group, its members, each with partial prepended; for a chain, its
// first task with the others following it. rest is the remainder of the
// parent's chain (next last, as Celery stores it).
func (r *rules) call(p *plan, queue string, sig *celery.Signature, parent *celery.Task, partial []any, rest []celery.Signature, now time.Time) {
	r.apply(p, queue, sig, parent, partial, rest, now, 0)
}

func (r *rules) apply(p *plan, queue string, sig *celery.Signature, parent *celery.Task, partial []any, rest []celery.Signature, now time.Time, depth int) {
	if depth > maxCanvasDepth {
		r.canvasError(p, sig, fmt.Errorf("nested deeper than %d groups and chains", maxCanvasDepth))
		return
	}
	switch sig.Kind() {
	case celery.KindGroup:
		members, err := sig.Members()
		if err != nil {
			r.canvasError(p, sig, err)
			return
		}
		gid := sig.Option("task_id")
		if gid == "" {
			gid = r.newID()
		}
		r.applyGroup(p, queue, gid, sig.Options, members, parent, partial, now, depth)
		if len(rest) > 0 {
			// Celery makes a group followed by more steps a chord, which
			// needs a result backend that counts the group's results.
			r.failSteps(p, parent, rest, celery.Exception("builtins", "NotImplementedError",
				"a group followed by more steps is a chord, which this worker does not run"))
		}
	case celery.KindChain:
		members, err := sig.Members()
		if err != nil || len(members) == 0 {
			if err == nil {
				err = fmt.Errorf("empty chain")
			}
			r.canvasError(p, sig, err)
			return
		}
		r.applyChain(p, queue, members, parent, partial, rest, now, depth)
	default:
		r.send(p, queue, sig, parent, partial, rest, now)
	}
}

// applyGroup sends a group's members: each takes the group's options over
// its own (as Celery merges them), group_id = gid, and partial prepended
// unless immutable; nested groups are unrolled.
func (r *rules) applyGroup(p *plan, queue, gid string, opts map[string]any, members []celery.Signature, parent *celery.Task, partial []any, now time.Time, depth int) {
	for i := range members {
		m := members[i]
		o := make(map[string]any, len(m.Options)+len(opts)+1)
		for k, v := range m.Options {
			o[k] = v
		}
		for k, v := range opts {
			if v == nil || k == "task_id" || k == "group_id" && o[k] != nil {
				continue
			}
			o[k] = v
		}
		if o["group_id"] == nil {
			o["group_id"] = gid
		}
		m.Options = o
		r.apply(p, queue, &m, parent, partial, nil, now, depth+1)
	}
}

// applyChain sends a chain's first task with the others (and then rest)
// as its chain.
func (r *rules) applyChain(p *plan, queue string, members []celery.Signature, parent *celery.Task, partial []any, rest []celery.Signature, now time.Time, depth int) {
	chain := slices.Clone(rest)
	for i := len(members) - 1; i >= 1; i-- {
		chain = append(chain, members[i])
	}
	r.apply(p, queue, &members[0], parent, partial, chain, now, depth+1)
}

// failSteps answers FAILURE for every named task of steps that will not run.
func (r *rules) failSteps(p *plan, parent *celery.Task, steps []celery.Signature, exc *celery.RemoteError) {
	r.answerChain(p, &celery.Task{ID: parent.ID, Chain: steps}, celery.StateFailure, exc)
	p.errText = strings.TrimSpace(p.errText + "; " + exc.Error())
}

// canvasError says in the plan's error that sig could not be sent, and
// answers whoever waits on its tasks.
func (r *rules) canvasError(p *plan, sig *celery.Signature, err error) {
	exc := celery.Exception("builtins", "TypeError", fmt.Sprintf("%s not sent: %v", sig.Task, err))
	r.failSteps(p, &celery.Task{}, []celery.Signature{*sig}, exc)
}

// launch is what a canvas task returns: its result, and the group or
// chain it sends, as part of its commit.
type launch struct {
	result  any
	kind    celery.Kind // KindGroup or KindChain
	group   string      // the group id
	members []celery.Signature
	partial []any
}

// launchAfter adds the messages of a canvas task's launch.
func (r *rules) launchAfter(p *plan, queue string, l *launch, parent *celery.Task, now time.Time) {
	if l.kind == celery.KindGroup {
		r.applyGroup(p, queue, l.group, nil, l.members, parent, l.partial, now, 0)
		return
	}
	if len(l.members) > 0 {
		r.applyChain(p, queue, l.members, parent, l.partial, nil, now, 0)
	}
}

// errbackArgs are the arguments an errback gets, as Celery decides: one
// taking at most one argument (a task of this worker whose arity says so)
// gets the failed task's id, as do groups of errbacks; any other Celery's
// new-style (request, exc, traceback). Across the wire they are JSON: the
// request as a dict of Celery's request fields, the exception as Celery's
// exception document ({"exc_type", "exc_message", "exc_module"}, which
// app.backend.exception_to_python rebuilds), the traceback as text.
func (r *rules) errbackArgs(eb *celery.Signature, task *celery.Task, queue string, exc *celery.RemoteError) []any {
	if eb.Kind() == celery.KindGroup {
		return []any{task.ID}
	}
	if r.arity != nil {
		if n, ok := r.arity(eb.Task); ok && n >= 0 && n <= 1 {
			return []any{task.ID}
		}
	}
	tb := exc.Traceback
	if tb == "" {
		tb = traceback(r.origin, task, exc, "")
	}
	return []any{task.Request(queue, r.origin), exc.Document(), tb}
}

// registerCanvas registers Celery's canvas tasks.
func registerCanvas(reg *Registry) error {
	defs := []TaskDef{
		{Name: "celery.accumulate", Func: accumulateTask, Arity: -1},
		{Name: "celery.map", Func: mapTask(reg, "celery.map", false), Arity: 2},
		{Name: "celery.starmap", Func: mapTask(reg, "celery.starmap", true), Arity: 2},
		{Name: "celery.chunks", Func: chunksTask, Arity: 3},
		{Name: "celery.group", Func: groupTask, Arity: 5},
		{Name: "celery.chain", Func: chainTask, Arity: -1},
	}
	for _, def := range defs {
		if reg.Lookup(def.Name) != nil {
			continue
		}
		if err := reg.Register(def); err != nil {
			return err
		}
	}
	return nil
}

// accumulateTask is celery.accumulate(*args, index=None): its arguments,
// or the one at index.
func accumulateTask(_ context.Context, t *celery.Task) (any, error) {
	args := t.Args
	if args == nil {
		args = []any{}
	}
	var index any
	for k, v := range t.Kwargs {
		if k != "index" {
			return nil, badArgs("accumulate() got an unexpected keyword argument '%s'", k)
		}
		index = v
	}
	if index == nil {
		return args, nil
	}
	i, ok := celery.AsInt(index)
	if !ok {
		return nil, badArgs("accumulate(): index must be an integer, got %s", jsonType(index))
	}
	if i < 0 {
		i += int64(len(args))
	}
	if i < 0 || i >= int64(len(args)) {
		return nil, errDeterministic(celery.Exception("builtins", "IndexError", "tuple index out of range"))
	}
	return args[i], nil
}

// mapTask is celery.map(task, it) or celery.starmap(task, it): the task
// run here, in this run, once per item (starmap: the item is its argument
// list), as Celery runs task.type(item); the list of their results.
func mapTask(reg *Registry, name string, star bool) TaskFunc {
	fn := strings.TrimPrefix(name, "celery.")
	return func(ctx context.Context, t *celery.Task) (any, error) {
		a, err := bindArgs(fn, []param{{name: "task"}, {name: "it"}}, t.Args, t.Kwargs)
		if err != nil {
			return nil, err
		}
		sig, err := celery.SignatureOf(a[0])
		if err != nil {
			return nil, badArgs("%s(): task: %v", fn, err)
		}
		items, ok := a[1].([]any)
		if !ok {
			return nil, badArgs("%s(): it: want a list, got %s", fn, jsonType(a[1]))
		}
		def := reg.Lookup(sig.Task)
		if def == nil {
			return nil, errDeterministic(celery.NotRegistered(sig.Task))
		}
		out := make([]any, 0, len(items))
		for i, item := range items {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			args := []any{item}
			if star {
				if args, ok = item.([]any); !ok {
					return nil, badArgs("%s(): it[%d]: want a list of arguments, got %s", fn, i, jsonType(item))
				}
			}
			sub := &celery.Task{ID: t.ID, Name: sig.Task, Args: args, RootID: t.RootID, ParentID: t.ParentID,
				Group: t.Group, Retries: t.Retries, Origin: t.Origin, Lang: t.Lang, Priority: t.Priority, Protocol: t.Protocol}
			v, err := def.Func(ctx, sub)
			if err != nil {
				return nil, err
			}
			if _, ok := v.(*launch); ok {
				return nil, badArgs("%s(): %s sends tasks of its own and cannot be mapped", fn, sig.Task)
			}
			out = append(out, v)
		}
		return out, nil
	}
}

// chunksTask is celery.chunks(task, it, n): it split into parts of n, each
// a celery.starmap of task, sent as one group; its result is the group's
// (Celery's GroupResult as a tuple).
func chunksTask(_ context.Context, t *celery.Task) (any, error) {
	a, err := bindArgs("chunks", []param{{name: "task"}, {name: "it"}, {name: "n"}}, t.Args, t.Kwargs)
	if err != nil {
		return nil, err
	}
	sig, err := celery.SignatureOf(a[0])
	if err != nil {
		return nil, badArgs("chunks(): task: %v", err)
	}
	items, ok := a[1].([]any)
	if !ok {
		return nil, badArgs("chunks(): it: want a list, got %s", jsonType(a[1]))
	}
	n, ok := celery.AsInt(a[2])
	if !ok || n < 1 {
		return nil, badArgs("chunks(): n: want a positive integer, got %v", a[2])
	}
	gid := uuid.NewString()
	var members []celery.Signature
	var ids []string
	for start := 0; start < len(items); start += int(n) {
		part := items[start:min(start+int(n), len(items))]
		id := uuid.NewString()
		opts := map[string]any{"task_id": id}
		if q, ok := sig.Options["queue"].(string); ok && q != "" {
			opts["queue"] = q
		}
		members = append(members, celery.Signature{Task: "celery.starmap", Immutable: true, Options: opts,
			Kwargs: map[string]any{"task": a[0], "it": part}})
		ids = append(ids, id)
	}
	return &launch{result: groupResultTuple(gid, ids), kind: celery.KindGroup, group: gid, members: members}, nil
}

// groupTask is celery.group: Celery's (tasks, result, group_id,
// partial_args, add_to_parent), or a group signature sent as a task, with
// its "tasks" keyword and the partial arguments as its arguments. The
// members are sent as one group; its result is the group's.
func groupTask(_ context.Context, t *celery.Task) (any, error) {
	var tasks, result any
	var gid string
	partial := t.Args
	if _, ok := t.Kwargs["tasks"]; ok && len(t.Kwargs) == 1 {
		tasks = t.Kwargs["tasks"]
	} else {
		a, err := bindArgs("group", []param{{name: "tasks"}, {name: "result", optional: true},
			{name: "group_id", optional: true}, {name: "partial_args", optional: true},
			{name: "add_to_parent", optional: true, def: true}}, t.Args, t.Kwargs)
		if err != nil {
			return nil, err
		}
		tasks, result = a[0], a[1]
		gid, _ = a[2].(string)
		partial, _ = a[3].([]any)
	}
	members, err := celery.SignatureList(tasks)
	if err != nil {
		return nil, badArgs("group(): tasks: %v", err)
	}
	if gid == "" {
		gid = uuid.NewString()
	}
	ids := withTaskIDs(members)
	if result == nil {
		result = groupResultTuple(gid, ids)
	}
	return &launch{result: result, kind: celery.KindGroup, group: gid, members: members, partial: partial}, nil
}

// chainTask is celery.chain sent as a task (Celery's own raises
// NotImplementedError): its "tasks" keyword is run as a chain, the
// arguments prepended to the first; its result is the last task's
// (Celery's AsyncResult as a tuple).
func chainTask(_ context.Context, t *celery.Task) (any, error) {
	for k := range t.Kwargs {
		if k != "tasks" {
			return nil, badArgs("chain() got an unexpected keyword argument '%s'", k)
		}
	}
	members, err := celery.SignatureList(t.Kwargs["tasks"])
	if err != nil {
		return nil, badArgs("chain(): tasks: %v", err)
	}
	if len(members) == 0 {
		return nil, badArgs("chain(): no tasks")
	}
	ids := withTaskIDs(members[len(members)-1:])
	return &launch{result: []any{[]any{ids[0], nil}, nil}, kind: celery.KindChain, members: members, partial: t.Args}, nil
}

// withTaskIDs gives each signature a task_id option (a copy of its
// options) when it has none, and returns the ids.
func withTaskIDs(sigs []celery.Signature) []string {
	ids := make([]string, len(sigs))
	for i := range sigs {
		id := sigs[i].Option("task_id")
		if id == "" {
			id = uuid.NewString()
			o := make(map[string]any, len(sigs[i].Options)+1)
			for k, v := range sigs[i].Options {
				o[k] = v
			}
			o["task_id"] = id
			sigs[i].Options = o
		}
		ids[i] = id
	}
	return ids
}

// groupResultTuple is Celery's GroupResult.as_tuple():
// [[group_id, parent], [[[id, parent], null], …]].
func groupResultTuple(gid string, ids []string) []any {
	children := make([]any, len(ids))
	for i, id := range ids {
		children[i] = []any{[]any{id, nil}, nil}
	}
	return []any{[]any{gid, nil}, children}
}

// CommandArity is the arity of a command task (TaskDef.Arity): one more
// than the highest positional placeholder {N} of its template, so that a
// command using only {0} is called as an errback with the failed task's
// id, as before, and one using {0} {1} {2} with (request, exc, traceback).
// A template with no positional placeholder has arity 0 (unknown).
func CommandArity(argv []string) int {
	n := 0
	for _, a := range argv {
		parts, err := parseTemplate(a)
		if err != nil {
			continue
		}
		for _, p := range parts {
			if p.index >= 0 && p.key == "" && p.lit == "" {
				n = max(n, p.index+1)
			}
		}
	}
	return n
}
