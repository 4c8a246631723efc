package compute

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// A Plan is a reduction cut into tasks that other processes compute from a
// description of the source (JobSpec: the operation, how to open or
// generate the input, never its data), and the place their partial states
// come back to: Add puts each task's partials together exactly as Reduce
// would — the same combine tree, finalised the same way — so the result
// has Reduce's bits whatever the order in which tasks finish.
//
// A task is one chunk of an array (random, .npy, raw), or a run of
// consecutive blocks of a text or CSV file cut where a local run cuts them.
// Inputs that another process cannot open by themselves (stdin, pipes,
// readers) cannot be planned.
type Plan struct {
	// Spec is what every task needs; it encodes as JSON.
	Spec JobSpec

	o     Options
	tasks int
	asm   assembler

	mu   sync.Mutex
	done []bool
	left int
}

// assembler is the source-specific half of a Plan: it checks and combines
// the pieces of each task and builds the result.
type assembler interface {
	// add takes task's pieces (Add has checked the task is new).
	add(task int, pieces [][]Partial) error
	// result is the finished result once every task is in.
	result() (*Result, error)
	// describe names task for messages: where its data lies.
	describe(task int) string
}

// planner is a Source that can be cut into tasks.
type planner interface {
	plan(ctx context.Context, o *Options, po PlanOptions) (*Plan, error)
}

// PlanOptions tunes how a reduction is cut into tasks.
type PlanOptions struct {
	// TaskBytes is the target amount of text or CSV data per task, in
	// whole blocks (0: DefaultTaskBytes). Array tasks are one chunk each.
	TaskBytes int
}

// DefaultTaskBytes is the text or CSV data a task covers by default.
const DefaultTaskBytes = 8 << 20

// NewPlan cuts o over src into tasks. It reads what a local run reads
// first (a .npy header, the first lines of a CSV file) and nothing else.
func NewPlan(ctx context.Context, src Source, o Options, po PlanOptions) (*Plan, error) {
	if o.DDOF < 0 {
		return nil, inputErr("ddof %d is negative", o.DDOF)
	}
	p, ok := src.(planner)
	if !ok {
		return nil, inputErr("%s cannot be cut into tasks for other processes", describeSource(src))
	}
	return p.plan(ctx, &o, po)
}

func describeSource(src Source) string {
	switch s := src.(type) {
	case *Text:
		return s.Name + " (text from a reader)"
	case *CSV:
		return s.Name + " (CSV from a reader)"
	}
	return fmt.Sprintf("a %T source", src)
}

// newPlan is a plan of n tasks put together by asm.
func newPlan(spec JobSpec, o *Options, n int, asm assembler) *Plan {
	return &Plan{Spec: spec, o: *o, tasks: n, asm: asm, done: make([]bool, n), left: n}
}

// Tasks is the number of tasks (0 when the input has no values to read).
func (p *Plan) Tasks() int { return p.tasks }

// Describe names task for messages: "chunk 17 (block 1,7 of 10×10)", or
// "chunk 2 (bytes 16777216-25165824)" of a text file.
func (p *Plan) Describe(task int) string {
	if task < 0 || task >= p.tasks {
		return fmt.Sprintf("chunk %d (not in the plan)", task)
	}
	return p.asm.describe(task)
}

// ErrTaskDone is returned by Add for a task already added (a task run
// twice: the first result counts).
var ErrTaskDone = errors.New("compute: task already added")

// Add puts task's partial states (RunTask's, decoded) into the result. Tasks
// may come in any order, from any goroutine; a task added twice returns
// ErrTaskDone and changes nothing.
func (p *Plan) Add(task int, pieces [][]Partial) error {
	p.mu.Lock()
	if task < 0 || task >= p.tasks {
		p.mu.Unlock()
		return fmt.Errorf("compute: task %d is not in the plan (%d tasks)", task, p.tasks)
	}
	if p.done[task] {
		p.mu.Unlock()
		return ErrTaskDone
	}
	p.done[task] = true
	p.left--
	p.mu.Unlock()
	if err := p.asm.add(task, pieces); err != nil {
		return fmt.Errorf("compute: %s: %w", p.asm.describe(task), err)
	}
	return nil
}

// Left is the number of tasks not added yet.
func (p *Plan) Left() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.left
}

// Result is the reduction's result once every task is added, checked as
// Reduce checks it (an empty input is an error for mean, min, max, var, std).
func (p *Plan) Result() (*Result, error) {
	if n := p.Left(); n > 0 {
		return nil, fmt.Errorf("compute: %d of %d tasks are missing", n, p.tasks)
	}
	r, err := p.asm.result()
	if err != nil {
		return nil, err
	}
	return checkResult(&p.o, r)
}

// checkResult is what Reduce refuses of a finished result.
func checkResult(o *Options, r *Result) (*Result, error) {
	if o.Op.emptyIsError() && r.hasEmpty.Load() {
		return nil, inputErr("empty input: %s needs at least one value", o.Op)
	}
	return r, nil
}

// checkPieces checks that there are n pieces, piece i holding want(i)
// partial states (or none, where empty(i)).
func checkPieces(pieces [][]Partial, n int, want func(i int) int, empty func(i int) bool) error {
	if len(pieces) != n {
		return fmt.Errorf("%d pieces of partial states, want %d", len(pieces), n)
	}
	for i, ps := range pieces {
		if w := want(i); len(ps) != w && (len(ps) != 0 || !empty(i)) {
			return fmt.Errorf("piece %d holds %d partial states, want %d", i, len(ps), w)
		}
	}
	return nil
}

// fixedResult is the assembler of a plan without tasks: its result is
// known already.
type fixedResult struct{ r *Result }

func (f fixedResult) add(int, [][]Partial) error { return errors.New("no task expected") }
func (f fixedResult) result() (*Result, error)   { return f.r, nil }
func (f fixedResult) describe(task int) string   { return fmt.Sprintf("chunk %d", task) }
