package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

type queueResultOptions struct {
	ID      string
	Wait    bool
	Timeout time.Duration
}

func newQueueResultCmd(app *App) *cobra.Command {
	opts := &queueResultOptions{}
	c := &cobra.Command{
		Use:   "result [flags] TASK_ID",
		Short: "Print the result of a task by its id (embedded broker, Redis)",
		Long: `Print a task's result as submit --wait prints it: the value on stdout (-o json:
{"id","state","result"}), a FAILURE as the remote error on stderr with exit code 1.
Without --wait a result that is not there yet exits 3 saying so; with --wait the
command waits for it (--timeout bounds the wait, then exit 3).

Results are kept by the embedded broker (queue.broker sqlite://...) and by Celery's
Redis result backend (queue.broker or queue.result_backend redis://..., Celery's
results too) for queue.result_expires and can be read any number of times, from any
process. Celery's rpc:// protocol on RabbitMQ sends each result to its submitter
only: there, use submit --wait.`,
		Example: `  id=$(dsys queue submit add 4 4) && dsys queue result --wait "$id"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ID = args[0]
			if opts.ID == "" {
				return usageErrorf("expected a task id")
			}
			if opts.Timeout < 0 {
				return usageErrorf("--timeout must not be negative")
			}
			return runQueueResult(c.Context(), app, opts)
		},
	}
	addBrokerFlag(c)
	addResultBackendFlag(c)
	c.Flags().BoolVar(&opts.Wait, "wait", false, "wait until the result is there")
	c.Flags().DurationVar(&opts.Timeout, "timeout", 0, "with --wait: give up (exit 3) after this long; 0 waits for ever")
	return c
}

func runQueueResult(ctx context.Context, app *App, opts *queueResultOptions) error {
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
	res, err := fetchResult(ctx, app, b, results, opts)
	if err != nil {
		return err
	}
	if app.JSON() {
		line := resultLine{ID: opts.ID, State: string(res.State), Result: rawOrNull(res.Raw)}
		if res.Err != nil {
			line.Traceback = res.Err.Traceback
		}
		if err := app.PrintJSON(line); err != nil {
			return err
		}
	} else if res.Err == nil {
		writeValue(app.IO.Out, res)
	}
	if res.Err != nil {
		printTraceback(app, res.Err.Traceback)
		return fmt.Errorf("task %s failed: %w", opts.ID, res.Err)
	}
	return nil
}

// resultLine is the -o json form of a result.
type resultLine struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Result any    `json:"result"`
	// Traceback of a failure: a command's stderr, a Python worker's traceback.
	Traceback string `json:"traceback,omitempty"`
}

// fetchResult reads the final result, waiting for it with --wait.
func fetchResult(ctx context.Context, app *App, b broker.Transport, rb broker.ResultBackend, opts *queueResultOptions) (*celery.Result, error) {
	stored, err := rb.Get(ctx, opts.ID)
	switch {
	case errors.Is(err, broker.ErrResultsNotStored):
		return nil, withExitCode(ExitUsage, fmt.Errorf("%w: on RabbitMQ a result goes to the client that submitted the task (use submit --wait)", err))
	case err == nil:
		res, derr := celery.DecodeResult(stored.Body, opts.ID)
		if derr != nil {
			return nil, derr
		}
		if res.State.Final() {
			return res, nil
		}
		if !opts.Wait {
			return nil, withExitCode(ExitUnavailable, fmt.Errorf("task %s is %s: no final result yet (--wait waits for it)", opts.ID, res.State))
		}
	case !errors.Is(err, broker.ErrResultNotFound):
		return nil, queueError(err)
	case !opts.Wait:
		return nil, withExitCode(ExitUnavailable, fmt.Errorf("no result for task %s yet (not finished, expired, or never submitted here; --wait waits for it)", opts.ID))
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	client, err := queue.NewClient(ctx, b, queue.ClientConfig{Results: rb, Logger: app.Log})
	if err != nil {
		return nil, queueError(err)
	}
	defer client.Close()
	res, err := client.Result(opts.ID).Wait(ctx)
	var re *celery.RemoteError
	switch {
	case errors.As(err, &re):
		return res, nil
	case err != nil:
		return nil, queueError(err)
	}
	return res, nil
}

// rawOrNull is a result's JSON as it came, or null.
func rawOrNull(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	return json.RawMessage(raw)
}
