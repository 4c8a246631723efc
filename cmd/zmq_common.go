package cmd

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/msg"
)

// zmqFlags are the flags every socket command shares. Most mirror config
// keys (bindFlag), so the run functions read app.Config.Zmq.
type zmqFlags struct {
	framing     framing
	framingFlag string
	count       int
	identity    string
	immediate   bool
	monitor     bool
	events      *monitorSink // --monitor's output, shared by the command's sockets
	// Set by resolve: the endpoints this run binds and connects.
	bind, connect []string
	// timeoutSet: --timeout or zmq.timeout was given (not the default),
	// which makes receive-only commands give up when idle that long.
	timeoutSet bool
}

// addZmqFlags adds the common flags to c; withEndpoints is false for
// commands with endpoint flags of their own (worker, proxy).
func addZmqFlags(c *cobra.Command, o *zmqFlags, withEndpoints bool) {
	f := c.Flags()
	if withEndpoints {
		f.StringArray("bind", nil, "endpoint to bind, e.g. tcp://*:5555 (repeatable; config zmq.bind)")
		f.StringArray("connect", nil, "endpoint to connect to, e.g. tcp://localhost:5555 (repeatable; config zmq.connect)")
		bindFlag(c, "bind", "zmq.bind")
		bindFlag(c, "connect", "zmq.connect")
	}
	f.Duration("timeout", 0, "bound on each send, request and wait for peers (config zmq.timeout, default 5s)")
	f.IntVar(&o.count, "count", 0, "stop after N messages (0: no limit)")
	f.StringVar(&o.framingFlag, "framing", "line", "stdin/stdout framing: line, null, raw, frames (one frame per line, empty line ends a message) or json (-o json's schema)")
	_ = c.RegisterFlagCompletionFunc("framing", cobra.FixedCompletions(framings, cobra.ShellCompDirectiveNoFileComp))
	f.String("plain-user", "", "ZMTP PLAIN user name (config zmq.plain.user); a binding socket accepts this user")
	f.String("plain-password", "", "ZMTP PLAIN password (config zmq.plain.password)")
	f.String("curve-secret", "", "our CURVE secret key, Z85 (config zmq.curve.secret): a server's identity, or a client's")
	f.String("curve-server", "", "the CURVE server's public key, Z85 (config zmq.curve.server): makes this a CURVE client")
	f.StringArray("curve-allow", nil, "a CURVE server admits only this client public key, Z85 (repeatable; config zmq.curve.allow)")
	f.String("max-message-size", "", "drop (and log) larger messages from peers, e.g. 64MiB (config zmq.max_message_size)")
	f.Int("hwm", 0, "messages queued per peer before a sender blocks (config zmq.hwm)")
	f.Duration("heartbeat", 0, "PING each peer this often, drop peers silent for 3 intervals (config zmq.heartbeat; 0 disables)")
	f.BoolVar(&o.immediate, "immediate", false, "queue messages only for connected peers (libzmq's ZMQ_IMMEDIATE); default: each --connect endpoint queues from the start")
	f.BoolVar(&o.monitor, "monitor", false, "log connection events on stderr (listening, accepted, connected, handshake failed, disconnected; JSON lines with -o json)")
	bindFlag(c, "timeout", "zmq.timeout")
	bindFlag(c, "plain-user", "zmq.plain.user")
	bindFlag(c, "plain-password", "zmq.plain.password")
	bindFlag(c, "curve-secret", "zmq.curve.secret")
	bindFlag(c, "curve-server", "zmq.curve.server")
	bindFlag(c, "curve-allow", "zmq.curve.allow")
	bindFlag(c, "max-message-size", "zmq.max_message_size")
	bindFlag(c, "hwm", "zmq.hwm")
	bindFlag(c, "heartbeat", "zmq.heartbeat")
}

// addIdentityFlag adds --identity, for the types that present one.
func addIdentityFlag(c *cobra.Command, o *zmqFlags) {
	c.Flags().StringVar(&o.identity, "identity", "", "the identity this socket presents to ROUTER peers (at most 255 bytes; a ROUTER refuses a second peer with the same one)")
}

// parse validates the common flags.
func (o *zmqFlags) parse(c *cobra.Command, app *App) error {
	fr, err := parseFraming(o.framingFlag)
	if err != nil {
		return err
	}
	o.framing = fr
	if o.count < 0 {
		return usageErrorf("--count: expected a number >= 0, got %d", o.count)
	}
	if len(o.identity) > 255 {
		return usageErrorf("--identity: at most 255 bytes, got %d", len(o.identity))
	}
	o.timeoutSet = c.Flags().Changed("timeout") ||
		(app.Loaded != nil && app.Loaded.Source("zmq.timeout").Kind != config.FromDefault)
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
		return usageErrorf("zmq %s needs an endpoint: --bind EP or --connect EP", c.Name())
	}
	for _, ep := range append(append([]string(nil), o.bind...), o.connect...) {
		if _, err := msg.ParseEndpoint(ep); err != nil {
			return usageErrorf("%v", err)
		}
	}
	return nil
}

