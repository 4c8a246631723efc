package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

type zmqServeOptions struct {
	zmqFlags
	reply string
	echo  bool
	exec  []string
}

func newZmqServeCmd(app *App) *cobra.Command {
	o := &zmqServeOptions{}
	var execFlag string
	c := &cobra.Command{
		Use:   "serve [--reply TEXT | --echo | --exec CMD [ARG...]]",
		Short: "Answer requests on a REP socket (binds tcp://*:5555 by default)",
		Long: `Answer requests on a REP socket: each request is printed on stdout and answered with
--reply TEXT (default "World"), the request itself (--echo), or the stdout of a command run
once per request with the request on its stdin (--exec CMD [ARG...]; never through a shell;
one trailing newline of its output is dropped; a non-zero exit replies "ERROR: ..." and is logged).
Serves until interrupted, or until --count requests.`,
		Example: `  dsys zmq serve &
  dsys zmq send Hello                      # World
  dsys zmq serve --bind tcp://*:6000 --exec tr a-z A-Z`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.parse(c); err != nil {
				return err
			}
			modes := 0
			for _, set := range []bool{c.Flags().Changed("reply"), o.echo, execFlag != ""} {
				if set {
					modes++
				}
			}
			if modes > 1 {
				return usageErrorf("--reply, --echo and --exec are exclusive")
			}
			if execFlag != "" {
				argv, err := execArgv(execFlag, args)
				if err != nil {
					return err
				}
				o.exec = argv
			} else if len(args) > 0 {
				return usageErrorf("unexpected arguments %q (arguments follow --exec CMD)", args)
			}
			if err := o.resolve(c, app, "bind"); err != nil {
				return err
			}
			return runZmqServe(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, true)
	c.Flags().StringVar(&o.reply, "reply", "World", "the reply to every request")
	c.Flags().BoolVar(&o.echo, "echo", false, "reply with the request itself")
	c.Flags().StringVar(&execFlag, "exec", "", "run this command per request: request on stdin, reply from stdout")
	return c
}

func runZmqServe(ctx context.Context, app *App, o *zmqServeOptions) error {
	z := app.Config.Zmq
	s, err := openZmq(app, msg.Rep, zmqOptions(app), o.bind, o.connect)
	if err != nil {
		return err
	}
	defer s.Close()
	w := msg.NewWriter(app.IO.Out, o.framing, app.JSON())
	defer w.Flush()
	for n := 0; o.count == 0 || n < o.count; n++ {
		req, err := s.Recv(ctx)
		if err != nil {
			return zmqError(err)
		}
		if err := w.Write(req, nil); err != nil {
			return err
		}
		if !s.Buffered() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		reply := msg.Msg{[]byte(o.reply)}
		switch {
		case o.echo:
			reply = req
		case o.exec != nil:
			out, err := runExec(ctx, o.exec, req, app.IO.ErrOut)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				app.Log.Error("request handler failed", "err", err)
				out = []byte("ERROR: " + err.Error())
			}
			reply = msg.Msg{out}
		}
		err = sendWithin(ctx, s, reply, z.Timeout) // copies reply (which may be req)
		msg.Release(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			app.Log.Warn("reply not delivered", "err", err)
		}
	}
	return nil
}
