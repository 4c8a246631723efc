package cmd

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

type zmqWorkerOptions struct {
	zmqFlags
	pull, push  []string
	exec        []string
	execTimeout time.Duration
}

func newZmqWorkerCmd(app *App) *cobra.Command {
	o := &zmqWorkerOptions{}
	var execFlag bool
	c := &cobra.Command{
		Use:   "worker --pull EP --push EP --exec CMD [ARG...]",
		Short: "A pipeline worker: pull tasks, run a command per task, push each result",
		Long: `A pipeline worker ("divide and conquer" in the ZeroMQ guide): it pulls tasks from
--pull, runs CMD once per task with the task on its stdin (never through a shell; --exec comes
last, every argument after it is the command's), and pushes
the command's stdout (one trailing newline dropped) to --push. A task whose command fails is
logged and its result is "ERROR: ..." (every task yields one result). Endpoints connect;
prefix one with @ to bind it instead.

With 'dsys zmq push --bind' as the ventilator and 'dsys zmq pull --bind' as the sink, every
task is processed exactly once, spread round-robin over the workers.`,
		Example: `  dsys zmq pull --bind tcp://*:5558 --count 100 > results &
  dsys zmq worker --pull tcp://localhost:5557 --push tcp://localhost:5558 --exec sha256sum &
  dsys zmq worker --pull tcp://localhost:5557 --push tcp://localhost:5558 --exec sha256sum &
  seq 100 | dsys zmq push --bind tcp://*:5557 --peers 2`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.parse(c, app); err != nil {
				return err
			}
			if len(o.pull) == 0 || len(o.push) == 0 || !execFlag {
				return usageErrorf("worker needs --pull EP, --push EP and --exec CMD")
			}
			argv, err := execArgv(args)
			if err != nil {
				return err
			}
			o.exec = argv
			for _, ep := range append(append([]string(nil), o.pull...), o.push...) {
				if _, err := msg.ParseEndpoint(strings.TrimPrefix(strings.TrimPrefix(ep, "@"), ">")); err != nil {
					return usageErrorf("%v", err)
				}
			}
			return runZmqWorker(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, false)
	c.Flags().StringArrayVar(&o.pull, "pull", nil, "endpoint tasks come from (repeatable; @EP binds)")
	c.Flags().StringArrayVar(&o.push, "push", nil, "endpoint results go to (repeatable; @EP binds)")
	c.Flags().BoolVar(&execFlag, "exec", false, "run the command that follows (CMD [ARG...], to the end of the line) per task: task on stdin, result from stdout")
	c.Flags().DurationVar(&o.execTimeout, "exec-timeout", 0, "kill a command that runs longer; its result is ERROR (0: no limit)")
	// Everything after --exec CMD belongs to the command, dashes included.
	c.Flags().SetInterspersed(false)
	return c
}

// splitEndpoints separates @bind from (>)connect endpoints.
func splitEndpoints(eps []string) (bind, connect []string) {
	for _, ep := range eps {
		if rest, ok := strings.CutPrefix(ep, "@"); ok {
			bind = append(bind, rest)
		} else {
			connect = append(connect, strings.TrimPrefix(ep, ">"))
		}
	}
	return bind, connect
}

func runZmqWorker(ctx context.Context, app *App, o *zmqWorkerOptions) error {
	z := app.Config.Zmq
	opts, err := zmqOptions(app, &o.zmqFlags)
	if err != nil {
		return err
	}
	lim := execLimits{timeout: o.execTimeout, maxOutput: int64(z.MaxMessageSize)}
	b, cn := splitEndpoints(o.pull)
	in, err := openZmq(app, &o.zmqFlags, msg.Pull, opts, b, cn)
	if err != nil {
		return err
	}
	defer in.Close()
	b, cn = splitEndpoints(o.push)
	out, err := openZmq(app, &o.zmqFlags, msg.Push, opts, b, cn)
	if err != nil {
		return err
	}
	defer out.Close()
	for n := 0; o.count == 0 || n < o.count; n++ {
		task, err := in.Recv(ctx)
		if err != nil {
			return zmqError(err)
		}
		result, err := runExec(ctx, o.exec, task, app.IO.ErrOut, lim)
		taskName := truncate(string(task[0]), 80)
		msg.Release(task)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Every task yields one result, so a sink counting results
			// still sees this one.
			app.Log.Error("task failed", "task", taskName, "err", err)
			result = []byte("ERROR: " + err.Error())
		}
		if err := sendWithin(ctx, out, msg.Msg{result}, z.Timeout); err != nil {
			return zmqError(err)
		}
	}
	return zmqError(flushWithin(ctx, out, z.Timeout))
}
