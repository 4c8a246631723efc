package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

type queueSubmitOptions struct {
	Task      string
	Args      []string
	Stdin     bool
	Kwargs    []string
	Countdown time.Duration
	ETA       string
	Expires   time.Duration
	Queue     string
	Priority  int
	Wait      bool
	Timeout   time.Duration

	kwargs   map[string]any
	eta      time.Time
	queueSet bool // --queue given
}

func newQueueSubmitCmd(app *App) *cobra.Command {
	opts := &queueSubmitOptions{}
	c := &cobra.Command{
		Use:   "submit [flags] TASK [ARG...|-]",
		Short: "Submit a task (to dsys or Celery workers) and optionally wait for its result",
		Long: `Submit a task. Each ARG is parsed as JSON when it parses (4 → 4, '"x"' → "x",
'[1,2]' → a list), else taken as a string; --kwarg k=v likewise.

With - as the only argument, each line of stdin is a JSON array of arguments and
becomes one task. Without --wait the task ids are printed (one per line) once the
broker has the tasks. With --wait the results are printed: text, one per line in
input order (strings as they are, other values as JSON); -o json, one
{"id","task","args","state","result"} per line as they arrive. A task that fails
prints its remote error on stderr and makes the exit code 1; --timeout without
all results exits 3.`,
		Example: `  dsys queue submit --wait add 4 4
  dsys queue submit --wait tasks.add 4 4 --queue celery
  printf '[1,2]\n[3,4]\n' | dsys queue submit --wait -o json add -
  dsys queue submit --countdown 10s --kwarg name='"x"' echo hello`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveDefault
			}
			return taskNames(app), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Task, opts.Args = args[0], args[1:]
			if len(opts.Args) == 1 && opts.Args[0] == "-" {
				opts.Stdin, opts.Args = true, nil
			}
			opts.queueSet = c.Flags().Changed("queue")
			if err := opts.validate(); err != nil {
				return err
			}
			return runQueueSubmit(c.Context(), app, opts)
		},
	}
	f := c.Flags()
	addBrokerFlag(c)
	addResultBackendFlag(c)
	f.StringArrayVar(&opts.Kwargs, "kwarg", nil, "keyword argument k=v, v parsed as JSON when it parses (repeatable)")
	f.DurationVar(&opts.Countdown, "countdown", 0, "run no earlier than this from now")
	f.StringVar(&opts.ETA, "eta", "", "run no earlier than this time (RFC 3339, e.g. 2030-01-02T15:04:05Z)")
	f.DurationVar(&opts.Expires, "expires", 0, "revoke the task if it has not started this long from now")
	f.StringVar(&opts.Queue, "queue", "", "queue to send to (default: the first of queue.queue)")
	f.IntVar(&opts.Priority, "priority", 0, "message priority 0-255 (for queues declared with x-max-priority)")
	f.BoolVar(&opts.Wait, "wait", false, "wait for the results and print them")
	f.DurationVar(&opts.Timeout, "timeout", 0, "with --wait: give up (exit 3) after this long; 0 waits for ever")
	return c
}

func (o *queueSubmitOptions) validate() error {
	if o.Task == "" || o.Task == "-" {
		return usageErrorf("expected a task name")
	}
	switch {
	case o.queueSet && strings.TrimSpace(o.Queue) == "":
		return usageErrorf("--queue: expected a queue name")
	case strings.Contains(o.Queue, ","):
		return usageErrorf("--queue %q: a task goes to one queue (give one name)", o.Queue)
	}
	o.kwargs = map[string]any{}
	for _, kv := range o.Kwargs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErrorf("--kwarg %q: expected key=value", kv)
		}
		o.kwargs[k] = parseArg(v)
	}
	if o.ETA != "" {
		if o.Countdown != 0 {
			return usageErrorf("--eta and --countdown: give one")
		}
		t, err := time.Parse(time.RFC3339Nano, o.ETA)
		if err != nil {
			return usageErrorf("--eta %q: expected an RFC 3339 time such as 2030-01-02T15:04:05Z", o.ETA)
		}
		o.eta = t
	}
	if o.Countdown < 0 || o.Expires < 0 || o.Timeout < 0 {
		return usageErrorf("--countdown, --expires and --timeout must not be negative")
	}
	if o.Priority < 0 || o.Priority > 255 {
		return usageErrorf("--priority %d: expected 0-255", o.Priority)
	}
	return nil
}

// parseArg reads a command-line argument as JSON when it parses, else as a string.
func parseArg(s string) any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return s
	}
	if _, err := d.Token(); err != io.EOF {
		return s
	}
	return v
}

// submission is one task sent, in input order.
type submission struct {
	index int
	args  []any
	ar    *queue.AsyncResult
}

