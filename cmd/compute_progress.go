package cmd

import (
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/dsys-dev/dsys/compute/cluster"
)

// computeProgress draws a progress bar on stderr (chunks done, rate, ETA)
// once a job has run for a second, and only when stderr is a terminal and
// neither --quiet nor -o json is set. The library reports; this draws.
type computeProgress struct {
	enabled bool
	app     *App
	label   string
	start   time.Time

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	desc    string // the bar's label: label, and the workers of a cluster job
	workers int
}

// progressDelay is how long a job runs before its bar appears.
const progressDelay = time.Second

func newProgress(app *App, label string) *computeProgress {
	return &computeProgress{
		enabled: app.IO.StderrTTY && !app.Quiet && !app.JSON(),
		app:     app, label: label, desc: label, start: time.Now(),
	}
}

// update is the compute.Options.Progress callback.
func (p *computeProgress) update(done, total int) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		if time.Since(p.start) < progressDelay {
			return
		}
		max := total
		if max == 0 {
			max = -1 // unknown length: a spinner with a count
		}
		p.bar = progressbar.NewOptions(max,
			progressbar.OptionSetWriter(p.app.IO.ErrOut),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("chunks"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	_ = p.bar.Set(done)
}

// cluster is the cluster.Config.Progress callback: chunks done, and the
// workers seen so far in the bar's label.
func (p *computeProgress) cluster(pr cluster.Progress) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	if pr.Workers != p.workers {
		p.workers = pr.Workers
		p.desc = fmt.Sprintf("%s on %d %s", p.label, pr.Workers, plural(pr.Workers, "worker", "workers"))
		if p.bar != nil {
			p.bar.Describe(p.desc)
		}
	}
	p.mu.Unlock()
	p.update(pr.Done, pr.Total)
}

// finish clears the bar before results print.
func (p *computeProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}
