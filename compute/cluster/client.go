package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// Config configures Run. The zero value is the documented default.
type Config struct {
	// Queue is where chunk tasks go (default "celery", where dsys queue
	// worker listens by default).
	Queue string
	// Results is where chunk results are read (default: the transport's
	// own backend).
	Results broker.ResultBackend
	// Progress, if set, is called after each chunk that comes back (from
	// one goroutine). Keep it cheap.
	Progress func(Progress)
	// Waiting, if set, is called once when no chunk has come back after
	// WaitingAfter (default 2s): no worker may be listening.
	Waiting      func()
	WaitingAfter time.Duration
	// Logger gets debug events (nil = discard).
	Logger *slog.Logger
}

// Progress is how far a job is.
type Progress struct {
	Done, Total int
	Workers     int // distinct workers seen so far
}

// Report says who computed a job.
type Report struct {
	JobID   string // names the job's marker queue (JobMarker)
	Queue   string
	Chunks  int
	Workers []WorkerChunks // by node name, then pid
	Busy    time.Duration  // the workers' time computing the chunks
}

// WorkerChunks is one worker's share of a job.
type WorkerChunks struct {
	Node   string `json:"node"`
	PID    int    `json:"pid"`
	Chunks int    `json:"chunks"`
}

// ErrNoWorker: a job's deadline passed before any worker took a chunk.
var ErrNoWorker = errors.New("compute: no worker took the work")

// ChunkError is a chunk that failed on a worker.
type ChunkError struct {
	Where  string // the chunk, as compute.Plan.Describe names it
	Node   string // the worker ("" when it did not say: not a dsys worker)
	PID    int
	Reason string
	Input  bool // the input's fault (a malformed value, a missing file)
}

func (e *ChunkError) Error() string {
	who := "a worker"
	if e.Node != "" {
		who = "worker " + e.Node
		if e.PID > 0 {
			who += " (pid " + strconv.Itoa(e.PID) + ")"
		}
	}
	return fmt.Sprintf("compute: %s failed on %s: %s", e.Where, who, strings.TrimPrefix(e.Reason, "compute: "))
}

// Is makes an input fault match compute.ErrInput.
func (e *ChunkError) Is(target error) bool { return e.Input && target == compute.ErrInput }

// Run computes the tasks of p on the workers of t's queue and returns the
// plan's result: compute.Reduce's, to the bit. It returns when every chunk
// is in, when one fails (a *ChunkError), or when ctx ends: at its deadline
// the error matches queue.ErrTimeout (and ErrNoWorker when no chunk came
// back at all). However it ends, the job's marker is deleted, so workers
// discard the chunks still queued; with a deadline the chunk tasks also
// expire with it.
func Run(ctx context.Context, t broker.Transport, p *compute.Plan, cfg Config) (*compute.Result, *Report, error) {
	if cfg.Queue == "" {
		cfg.Queue = "celery"
	}
	if cfg.WaitingAfter <= 0 {
		cfg.WaitingAfter = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rep := &Report{Queue: cfg.Queue, Chunks: p.Tasks()}
	if p.Tasks() == 0 {
		r, err := p.Result()
		return r, rep, err
	}
	j := &job{p: p, t: t, cfg: cfg, log: log, id: uuid.NewString(), start: time.Now(), counts: map[workerKey]int{}}
	rep.JobID = j.id
	defer j.end()
	if err := j.begin(ctx); err != nil {
		return nil, rep, err
	}
	err := j.run(ctx)
	rep.Workers, rep.Busy = j.workers(), j.busy
	if err != nil {
		return nil, rep, err
	}
	log.Debug("compute: cluster job done", "job", j.id, "chunks", p.Tasks(), "workers", len(rep.Workers),
		"elapsed", time.Since(j.start), "busy", rep.Busy)
	r, err := p.Result()
	return r, rep, err
}

// job is one Run in flight.
type job struct {
	p     *compute.Plan
	t     broker.Transport
	cfg   Config
	log   *slog.Logger
	id    string
	start time.Time

	client  *queue.Client
	marked  bool
	mu      sync.Mutex
	counts  map[workerKey]int
	arrived int
	busy    time.Duration // the workers' computing time
}

type workerKey struct {
	node string
	pid  int
}

// begin puts the job's marker in place (before any chunk can be looked
// at) and, meanwhile, subscribes to the results.
func (j *job) begin(ctx context.Context) error {
	var (
		wg        sync.WaitGroup
		clientErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		j.client, clientErr = queue.NewClient(ctx, j.t, queue.ClientConfig{Queue: j.cfg.Queue, Results: j.cfg.Results, Logger: j.log})
	}()
	err := j.mark(ctx)
	wg.Wait()
	if err != nil {
		return err
	}
	return clientErr
}

// mark declares the job's marker queue and puts its one message in it.
func (j *job) mark(ctx context.Context) error {
	marker := JobMarker(j.id)
	if err := j.t.Declare(ctx, broker.QueueSpec{Name: marker, Kind: broker.DeadLetterQueue}); err != nil {
		return fmt.Errorf("compute: declaring the job's marker queue %s: %w", marker, err)
	}
	j.marked = true
	host, _ := os.Hostname()
	body, _ := json.Marshal(map[string]any{"job_id": j.id, "op": j.p.Spec.Op, "chunks": j.p.Tasks(),
		"queue": j.cfg.Queue, "client": host, "pid": os.Getpid()})
	m := &broker.Message{ContentType: "application/json", ContentEncoding: "utf-8", Body: body}
	if d, ok := ctx.Deadline(); ok {
		m.Expiration = strconv.FormatInt(max(time.Until(d).Milliseconds(), 1), 10)
	}
	conf, err := j.t.Publish(ctx, broker.Publishing{Queue: marker, Message: m})
	if err == nil {
		err = broker.WaitConfirm(ctx, conf)
	}
	if err != nil {
		return fmt.Errorf("compute: marking the job in %s: %w", marker, err)
	}
	return nil
}

// end deletes the marker and closes the client, at once, whatever the
// outcome.
func (j *job) end() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	if j.client != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = j.client.Close()
		}()
	}
	if j.marked {
		if err := j.t.Delete(ctx, JobMarker(j.id)); err != nil {
			j.log.Warn("compute: could not delete the job's marker queue; workers will compute its leftover chunks",
				"queue", JobMarker(j.id), "err", err)
		}
	}
	wg.Wait()
}

