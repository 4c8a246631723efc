// Package cluster runs compute reductions on queue workers. The broker is
// the distributed engine; there is no scheduler of our own:
//
//   - The client (Run) sends each task of a compute.Plan as an ordinary
//     Celery task named TaskName to one queue. A task carries the job's
//     compute.JobSpec (the operation and how to open or generate the
//     input, never its data) and the chunk's number.
//   - Every dsys queue worker serves TaskName (Task, registered by the CLI
//     when a worker starts): it computes the chunk's partial states with a
//     compute.TaskRunner and returns them, float64 bits preserved, in its
//     result (base64 of compute.AppendPartials).
//   - The client adds each result to the plan as it arrives; the plan
//     combines them in the tree of a local run, so the result has the local
//     run's bits whatever the number of workers and the order of arrival.
//
// Faults are the queue's business: a chunk whose worker dies is delivered
// again to another worker (at least once; a task run twice counts once);
// a chunk that fails ends the job with its error. A job's other chunks are
// then discarded: the client deletes the job's marker queue (one message in
// a queue of its own, JobMarker), and a worker that finds the marker gone
// answers the job's remaining chunks without computing them. With a
// deadline, chunk tasks also expire with the job.
//
// Layering: this package depends on compute and queue; neither of them
// depends on it or on each other, so the task queue knows nothing of arrays
// and the array engine nothing of brokers.
package cluster

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/dsys-dev/dsys/compute"
)

// TaskName is the name of the chunk task every dsys worker serves.
const TaskName = "dsys.compute.chunk"

// errorModule is the exc_module of the errors a chunk task fails with.
const errorModule = "dsys.compute"

// Exception types of failed chunks: InputError is the input's fault (a
// malformed value, a missing or different file: the CLI exits 2 as a local
// run would), ChunkError any other failure.
const (
	excInput = "InputError"
	excChunk = "ChunkError"
)

// chunkArgs are the keyword arguments of a chunk task.
type chunkArgs struct {
	Job   compute.JobSpec `json:"job"`
	Chunk int             `json:"chunk"`
	Where string          `json:"where"`  // the chunk in words, for logs and monitors
	JobID string          `json:"job_id"` // names the job's marker queue
}

// kwargs are a chunk task's keyword arguments, the job's spec encoded once
// for all its chunks.
func kwargs(job json.RawMessage, chunk int, where, id string) map[string]any {
	return map[string]any{"job": job, "chunk": chunk, "where": where, "job_id": id}
}

// chunkResult is a chunk task's return value.
type chunkResult struct {
	Node   string   `json:"node"`   // the worker's node name
	PID    int      `json:"pid"`    // and its process
	Pieces []string `json:"pieces"` // base64 of each piece's compute.AppendPartials
	Micros int64    `json:"us"`     // time spent computing
}

func encodePieces(pieces [][]compute.Partial) []string {
	out := make([]string, len(pieces))
	var buf []byte
	for i, ps := range pieces {
		buf = compute.AppendPartials(buf[:0], ps)
		out[i] = base64.StdEncoding.EncodeToString(buf)
	}
	return out
}

func decodePieces(enc []string) ([][]compute.Partial, error) {
	pieces := make([][]compute.Partial, len(enc))
	for i, s := range enc {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
		if pieces[i], err = compute.DecodePartials(b); err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
	}
	return pieces, nil
}

// JobMarker is the name of job id's marker queue: it holds one message
// while the client waits for the job, and is deleted when the job ends.
func JobMarker(id string) string { return "dsys.compute.job." + id }
