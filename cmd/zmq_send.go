package cmd

import (
	"bytes"
	"context"
	"fmt"
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
taken for a later request. A reply that starts with "ERROR: " (what serve replies when its
command fails) is printed like any other, and makes dsys exit 1 once every request is done.`,
		Example: `  dsys zmq send Hello
  printf 'a\nb\n' | dsys zmq send --connect tcp://10.0.0.5:5555 --timeout 2s --retries 1`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.parse(c, app); err != nil {
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
	addIdentityFlag(c, &o.zmqFlags)
	c.Flags().Int("retries", 0, "resends after a timeout before giving up (config zmq.retries, default 3)")
	bindFlag(c, "retries", "zmq.retries")
	return c
}

func runZmqSend(ctx context.Context, app *App, o *zmqSendOptions) error {
	z := app.Config.Zmq
	opts, err := zmqOptions(app, &o.zmqFlags)
	if err != nil {
		return err
	}
	if o.monitor {
		o.events = &monitorSink{h: app.Log.Handler()}
		opts.Monitor = o.events.of(msg.Req)
	}
	r := &msg.Requester{
		Connect: o.connect,
		Bind:    o.bind,
		Options: opts,
		Timeout: z.Timeout,
		Retries: z.Retries,
	}
	defer r.Close()
	w := newMsgWriter(app.IO.Out, o.framing, app.JSON())
	defer w.Flush()
	next := argsSource(o.messages)
	if len(o.messages) == 0 {
		next = newMsgReader(app.IO.In, o.framing, int64(z.MaxMessageSize)).Next
	}
	var failed int
	var firstFailure string
	for n := 0; o.count == 0 || n < o.count; n++ {
		in, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return zmqError(err)
		}
		if in.identity != nil {
			return usageErrorf("stdin message %d: \"identity\" addresses ROUTER peers; a REQ takes none", n+1)
		}
		reply, err := r.Request(ctx, in.frames)
		if err != nil {
			return zmqError(err)
		}
		if err := w.Write(reply, nil); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if len(reply) > 0 && bytes.HasPrefix(reply[0], []byte("ERROR: ")) {
			if failed++; failed == 1 {
				firstFailure = truncate(string(reply[0]), 200)
			}
		}
	}
	if failed > 0 {
		return withExitCode(ExitFailure, fmt.Errorf("the server replied with an error to %d request(s): %s", failed, firstFailure))
	}
	return nil
}

// argsSource yields one single-frame message per argument.
func argsSource(args []string) func() (inMsg, error) {
	i := 0
	return func() (inMsg, error) {
		if i >= len(args) {
			return inMsg{}, io.EOF
		}
		i++
		return inMsg{frames: msg.Msg{[]byte(args[i-1])}}, nil
	}
}
