package compute

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// JobVersion is the version of JobSpec and of what a task computes. It
// changes whenever a task's partial states would change for the same spec
// (a new summation, a new generator), so that a worker never contributes
// bits computed differently from the client's own run.
const JobVersion = 1

// JobSpec is what a task needs to compute its partial states in another
// process: the operation and a description of the source, never its data.
// It encodes as JSON.
type JobSpec struct {
	Version    int        `json:"v"`
	Float      string     `json:"float"` // the client's FloatFlavor
	Op         string     `json:"op"`
	Axis       []int      `json:"axis,omitempty"` // in the input's axes, as given to Reduce
	DDOF       int        `json:"ddof,omitempty"`
	SkipNaN    bool       `json:"skipna,omitempty"`
	DaskCompat bool       `json:"dask_compat,omitempty"`
	Source     SourceSpec `json:"source"`
}

// SourceSpec describes a source so that another process can open it or
// generate it.
type SourceSpec struct {
	// Kind is random, npy, raw, text or csv.
	Kind string `json:"kind"`
	// Shape and Chunks (in the array's own axes) of an array.
	Shape  []int `json:"shape"`
	Chunks []int `json:"chunks"`
	// The random array's generator.
	Seed uint64 `json:"seed,omitempty"`
	Dist string `json:"dist,omitempty"`
	RNG  string `json:"rng,omitempty"`
	// A file: its absolute path (workers open the same path), its size as
	// the client saw it, and for arrays its dtype and order; a worker whose
	// file differs refuses the task.
	Path    string `json:"path,omitempty"`
	Size    int64  `json:"size,omitempty"`
	DType   string `json:"dtype,omitempty"`
	Fortran bool   `json:"fortran,omitempty"`
	// Stream is how a text or CSV file is cut into blocks.
	Stream *StreamSpec `json:"stream,omitempty"`
}

// StreamSpec places the blocks of a text or CSV file where a local run
// reads them: the data starts at Start, the first Read bytes were read
// before cutting (a CSV file's first lines), and then each read of Block
// bytes ends a block at its last separator (whitespace, or a newline for
// CSV and text columns). A task is PerTask consecutive blocks.
type StreamSpec struct {
	Start   int64 `json:"start"`
	Read    int64 `json:"read"`
	Block   int64 `json:"block"`
	Blocks  int   `json:"blocks"`
	PerTask int   `json:"per_task"`
	// Text: the 0-based field of each line, or -1 for every number.
	Column int `json:"column"`
	// CSV: the delimiter, the fields of a line and the reduced columns as
	// runs [from, to).
	Delimiter string   `json:"delimiter,omitempty"`
	Fields    int      `json:"fields,omitempty"`
	Columns   [][2]int `json:"columns,omitempty"`
}

// jobSpec is the spec of o over a source.
func jobSpec(o *Options, src SourceSpec) JobSpec {
	return JobSpec{Version: JobVersion, Float: FloatFlavor(), Op: o.Op.String(), Axis: o.Axis, DDOF: o.DDOF, SkipNaN: o.SkipNaN,
		DaskCompat: o.DaskCompat, Source: src}
}

// options are the spec's Options for one task on one goroutine.
func (s *JobSpec) options() (Options, error) {
	if s.Version != JobVersion {
		return Options{}, fmt.Errorf("compute: a job of version %d; this dsys computes version %d (run the same dsys release on the client and the workers)", s.Version, JobVersion)
	}
	if s.Float != FloatFlavor() {
		return Options{}, fmt.Errorf("compute: this worker (%s) rounds floating point differently from the client (%s): its chunks would not have the client's bits; run workers built for the client's architecture", FloatFlavor(), s.Float)
	}
	op, err := ParseOp(s.Op)
	if err != nil {
		return Options{}, err
	}
	return Options{Op: op, Axis: s.Axis, DDOF: s.DDOF, SkipNaN: s.SkipNaN, DaskCompat: s.DaskCompat, Workers: 1}, nil
}

