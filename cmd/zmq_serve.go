package cmd

import (
	"context"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

type zmqServeOptions struct {
	zmqFlags
	reply       string
	echo        bool
	exec        []string
	workers     int
	execTimeout time.Duration
}

func newZmqServeCmd(app *App) *cobra.Command {
	o := &zmqServeOptions{}
	var execFlag bool
	c := &cobra.Command{
		Use:   "serve [--reply TEXT | --echo | --exec CMD [ARG...]]",
		Short: "Answer requests as a REP server (binds tcp://*:5555 by default)",
		Long: `Answer requests as a REP server: each request is printed on stdout and answered with
--reply TEXT (default "World"), the request itself (--echo), or the stdout of a command run
once per request with the request on its stdin (--exec CMD [ARG...], last: every argument after
it is the command's, verbatim; never through a shell; one trailing newline of its output is
dropped; a non-zero exit replies "ERROR: ..." and is logged).

REQ and DEALER clients (libzmq's too) are served as by a REP socket, each in order, --workers
requests at a time (default 1). A command running longer than --exec-timeout, or printing more
than --max-message-size, is killed and its client gets "ERROR: ...". A request whose client
has gone (a retrying client's earlier attempt) is not run; a reply to a client that does not
read waits off the workers, for as long as the client reads, at most --timeout without progress.
Serves until interrupted, or until --count replies.`,
		Example: `  dsys zmq serve &
  dsys zmq send Hello                      # World
  dsys zmq serve --bind tcp://*:6000 --workers 4 --exec-timeout 10s --exec tr a-z A-Z
  dsys zmq serve --exec sh -c 'wc -c'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.parse(c, app); err != nil {
				return err
			}
			modes := 0
			for _, set := range []bool{c.Flags().Changed("reply"), o.echo, execFlag} {
				if set {
					modes++
				}
			}
			if modes > 1 {
				return usageErrorf("--reply, --echo and --exec are exclusive")
			}
			if execFlag {
				argv, err := execArgv(args)
				if err != nil {
					return err
				}
				o.exec = argv
			} else if len(args) > 0 {
				return usageErrorf("unexpected arguments %q (a command's arguments follow --exec CMD)", args)
			}
			if o.workers < 1 {
				return usageErrorf("--workers: expected a number >= 1, got %d", o.workers)
			}
			if o.execTimeout < 0 {
				return usageErrorf("--exec-timeout: expected a duration >= 0, got %v", o.execTimeout)
			}
			if err := o.resolve(c, app, "bind"); err != nil {
				return err
			}
			return runZmqServe(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, true)
	f := c.Flags()
	f.StringVar(&o.reply, "reply", "World", "the reply to every request")
	f.BoolVar(&o.echo, "echo", false, "reply with the request itself")
	f.BoolVar(&execFlag, "exec", false, "run the command that follows (CMD [ARG...], to the end of the line) per request: request on stdin, reply from stdout")
	f.IntVar(&o.workers, "workers", 1, "requests handled at once (each client still sees REQ/REP order)")
	f.DurationVar(&o.execTimeout, "exec-timeout", 0, "kill an --exec command that runs longer, replying ERROR (0: no limit)")
	// Everything after --exec CMD belongs to the command, dashes included.
	f.SetInterspersed(false)
	return c
}

func runZmqServe(ctx context.Context, app *App, o *zmqServeOptions) error {
	z := app.Config.Zmq
	opts, err := zmqOptions(app, &o.zmqFlags)
	if err != nil {
		return err
	}
	s, err := openZmq(app, &o.zmqFlags, msg.Router, opts, o.bind, o.connect)
	if err != nil {
		return err
	}
	defer s.Close()
	w := newMsgWriter(app.IO.Out, o.framing, app.JSON())
	var outMu sync.Mutex
	lim := execLimits{timeout: o.execTimeout, maxOutput: int64(z.MaxMessageSize)}
	// Commands run side by side: their stderr lines go out one write at a
	// time.
	cmdErr := &lockedWriter{w: app.IO.ErrOut}
	handle := func(ctx context.Context, req msg.Msg) msg.Msg {
		outMu.Lock()
		werr := w.Write(req, nil)
		if werr == nil {
			werr = w.Flush()
		}
		outMu.Unlock()
		if werr != nil {
			app.Log.Warn("writing a request to stdout failed", "err", werr)
		}
		switch {
		case o.echo:
			return req
		case o.exec != nil:
			out, err := runExec(ctx, o.exec, req, cmdErr, lim)
			if err != nil {
				if ctx.Err() == nil {
					app.Log.Error("request handler failed", "err", err)
				}
				out = []byte("ERROR: " + err.Error())
			}
			return msg.Msg{out}
		}
		return msg.Msg{[]byte(o.reply)}
	}
	sv := &msg.Server{
		Socket:       s,
		Handler:      handle,
		Workers:      o.workers,
		ReplyTimeout: z.Timeout,
		Count:        o.count,
		Logger:       app.Log.With("component", "zmq"),
	}
	return zmqError(sv.Run(ctx))
}
