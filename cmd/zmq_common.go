package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/msg"
)

// zmqFlags are the flags every socket command shares. Most mirror config
// keys (bindFlag), so the run functions read app.Config.Zmq.
type zmqFlags struct {
	framing     msg.Framing
	framingFlag string
	count       int
	// Set by resolve: the endpoints this run binds and connects.
	bind, connect []string
	timeoutSet    bool
}

// addZmqFlags adds the common flags to c; withEndpoints is false for
// commands with endpoint flags of their own (worker).
func addZmqFlags(c *cobra.Command, o *zmqFlags, withEndpoints bool) {
	f := c.Flags()
	if withEndpoints {
		f.StringArray("bind", nil, "endpoint to bind, e.g. tcp://*:5555 (repeatable; config zmq.bind)")
		f.StringArray("connect", nil, "endpoint to connect to, e.g. tcp://localhost:5555 (repeatable; config zmq.connect)")
		bindFlag(c, "bind", "zmq.bind")
		bindFlag(c, "connect", "zmq.connect")
	}
	f.Duration("timeout", 0, "bound on each send, request and the wait for a first peer (config zmq.timeout, default 5s)")
	f.IntVar(&o.count, "count", 0, "stop after N messages (0: no limit)")
	f.StringVar(&o.framingFlag, "framing", "line", "stdin/stdout framing: line, null, raw, or frames (one frame per line, empty line ends a message)")
	f.String("plain-user", "", "ZMTP PLAIN user name (config zmq.plain.user); a binding socket accepts this user")
	f.String("plain-password", "", "ZMTP PLAIN password (config zmq.plain.password)")
	f.String("max-message-size", "", "drop (and log) larger messages from peers, e.g. 64MiB (config zmq.max_message_size)")
	f.Int("hwm", 0, "messages queued per peer before a sender blocks (config zmq.hwm)")
	f.Duration("heartbeat", 0, "PING each peer this often, drop peers silent for 3 intervals (config zmq.heartbeat; 0 disables)")
	bindFlag(c, "timeout", "zmq.timeout")
	bindFlag(c, "plain-user", "zmq.plain.user")
	bindFlag(c, "plain-password", "zmq.plain.password")
	bindFlag(c, "max-message-size", "zmq.max_message_size")
	bindFlag(c, "hwm", "zmq.hwm")
	bindFlag(c, "heartbeat", "zmq.heartbeat")
}

// parse validates the common flags.
func (o *zmqFlags) parse(c *cobra.Command) error {
	fr, err := msg.ParseFraming(o.framingFlag)
	if err != nil {
		return usageErrorf("--framing: expected line, null, raw or frames, got %q", o.framingFlag)
	}
	o.framing = fr
	if o.count < 0 {
		return usageErrorf("--count: expected a number >= 0, got %d", o.count)
	}
	o.timeoutSet = c.Flags().Changed("timeout")
	return nil
}

// resolve picks the endpoints: the flags when either was given, else the
// configured key for the command's natural direction (serve binds, send
// connects), else any key set outside the defaults.
func (o *zmqFlags) resolve(c *cobra.Command, app *App, natural string) error {
	z := app.Config.Zmq
	bindSet, connSet := c.Flags().Changed("bind"), c.Flags().Changed("connect")
	switch {
	case bindSet || connSet:
		if bindSet {
			o.bind = z.Bind
		}
		if connSet {
			o.connect = z.Connect
		}
	case natural == "bind":
		o.bind = z.Bind
	case natural == "connect":
		o.connect = z.Connect
	default:
		if app.Loaded != nil && app.Loaded.Source("zmq.bind").Kind != config.FromDefault {
			o.bind = z.Bind
		}
		if app.Loaded != nil && app.Loaded.Source("zmq.connect").Kind != config.FromDefault {
			o.connect = z.Connect
		}
	}
	if len(o.bind)+len(o.connect) == 0 {
		return usageErrorf("%s needs an endpoint: --bind EP or --connect EP", c.CommandPath())
	}
	for _, ep := range append(append([]string(nil), o.bind...), o.connect...) {
		if _, err := msg.ParseEndpoint(ep); err != nil {
			return usageErrorf("%v", err)
		}
	}
	return nil
}

// zmqOptions builds socket options from the configuration.
func zmqOptions(app *App) msg.Options {
	z := app.Config.Zmq
	o := msg.Options{
		HWM:            z.HWM,
		MaxMessageSize: int64(z.MaxMessageSize),
		Linger:         z.Timeout,
		Heartbeat:      z.Heartbeat,
		Logger:         app.Log.With("component", "zmq"),
	}
	if z.Plain.User != "" || len(z.Plain.Users) > 0 {
		o.Plain = &msg.PlainAuth{User: z.Plain.User, Password: z.Plain.Password, Users: z.Plain.Users}
	}
	return o
}

// openZmq makes a socket of typ on the given endpoints.
func openZmq(app *App, typ msg.Type, opts msg.Options, bind, connect []string) (*msg.Socket, error) {
	s, err := msg.New(typ, opts)
	if err != nil {
		return nil, err
	}
	for _, ep := range bind {
		got, err := s.Bind(ep)
		if err != nil {
			s.Close()
			return nil, zmqError(err)
		}
		app.Log.Info("listening", "socket", string(typ), "endpoint", got)
	}
	for _, ep := range connect {
		if err := s.Connect(ep); err != nil {
			s.Close()
			return nil, zmqError(err)
		}
	}
	return s, nil
}

// zmqError classifies msg's errors into exit codes.
func zmqError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, msg.ErrAuth), errors.Is(err, msg.ErrTimeout), errors.Is(err, msg.ErrPeerGone):
		return withExitCode(ExitUnavailable, err)
	case errors.Is(err, msg.ErrEndpoint), errors.Is(err, msg.ErrTooLarge):
		return withExitCode(ExitUsage, err)
	}
	return err
}

// send queues m, waiting at most timeout when it cannot be queued at once.
func sendWithin(ctx context.Context, s *msg.Socket, m msg.Msg, timeout time.Duration) error {
	ok, err := s.TrySend(m)
	if ok || err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.Send(sctx, m)
}

// waitFirstPeers makes a binding sender wait for n peers, so it does not
// send into the void.
func waitFirstPeers(ctx context.Context, s *msg.Socket, n int, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.WaitPeers(wctx, n); err != nil {
		return fmt.Errorf("waiting for a peer: %w", err)
	}
	return nil
}
