package cmd

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

type zmqSendOptions struct {
	zmqFlags
	messages []string
}

func newZmqSendCmd(app *App) *cobra.Command {
	o := &zmqSendOptions{}
	c := &cobra.Command{
		Use:   "send [MESSAGE...]",
		Short: "Send requests on a REQ socket and print each reply (connects tcp://localhost:5555 by default)",
		Long: `Send each MESSAGE — or, with none, each message of stdin — as a request on a REQ
socket and print each reply on its own line, in order.

Reliable in the Lazy Pirate way: each request waits --timeout for its reply; on timeout the
socket is closed and recreated and the request resent, up to --retries times (config
zmq.retries, default 3); then dsys exits 3 naming the endpoint. A late reply is never
taken for a later request.`,
		Example: `  dsys zmq send Hello
  printf 'a\nb\n' | dsys zmq send --connect tcp://10.0.0.5:5555 --timeout 2s --retries 1`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.parse(c); err != nil {
				return err
			}
			if err := o.resolve(c, app, "connect"); err != nil {
				return err
			}
			o.messages = args
			return runZmqSend(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, true)
	c.Flags().Int("retries", 0, "resends after a timeout before giving up (config zmq.retries, default 3)")
	bindFlag(c, "retries", "zmq.retries")
	return c
}

func runZmqSend(ctx context.Context, app *App, o *zmqSendOptions) error {
	z := app.Config.Zmq
	r := &msg.Requester{
		Connect: o.connect,
		Bind:    o.bind,
		Options: zmqOptions(app),
		Timeout: z.Timeout,
		Retries: z.Retries,
	}
	defer r.Close()
	w := msg.NewWriter(app.IO.Out, o.framing, app.JSON())
	defer w.Flush()
	next := argsSource(o.messages)
	if len(o.messages) == 0 {
		next = msg.NewReader(app.IO.In, o.framing, int64(z.MaxMessageSize)).Next
	}
	for n := 0; o.count == 0 || n < o.count; n++ {
		m, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return zmqError(err)
		}
		reply, err := r.Request(ctx, m)
		if err != nil {
			return zmqError(err)
		}
		if err := w.Write(reply, nil); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// argsSource yields one single-frame message per argument.
func argsSource(args []string) func() (msg.Msg, error) {
	i := 0
	return func() (msg.Msg, error) {
		if i >= len(args) {
			return nil, io.EOF
		}
		i++
		return msg.Msg{[]byte(args[i-1])}, nil
	}
}
