package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// WorkerConfig configures the chunk task of a worker. The zero value
// computes every chunk it receives and reports the node "dsys".
type WorkerConfig struct {
	// Node names the worker in chunk results (its queue.WorkerConfig.Hostname).
	Node string
	// Markers returns the transport where job markers are looked up, so
	// that the chunks of a job that ended are discarded (the worker's own,
	// known once dialled); nil, or a nil transport: every chunk is computed.
	Markers func() broker.Transport
	// Logger gets a line per discarded job (nil = discard).
	Logger *slog.Logger
}

// Register adds the chunk task (TaskName) to reg.
func Register(reg *queue.Registry, cfg WorkerConfig) error {
	return reg.Register(queue.TaskDef{Name: TaskName, Func: Task(cfg)})
}

// Task is the chunk task: it computes the partial states of one chunk of
// a job and returns them with the worker's name.
func Task(cfg WorkerConfig) queue.TaskFunc {
	if cfg.Node == "" {
		cfg.Node = "dsys"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w := &chunkWorker{cfg: cfg, pid: os.Getpid(), jobs: map[string]*jobState{}}
	return w.run
}

type chunkWorker struct {
	cfg    WorkerConfig
	pid    int
	runner compute.TaskRunner

	mu   sync.Mutex
	jobs map[string]*jobState // by job id
}

// jobState is what a worker knows of a job's marker.
type jobState struct {
	dead     bool
	checked  time.Time // last answer
	checking bool
	seen     time.Time // last chunk of the job
}

// Marker checks: a job's marker is looked up at its first chunk and again
// when its last look is older than recheckAfter, always in the background,
// so that no chunk waits for the broker; jobs idle for forgetAfter are
// forgotten.
const (
	recheckAfter = 200 * time.Millisecond
	forgetAfter  = 10 * time.Minute
	checkTimeout = 10 * time.Second
)

func (w *chunkWorker) run(ctx context.Context, t *celery.Task) (any, error) {
	args, err := decodeArgs(t)
	if err != nil {
		return nil, err
	}
	if w.discarded(args.JobID) {
		return nil, celery.Revoked(fmt.Sprintf("job %s has ended: %s discarded", args.JobID, args.Where))
	}
	start := time.Now()
	pieces, err := w.runner.Run(ctx, &args.Job, args.Chunk)
	if err != nil {
		typ := excChunk
		if errors.Is(err, compute.ErrInput) {
			typ = excInput
		}
		return nil, celery.Exception(errorModule, typ, err.Error(), w.cfg.Node, w.pid)
	}
	res := chunkResult{Node: w.cfg.Node, PID: w.pid, Pieces: encodePieces(pieces), Micros: time.Since(start).Microseconds()}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

// decodeArgs reads a chunk task's keyword arguments.
func decodeArgs(t *celery.Task) (*chunkArgs, error) {
	if len(t.Args) > 0 {
		return nil, fmt.Errorf("%w: %s takes keyword arguments only (job, chunk, where, job_id)", queue.ErrBadArgs, TaskName)
	}
	b, err := json.Marshal(t.Kwargs)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", queue.ErrBadArgs, TaskName, err)
	}
	var a chunkArgs
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", queue.ErrBadArgs, TaskName, err)
	}
	if a.JobID == "" || a.Job.Source.Kind == "" {
		return nil, fmt.Errorf("%w: %s: missing job or job_id", queue.ErrBadArgs, TaskName)
	}
	return &a, nil
}

// discarded reports whether the job is known to have ended, and starts a
// look at its marker when the last one is old.
func (w *chunkWorker) discarded(id string) bool {
	if w.cfg.Markers == nil {
		return false
	}
	t := w.cfg.Markers()
	if t == nil {
		return false
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, j := range w.jobs {
		if now.Sub(j.seen) > forgetAfter {
			delete(w.jobs, k)
		}
	}
	j := w.jobs[id]
	if j == nil {
		j = &jobState{}
		w.jobs[id] = j
	}
	j.seen = now
	if !j.dead && !j.checking && now.Sub(j.checked) > recheckAfter {
		j.checking = true
		go w.check(t, id, j)
	}
	return j.dead
}

// check looks up a job's marker: gone, or empty, means the job ended. An
// answer that is not clear (the broker unreachable) leaves the job alive.
func (w *chunkWorker) check(t broker.Transport, id string, j *jobState) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	info, err := t.Inspect(ctx, JobMarker(id))
	dead := errors.Is(err, broker.ErrQueueNotFound) || (err == nil && info.Ready == 0)
	w.mu.Lock()
	defer w.mu.Unlock()
	j.checking, j.checked = false, time.Now()
	if dead && !j.dead {
		j.dead = true
		w.cfg.Logger.Info("compute: job ended; discarding its remaining chunks", "job", id)
	}
}