// run sends the chunk tasks and gathers their results into the plan.
func (j *job) run(ctx context.Context) error {
	n := j.p.Tasks()
	deadline, hasDeadline := ctx.Deadline()
	spec, err := json.Marshal(j.p.Spec)
	if err != nil {
		return fmt.Errorf("compute: encoding the job: %w", err)
	}
	tasks := make([]*celery.Task, n)
	for k := range n {
		tasks[k] = &celery.Task{Name: TaskName, Kwargs: kwargs(spec, k, j.p.Describe(k), j.id)}
		if hasDeadline {
			tasks[k].Expires = deadline
		}
	}
	if j.cfg.Waiting != nil {
		stop := j.waitingHint()
		defer stop()
	}
	ars, err := j.client.SendAll(ctx, tasks)
	if err != nil {
		return j.ctxErr(ctx, err)
	}
	j.log.Debug("compute: chunks sent", "job", j.id, "chunks", n, "queue", j.cfg.Queue, "in", time.Since(j.start))
	err = queue.Gather(ctx, ars, func(i int, r *celery.Result, err error) error {
		return j.arrive(i, r, err)
	})
	return j.ctxErr(ctx, err)
}

// arrive adds one chunk's result to the plan.
func (j *job) arrive(k int, r *celery.Result, err error) error {
	where := j.p.Describe(k)
	if err != nil {
		return chunkFailure(where, err)
	}
	var res chunkResult
	if err := json.Unmarshal(r.Raw, &res); err != nil {
		return fmt.Errorf("compute: %s: a result that is not a chunk's (%v): is every worker on queue %s a dsys worker?", where, err, j.cfg.Queue)
	}
	pieces, err := decodePieces(res.Pieces)
	if err == nil {
		err = j.p.Add(k, pieces)
	}
	if errors.Is(err, compute.ErrTaskDone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("compute: %s from worker %s: %w", where, res.Node, err)
	}
	j.mu.Lock()
	j.counts[workerKey{res.Node, res.PID}]++
	j.arrived++
	j.busy += time.Duration(res.Micros) * time.Microsecond
	pr := Progress{Done: j.arrived, Total: j.p.Tasks(), Workers: len(j.counts)}
	j.mu.Unlock()
	if j.cfg.Progress != nil {
		j.cfg.Progress(pr)
	}
	return nil
}

// chunkFailure is the error of a chunk that came back failed.
func chunkFailure(where string, err error) error {
	var re *celery.RemoteError
	if !errors.As(err, &re) {
		return fmt.Errorf("compute: %s: %w", where, err)
	}
	ce := &ChunkError{Where: where, Reason: re.Error()}
	if re.Module == errorModule && len(re.Message) >= 3 {
		ce.Reason, _ = re.Message[0].(string)
		ce.Node, _ = re.Message[1].(string)
		if pid, ok := celery.AsInt(re.Message[2]); ok {
			ce.PID = int(pid)
		}
		ce.Input = re.Type == excInput
	} else if re.Type == "NotRegistered" {
		ce.Reason += " (a worker on this queue does not serve " + TaskName + ": run dsys queue worker there)"
	}
	return ce
}

// ctxErr words the end of ctx: a deadline with no chunk back means no
// worker took the work.
func (j *job) ctxErr(ctx context.Context, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	j.mu.Lock()
	done, workers := j.arrived, len(j.counts)
	j.mu.Unlock()
	took := time.Since(j.start).Round(100 * time.Millisecond)
	if done == 0 {
		return &timeoutError{noWorker: true, msg: fmt.Sprintf("%s within %s on queue %s (%d chunks waiting)", ErrNoWorker, took, j.cfg.Queue, j.p.Tasks())}
	}
	return &timeoutError{msg: fmt.Sprintf("compute: timed out after %s with %d of %d chunks done by %d workers", took, done, j.p.Tasks(), workers)}
}

// timeoutError is the end of a job at its deadline: it matches
// queue.ErrTimeout, and ErrNoWorker when no chunk came back.
type timeoutError struct {
	msg      string
	noWorker bool
}

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Is(target error) bool {
	return target == queue.ErrTimeout || (e.noWorker && target == ErrNoWorker)
}

// waitingHint calls Waiting once if nothing came back in WaitingAfter;
// stop returns once a call under way is over, so that nothing is written
// after the job.
func (j *job) waitingHint() (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
	)
	t := time.AfterFunc(j.cfg.WaitingAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		j.mu.Lock()
		none := j.arrived == 0
		j.mu.Unlock()
		if none && !stopped {
			j.cfg.Waiting()
		}
	})
	return func() {
		t.Stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}

// workers is each worker's chunk count, sorted.
func (j *job) workers() []WorkerChunks {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]WorkerChunks, 0, len(j.counts))
	for k, n := range j.counts {
		out = append(out, WorkerChunks{Node: k.node, PID: k.pid, Chunks: n})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Node != out[b].Node {
			return out[a].Node < out[b].Node
		}
		return out[a].PID < out[b].PID
	})
	return out
}