// A TaskRunner computes tasks of plans made elsewhere, keeping what
// consecutive tasks of a job share: the position of a Dask-compatible
// generator's master stream, so that chunk k costs no replay of the k
// chunks before it. Safe for concurrent use; the zero value is ready.
type TaskRunner struct {
	mu     sync.Mutex
	random []cachedRandom // most recent last
	states sync.Pool      // *workerState: scratch memory, chunk buffers included
}

type cachedRandom struct {
	key string
	r   *Random
}

// randomCache is how many random arrays a TaskRunner keeps.
const randomCache = 4

// Run computes task of spec: one vector of partial states per piece (a
// chunk of an array; each block of a text or CSV task, empty where a block
// holds nothing), ready for Plan.Add on the client.
func (tr *TaskRunner) Run(ctx context.Context, spec *JobSpec, task int) ([][]Partial, error) {
	o, err := spec.options()
	if err != nil {
		return nil, err
	}
	w, _ := tr.states.Get().(*workerState)
	if w == nil {
		w = newWorkerState()
	}
	defer tr.states.Put(w)
	s := &spec.Source
	switch s.Kind {
	case "random":
		r, err := tr.randomOf(s)
		if err != nil {
			return nil, err
		}
		return onePiece(chunkPartials(ctx, r, task, o, w))
	case "npy", "raw":
		a, err := openArraySpec(s)
		if err != nil {
			return nil, err
		}
		defer a.Close()
		return onePiece(chunkPartials(ctx, a, task, o, w))
	case "text", "csv":
		return runStreamTask(ctx, s, task, o.Op.needs(), w)
	}
	return nil, fmt.Errorf("compute: unknown source kind %q", s.Kind)
}

func onePiece(vec []Partial, err error) ([][]Partial, error) {
	if err != nil {
		return nil, err
	}
	return [][]Partial{vec}, nil
}

// randomOf is the random array of s, shared by the tasks of a job.
func (tr *TaskRunner) randomOf(s *SourceSpec) (*Random, error) {
	key := fmt.Sprint(s.Shape, s.Chunks, s.Seed, s.Dist, s.RNG)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i, c := range tr.random {
		if c.key == key {
			tr.random = append(slices.Delete(tr.random, i, i+1), c)
			return c.r, nil
		}
	}
	dist, err := ParseDist(s.Dist)
	if err != nil {
		return nil, err
	}
	gen, err := ParseRNG(s.RNG)
	if err != nil {
		return nil, err
	}
	r, err := NewRandom(s.Shape, s.Chunks, s.Seed, dist, gen)
	if err != nil {
		return nil, err
	}
	if len(tr.random) == randomCache {
		tr.random = tr.random[1:]
	}
	tr.random = append(tr.random, cachedRandom{key, r})
	return r, nil
}

// openArraySpec opens the array file s describes and checks that it is the
// file the client read.
func openArraySpec(s *SourceSpec) (*ArrayFile, error) {
	fo := FileOptions{Chunks: s.Chunks}
	var (
		a   *ArrayFile
		err error
	)
	if s.Kind == "npy" {
		a, err = OpenNPY(s.Path, fo)
	} else {
		a, err = OpenRaw(s.Path, s.DType, s.Shape, fo)
	}
	if err != nil {
		return nil, err
	}
	var diff []string
	if a.size != s.Size {
		diff = append(diff, fmt.Sprintf("%d bytes here, %d on the client", a.size, s.Size))
	}
	if !slices.Equal(a.shape, s.Shape) || a.dtype.String() != s.DType || a.fortran != s.Fortran {
		diff = append(diff, fmt.Sprintf("shape (%s) of %s here, (%s) of %s on the client",
			FormatShape(a.shape), a.dtype, FormatShape(s.Shape), s.DType))
	}
	if diff != nil {
		a.Close()
		return nil, fileDiffers(s.Path, strings.Join(diff, "; "))
	}
	return a, nil
}

// fileDiffers is the error of a worker whose file is not the client's.
func fileDiffers(path, how string) error {
	return inputErr("%s: not the file the client read (%s): workers need the same file at the same path", path, how)
}
