package cmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dsys-dev/dsys/compute"
	"github.com/dsys-dev/dsys/compute/cluster"
)

// runComputeCluster runs o over src on the workers of queue.queue, reading
// their results where queue.result_backend says, as submit does: the plan
// is made (and the input checked) before the broker is dialled.
func runComputeCluster(ctx context.Context, app *App, src compute.Source, o compute.Options) (*compute.Result, *cluster.Report, error) {
	queues, err := queueNames(app.Config.Queue.Queue)
	if err != nil {
		return nil, nil, err
	}
	if len(queues) != 1 {
		return nil, nil, usageErrorf("--queue: chunk tasks go to one queue, got %d (%s)", len(queues), app.Config.Queue.Queue)
	}
	q := queues[0]
	plan, err := compute.NewPlan(ctx, src, o, compute.PlanOptions{TaskBytes: int(app.Config.Compute.ChunkBytes)})
	if err != nil {
		return nil, nil, err
	}
	b, err := dialBroker(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	results, closeResults, err := resultBackend(ctx, app, b)
	if err != nil {
		return nil, nil, err
	}
	defer closeResults()
	prog := newProgress(app, o.Op.String())
	defer prog.finish()
	app.Log.Debug("compute: sending chunks", "queue", q, "chunks", plan.Tasks())
	res, rep, err := cluster.Run(ctx, b, plan, cluster.Config{
		Queue:    q,
		Results:  results,
		Logger:   app.Log,
		Progress: prog.cluster,
		Waiting: func() {
			app.Log.Warn(fmt.Sprintf("waiting for workers on queue %s: no chunk has come back yet (start dsys queue worker --queue %s against the same broker; --timeout bounds the wait)", q, q))
		},
	})
	return res, rep, err
}

// workersJSON is the "workers" of -o json: the goroutines of a local run,
// or each worker of a cluster run with its chunk count.
type workersJSON struct {
	n       int
	cluster *cluster.Report
}

func (w workersJSON) MarshalJSON() ([]byte, error) {
	if w.cluster == nil {
		return json.Marshal(w.n)
	}
	list := w.cluster.Workers
	if list == nil {
		list = []cluster.WorkerChunks{}
	}
	return json.Marshal(list)
}

// clusterJSON is the "cluster" object of -o json.
type clusterJSON struct {
	JobID  string  `json:"job_id"`
	Queue  string  `json:"queue"`
	Chunks int     `json:"chunks"`
	BusyS  float64 `json:"busy_s"` // the workers' time computing chunks
}