func runQueueSubmit(ctx context.Context, app *App, opts *queueSubmitOptions) error {
	// The client is one pipeline (read, encode, publish; receive, print):
	// a second P finds nothing to run in parallel and only adds cross-CPU
	// wake-ups, ~20% of the client's CPU per task (bench-queue). An
	// explicit GOMAXPROCS is respected.
	if os.Getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	cfg := app.Config.Queue
	queues, err := queueNames(cfg.Queue)
	if err != nil {
		return err
	}
	target := queues[0]
	if opts.Queue != "" {
		target = strings.TrimSpace(opts.Queue)
	}
	b, err := dialBroker(ctx, app)
	if err != nil {
		return err
	}
	defer b.Close()
	results, closeResults, err := resultBackend(ctx, app, b)
	if err != nil {
		return err
	}
	defer closeResults()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	arrived := make(chan *queue.AsyncResult, 256)
	ccfg := queue.ClientConfig{Queue: target, ResultExpires: cfg.ResultExpires, Results: results, Logger: app.Log}
	if opts.Wait && app.JSON() {
		ccfg.Arrivals = arrived
	}
	client, err := queue.NewClient(ctx, b, ccfg)
	if err != nil {
		return queueError(err)
	}
	defer client.Close()

	if opts.Wait {
		hinted := make(chan struct{})
		go func() {
			defer close(hinted)
			hintNoWorker(ctx, app, b, target)
		}()
		defer func() { <-hinted }() // bounded: 2s at most
	}
	// The producer sends; the printer confirms and prints in order (or as
	// results arrive under -o json). A window bounds unconfirmed tasks.
	const window = 4096
	sent := make(chan *submission, window)
	prodErr := make(chan error, 1)
	go func() {
		defer close(sent)
		prodErr <- produce(ctx, app, opts, client, sent)
	}()
	var printErr error
	if opts.Wait && app.JSON() {
		printErr = printArrivals(ctx, app, opts, sent, arrived)
	} else {
		printErr = printInOrder(ctx, app, opts, sent)
	}
	if printErr != nil {
		// Unblock and stop the producer.
		go func() {
			for range sent {
			}
		}()
	}
	perr := <-prodErr
	if perr != nil {
		return perr
	}
	return printErr
}

