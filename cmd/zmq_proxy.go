package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

type zmqProxyOptions struct {
	zmqFlags
	frontend, backend, capture proxySide
}

// proxySide is one --frontend/--backend/--capture: TYPE=EP[,EP...], an
// endpoint binding with a leading @ and connecting otherwise (worker's
// convention).
type proxySide struct {
	typ           msg.Type
	bind, connect []string
}

// proxyDevices are the pairs zmq proxy accepts: libzmq's three devices.
var proxyDevices = map[[2]msg.Type]string{
	{msg.Router, msg.Dealer}: "request broker",
	{msg.XSub, msg.XPub}:     "forwarder",
	{msg.Pull, msg.Push}:     "streamer",
}

func newZmqProxyCmd(app *App) *cobra.Command {
	o := &zmqProxyOptions{}
	var front, back, capture string
	c := &cobra.Command{
		Use:   "proxy --frontend TYPE=EP --backend TYPE=EP [--capture TYPE=EP]",
		Short: "Forward messages between two sockets: a request broker, a pub/sub forwarder or a streamer",
		Long: `Forward messages between a frontend and a backend socket until interrupted, as libzmq's
zmq_proxy does, for the three classic devices:

  router/dealer  a request broker: clients (REQ, DEALER) connect to the frontend, servers
                 (REP, dsys zmq serve) to the backend; replies find their way back
  xsub/xpub      a forwarder: the frontend connects to publishers, subscribers to the
                 backend; subscriptions travel upstream
  pull/push      a streamer: a pipeline stage that spreads tasks round-robin

EP follows worker's convention: @tcp://*:5559 binds, tcp://host:5559 connects; several are
separated by commas. --capture TYPE=EP (pub, push, dealer or pair) gets a copy of every message
forwarded. A message for a client that has gone or does not read is dropped (as libzmq's ROUTER
does) and logged at a bounded rate; --timeout, --hwm, --monitor and the security flags apply to
both sides.`,
		Example: `  dsys zmq proxy --frontend router=@tcp://*:5559 --backend dealer=@tcp://*:5560 &
  dsys zmq serve --connect tcp://localhost:5560 &
  dsys zmq send --connect tcp://localhost:5559 Hello
  dsys zmq proxy --frontend xsub=tcp://pubhost:5556 --backend xpub=@tcp://*:5557`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.parse(c, app); err != nil {
				return err
			}
			var err error
			if o.frontend, err = parseProxySide("--frontend", front); err != nil {
				return err
			}
			if o.backend, err = parseProxySide("--backend", back); err != nil {
				return err
			}
			if _, ok := proxyDevices[[2]msg.Type{o.frontend.typ, o.backend.typ}]; !ok {
				return usageErrorf("--frontend %s with --backend %s: expected router/dealer, xsub/xpub or pull/push",
					strings.ToLower(string(o.frontend.typ)), strings.ToLower(string(o.backend.typ)))
			}
			if capture != "" {
				if o.capture, err = parseProxySide("--capture", capture); err != nil {
					return err
				}
				switch o.capture.typ {
				case msg.Pub, msg.Push, msg.Dealer, msg.Pair:
				default:
					return usageErrorf("--capture: expected pub, push, dealer or pair, got %s", strings.ToLower(string(o.capture.typ)))
				}
			}
			return runZmqProxy(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, false)
	f := c.Flags()
	_ = f.MarkHidden("count")
	_ = f.MarkHidden("framing")
	f.StringVar(&front, "frontend", "", "the frontend socket: router, xsub or pull =EP (@EP binds)")
	f.StringVar(&back, "backend", "", "the backend socket: dealer, xpub or push =EP (@EP binds)")
	f.StringVar(&capture, "capture", "", "a socket that gets a copy of every message: pub, push, dealer or pair =EP")
	return c
}

func parseProxySide(flag, v string) (proxySide, error) {
	if v == "" {
		return proxySide{}, usageErrorf("%s TYPE=EP is required", flag)
	}
	name, eps, ok := strings.Cut(v, "=")
	if !ok || eps == "" {
		return proxySide{}, usageErrorf("%s: expected TYPE=EP (e.g. router=@tcp://*:5559), got %q", flag, v)
	}
	typ, err := msg.ParseType(name)
	if err != nil {
		return proxySide{}, usageErrorf("%s: unknown socket type %q", flag, name)
	}
	side := proxySide{typ: typ}
	side.bind, side.connect = splitEndpoints(strings.Split(eps, ","))
	for _, ep := range append(append([]string(nil), side.bind...), side.connect...) {
		if _, err := msg.ParseEndpoint(ep); err != nil {
			return proxySide{}, usageErrorf("%s: %v", flag, err)
		}
	}
	return side, nil
}

func runZmqProxy(ctx context.Context, app *App, o *zmqProxyOptions) error {
	opts, err := zmqOptions(app, &o.zmqFlags)
	if err != nil {
		return err
	}
	open := func(side proxySide) (*msg.Socket, error) {
		return openZmq(app, &o.zmqFlags, side.typ, opts, side.bind, side.connect)
	}
	px := &msg.Proxy{Logger: app.Log.With("component", "zmq")}
	if px.Frontend, err = open(o.frontend); err != nil {
		return err
	}
	defer px.Frontend.Close()
	if px.Backend, err = open(o.backend); err != nil {
		return err
	}
	defer px.Backend.Close()
	if o.capture.typ != "" {
		if px.Capture, err = open(o.capture); err != nil {
			return err
		}
		defer px.Capture.Close()
	}
	app.Log.Info("proxy running", "device", proxyDevices[[2]msg.Type{o.frontend.typ, o.backend.typ}],
		"frontend", fmt.Sprint(o.frontend.typ), "backend", fmt.Sprint(o.backend.typ))
	return zmqError(px.Run(ctx))
}
