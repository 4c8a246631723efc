package cmd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/compute/cluster"
)

func TestComputeProgressOnlyOnTerminalsAfterDelay(t *testing.T) {
	var buf bytes.Buffer
	app := &App{IO: IOStreams{ErrOut: &buf, StderrTTY: true}, output: "text"}
	p := newProgress(app, "mean")
	p.update(1, 10) // before the delay: nothing
	if buf.Len() != 0 {
		t.Fatalf("drew before %v: %q", progressDelay, buf.String())
	}
	p.start = time.Now().Add(-2 * progressDelay)
	p.update(5, 10)
	p.finish()
	if s := buf.String(); !strings.Contains(s, "mean") || !strings.Contains(s, "chunks") {
		t.Fatalf("bar %q lacks the label or the rate", s)
	}
	for _, a := range []*App{
		{IO: IOStreams{ErrOut: &buf, StderrTTY: false}, output: "text"},
		{IO: IOStreams{ErrOut: &buf, StderrTTY: true}, output: "text", Quiet: true},
		{IO: IOStreams{ErrOut: &buf, StderrTTY: true}, output: "json"},
	} {
		buf.Reset()
		p := newProgress(a, "mean")
		p.start = time.Now().Add(-2 * progressDelay)
		p.update(5, 10)
		p.finish()
		if buf.Len() != 0 {
			t.Errorf("tty=%v quiet=%v json=%v: drew %q", a.IO.StderrTTY, a.Quiet, a.JSON(), buf.String())
		}
	}
}

// A cluster job's bar names the workers seen so far (later draws are
// throttled: the first one shows).
func TestComputeProgressNamesClusterWorkers(t *testing.T) {
	var buf bytes.Buffer
	app := &App{IO: IOStreams{ErrOut: &buf, StderrTTY: true}, output: "text"}
	p := newProgress(app, "mean")
	p.start = time.Now().Add(-2 * progressDelay)
	p.cluster(cluster.Progress{Done: 1, Total: 10, Workers: 1})
	p.cluster(cluster.Progress{Done: 7, Total: 10, Workers: 3})
	p.finish()
	if s := buf.String(); !strings.Contains(s, "mean on 1 worker ") || !strings.Contains(s, "1/10") {
		t.Fatalf("bar %q lacks the workers or the count", s)
	}
}