// zmqOptions builds socket options from the configuration and the flags.
// A malformed key is a usage error that never quotes the key.
func zmqOptions(app *App, o *zmqFlags) (msg.Options, error) {
	z := app.Config.Zmq
	opts := msg.Options{
		HWM:            z.HWM,
		MaxMessageSize: int64(z.MaxMessageSize),
		Linger:         z.Timeout,
		Heartbeat:      z.Heartbeat,
		Immediate:      o.immediate,
		Logger:         app.Log.With("component", "zmq"),
	}
	if o.identity != "" {
		opts.Identity = []byte(o.identity)
	}
	if z.Plain.User != "" || len(z.Plain.Users) > 0 {
		opts.Plain = &msg.PlainAuth{User: z.Plain.User, Password: z.Plain.Password, Users: z.Plain.Users}
	}
	cv := z.Curve
	if cv.Secret == "" && cv.Server == "" && len(cv.Allow) == 0 {
		return opts, nil
	}
	if opts.Plain != nil {
		return opts, usageErrorf("PLAIN (--plain-user, zmq.plain.*) and CURVE (--curve-*, zmq.curve.*) exclude each other")
	}
	auth := &msg.CurveAuth{}
	if cv.Secret != "" {
		k, err := msg.ParseSecretKey(cv.Secret)
		if err != nil {
			return opts, usageErrorf("--curve-secret (zmq.curve.secret): %v", err)
		}
		auth.Secret = &k
	}
	if cv.Server != "" {
		k, err := msg.ParsePublicKey(cv.Server)
		if err != nil {
			return opts, usageErrorf("--curve-server (zmq.curve.server): %v", err)
		}
		auth.Server = &k
	}
	for i, s := range cv.Allow {
		k, err := msg.ParsePublicKey(s)
		if err != nil {
			return opts, usageErrorf("--curve-allow (zmq.curve.allow) key %d: %v", i+1, err)
		}
		auth.Allow = append(auth.Allow, k)
	}
	switch {
	case auth.Server == nil && auth.Secret == nil:
		return opts, usageErrorf("a CURVE server needs its secret key (--curve-secret, zmq.curve.secret; dsys zmq keygen makes one)")
	case auth.Server != nil && len(auth.Allow) > 0:
		return opts, usageErrorf("--curve-allow is for a CURVE server, and --curve-server makes this a client")
	}
	opts.Curve = auth
	return opts, nil
}

// openZmq makes a socket of typ on the given endpoints, with a --monitor
// if asked for.
func openZmq(app *App, o *zmqFlags, typ msg.Type, opts msg.Options, bind, connect []string) (*msg.Socket, error) {
	if o.monitor {
		if o.events == nil {
			o.events = &monitorSink{h: app.Log.Handler()}
		}
		opts.Monitor = o.events.of(typ)
	}
	s, err := msg.New(typ, opts)
	if err != nil {
		return nil, zmqError(err)
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

// monitorSink prints --monitor's events on stderr through the logger's
// handler — text lines, or JSON lines under -o json — so that they never
// interleave with log lines, and whatever the log level (-q included):
// they were asked for.
type monitorSink struct {
	h slog.Handler
}

// of returns the Options.Monitor of a socket of type typ.
func (m *monitorSink) of(typ msg.Type) func(msg.Event) {
	return func(ev msg.Event) {
		rec := slog.NewRecord(time.Now(), slog.LevelInfo, "zmq monitor", 0)
		rec.AddAttrs(slog.String("event", string(ev.Kind)), slog.String("socket", string(typ)))
		for _, kv := range [][2]string{{"endpoint", ev.Endpoint}, {"remote", ev.Remote}, {"peer_type", ev.PeerType},
			{"mechanism", ev.Mechanism}, {"reason", ev.Reason}} {
			if kv[1] != "" {
				rec.AddAttrs(slog.String(kv[0], kv[1]))
			}
		}
		if ev.Suppressed > 0 {
			rec.AddAttrs(slog.Int("suppressed", ev.Suppressed))
		}
		_ = m.h.Handle(context.Background(), rec)
	}
}

// zmqError classifies msg's errors into exit codes.
func zmqError(err error) error {
	var ee *exitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, msg.ErrAuth), errors.Is(err, msg.ErrTimeout), errors.Is(err, msg.ErrPeerGone):
		return withExitCode(ExitUnavailable, err)
	case errors.Is(err, msg.ErrEndpoint), errors.Is(err, msg.ErrTooLarge):
		return withExitCode(ExitUsage, err)
	}
	return err
}

// sendWithin queues m, waiting at most timeout when it cannot be queued at
// once.
func sendWithin(ctx context.Context, s *msg.Socket, m msg.Msg, timeout time.Duration) error {
	ok, err := s.TrySend(m)
	if ok || err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.Send(sctx, m)
}

// flushWithin waits at most timeout for everything queued on s to be
// written: a sender about to exit fails (exit 3) when a message would be
// left behind.
func flushWithin(ctx context.Context, s *msg.Socket, timeout time.Duration) error {
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.Flush(fctx)
}

// waitPeers makes a sender wait for n peers.
func waitPeers(ctx context.Context, s *msg.Socket, n int, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.WaitPeers(wctx, n)
}