// produce sends one task per argument list: the command line's, or each
// stdin line's.
func produce(ctx context.Context, app *App, opts *queueSubmitOptions, client *queue.Client, sent chan<- *submission) error {
	send := func(i int, args []any) error {
		t := &celery.Task{Name: opts.Task, Args: args, Kwargs: opts.kwargs, Priority: uint8(opts.Priority)}
		switch {
		case !opts.eta.IsZero():
			t.ETA = opts.eta
		case opts.Countdown > 0:
			t.ETA = time.Now().Add(opts.Countdown)
		}
		if opts.Expires > 0 {
			t.Expires = time.Now().Add(opts.Expires)
		}
		ar, err := client.Send(ctx, t)
		if err != nil {
			return queueError(err)
		}
		select {
		case sent <- &submission{index: i, args: args, ar: ar}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !opts.Stdin {
		args := make([]any, len(opts.Args))
		for i, a := range opts.Args {
			args[i] = parseArg(a)
		}
		return send(0, args)
	}
	sc := bufio.NewScanner(app.IO.In)
	sc.Buffer(make([]byte, 64<<10), int(app.Config.Queue.MaxMessageSize))
	i := 0
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(text))
		d.UseNumber()
		var args []any
		if err := d.Decode(&args); err != nil || d.More() || args == nil {
			return usageErrorf("stdin line %d: expected a JSON array of arguments, got %s", line, truncate(string(text), 60))
		}
		if err := send(i, args); err != nil {
			return err
		}
		i++
	}
	if err := sc.Err(); err != nil {
		return withExitCode(ExitUsage, fmt.Errorf("reading stdin: %w", err))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// printInOrder confirms each task and prints its id, or its result with --wait.
func printInOrder(ctx context.Context, app *App, opts *queueSubmitOptions, sent <-chan *submission) error {
	out := bufio.NewWriter(app.IO.Out)
	defer out.Flush()
	failed, first := 0, ""
	for s := range sent {
		if err := s.ar.Sent(ctx); err != nil {
			return queueError(err)
		}
		if !opts.Wait {
			if app.JSON() {
				out.Flush()
				if err := app.PrintJSON(map[string]any{"id": s.ar.ID, "task": opts.Task, "args": s.args}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintln(out, s.ar.ID)
			continue
		}
		if len(sent) == 0 {
			out.Flush() // nothing else is ready: show what we have
		}
		res, err := s.ar.Wait(ctx)
		if err != nil {
			if fail := reportFailure(app, opts, s, err); fail != nil {
				return fail
			}
			if failed++; failed == 1 {
				first = fmt.Sprintf("task %s (%s) failed: %v", s.ar.Name, s.ar.ID, err)
			}
			continue
		}
		writeValue(out, res)
	}
	return failures(failed, first)
}

// printArrivals prints one JSON line per result as results arrive.
func printArrivals(ctx context.Context, app *App, opts *queueSubmitOptions, sent <-chan *submission, arrived <-chan *queue.AsyncResult) error {
	byID := map[string]*submission{}
	early := map[string]*queue.AsyncResult{}
	waiting, failed := 0, 0
	first := ""
	in := sent
	for in != nil || waiting > 0 {
		select {
		case s, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			if err := s.ar.Sent(ctx); err != nil {
				return queueError(err)
			}
			waiting++
			if ar, ok := early[s.ar.ID]; ok {
				delete(early, s.ar.ID)
				if !emitJSON(app, opts, s, ar, &failed, &first) {
					return errors.New("writing stdout failed")
				}
				waiting--
				continue
			}
			byID[s.ar.ID] = s
		case ar := <-arrived:
			s, ok := byID[ar.ID]
			if !ok {
				early[ar.ID] = ar // its submission is still on the way
				continue
			}
			delete(byID, ar.ID)
			waiting--
			if !emitJSON(app, opts, s, ar, &failed, &first) {
				return errors.New("writing stdout failed")
			}
		case <-ctx.Done():
			return waitError(ctx, waiting)
		}
	}
	return failures(failed, first)
}

func emitJSON(app *App, opts *queueSubmitOptions, s *submission, ar *queue.AsyncResult, failed *int, first *string) bool {
	res, err := ar.Wait(context.Background()) // done already
	line := map[string]any{"id": ar.ID, "task": opts.Task, "args": s.args}
	if res != nil {
		line["state"] = string(res.State)
		line["result"] = json.RawMessage(res.Raw)
		if len(res.Raw) == 0 {
			line["result"] = nil
		}
	}
	if err != nil {
		if *failed++; *failed == 1 {
			*first = fmt.Sprintf("task %s (%s) failed: %v", opts.Task, ar.ID, err)
		}
		if res == nil {
			line["state"] = "ERROR"
			line["result"] = err.Error()
		}
		if re := (*celery.RemoteError)(nil); errors.As(err, &re) && re.Traceback != "" {
			line["traceback"] = re.Traceback
		}
		app.Log.Error("task failed", "id", ar.ID, "task", opts.Task, "error", err.Error())
	}
	return app.PrintJSON(line) == nil
}

// reportFailure logs a failed task on stderr; it returns an error that
// must stop everything (timeout, interruption, closed broker).
func reportFailure(app *App, opts *queueSubmitOptions, s *submission, err error) error {
	var re *celery.RemoteError
	if !errors.As(err, &re) {
		return queueError(err)
	}
	if opts.Stdin { // a single task's error is the final error: not logged twice
		app.Log.Error("task failed", "id", s.ar.ID, "task", s.ar.Name, "error", re.Error())
	}
	printTraceback(app, re.Traceback)
	return nil
}

// printTraceback shows a failed task's traceback (a command's stderr, a
// Python worker's traceback) on stderr, as Celery's .get() would raise it;
// -q and -o json leave it out (JSON carries it in the "traceback" field).
func printTraceback(app *App, tb string) {
	if tb == "" || app.Quiet || app.JSON() {
		return
	}
	_, _ = io.WriteString(app.IO.ErrOut, tb)
	if !strings.HasSuffix(tb, "\n") {
		_, _ = io.WriteString(app.IO.ErrOut, "\n")
	}
}

func writeValue(out io.Writer, res *celery.Result) {
	// Written as they are, not through fmt: a result can be 16 MiB of a
	// command's output, and fmt would copy it once more.
	switch s, ok := res.Value.(string); {
	case ok:
		_, _ = io.WriteString(out, s)
	case len(res.Raw) == 0:
		_, _ = io.WriteString(out, "null")
	default:
		_, _ = out.Write(res.Raw)
	}
	_, _ = io.WriteString(out, "\n")
}

// failures is the final error of a run where n tasks failed, the first as said.
func failures(n int, first string) error {
	switch n {
	case 0:
		return nil
	case 1:
		return errors.New(first)
	}
	return fmt.Errorf("%d tasks failed; the first: %s", n, first)
}

func waitError(ctx context.Context, waiting int) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return withExitCode(ExitUnavailable, fmt.Errorf("%w: %d results missing", queue.ErrTimeout, waiting))
	}
	return ctx.Err()
}

// hintNoWorker says on stderr, at once, when no worker consumes the target
// queue: otherwise submit --wait would wait in silence.
func hintNoWorker(ctx context.Context, app *App, b broker.Transport, q string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := b.Inspect(ctx, q)
	switch {
	case errors.Is(err, queue.ErrQueueNotFound): // not even declared yet: nobody consumes it
	case err != nil || info.Consumers > 0:
		return
	}
	app.Log.Warn(fmt.Sprintf("no worker is consuming queue %s; waiting — --timeout bounds it", q))
}

// taskNames completes task names: the built-ins and queue.tasks of the
// configuration (loaded here: completion runs before any command does).
func taskNames(app *App) []string {
	names := queue.BuiltinNames()
	if loaded, err := config.Load(config.Options{File: app.configFile}); err == nil {
		for _, t := range loaded.Config.Queue.Tasks {
			names = append(names, t.Name)
		}
	}
	return names
}
