package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

type zmqBenchOptions struct {
	zmqFlags
	size       int
	messages   int
	roundTrips int
	role       string
	transports []string
	timeout    time.Duration
}

var benchRoles = []string{"all", "local-thr", "remote-thr", "local-lat", "remote-lat"}

func newZmqBenchCmd(app *App) *cobra.Command {
	o := &zmqBenchOptions{}
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure PUSH/PULL throughput and REQ/REP round-trip latency",
		Long: `Measure PUSH→PULL throughput (msg/s and MB/s of --size byte messages) and REQ/REP round-trip
latency (p50, p99), in-process over tcp loopback and inproc by default.

Against an external peer (another dsys, or libzmq's perf tools' counterparts), pick one role
in the style of libzmq's perf/: local-thr (PULL, times --messages from the first), remote-thr
(PUSH, sends them), local-lat (REP echo), remote-lat (REQ, times --round-trips), with
--bind or --connect.`,
		Example: `  dsys zmq bench
  dsys zmq bench --role local-thr --bind tcp://*:5600 --messages 5000000 &
  dsys zmq bench --role remote-thr --connect tcp://localhost:5600 --messages 5000000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.parse(c, app); err != nil {
				return err
			}
			if o.size < 0 || o.messages < 2 || o.roundTrips < 1 {
				return usageErrorf("--size must be >= 0, --messages >= 2 and --round-trips >= 1")
			}
			valid := false
			for _, r := range benchRoles {
				valid = valid || r == o.role
			}
			if !valid {
				return usageErrorf("--role: expected one of %v, got %q", benchRoles, o.role)
			}
			o.timeout = 60 * time.Second
			if o.timeoutSet {
				o.timeout = app.Config.Zmq.Timeout
			}
			if o.role != "all" {
				if err := o.resolve(c, app, ""); err != nil {
					return err
				}
			} else if c.Flags().Changed("bind") || c.Flags().Changed("connect") {
				return usageErrorf("--bind/--connect need a --role (local-thr, remote-thr, local-lat or remote-lat)")
			}
			for _, tr := range o.transports {
				if tr != "tcp" && tr != "inproc" && tr != "ipc" {
					return usageErrorf("--transport: expected tcp, ipc or inproc, got %q", tr)
				}
			}
			return runZmqBench(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, true)
	f := c.Flags()
	// --messages and --round-trips say what bench counts; stdin framing
	// does not apply.
	_ = f.MarkHidden("count")
	_ = f.MarkHidden("framing")
	f.IntVar(&o.size, "size", 16, "message size in bytes")
	f.IntVar(&o.messages, "messages", 2_000_000, "messages per throughput run")
	f.IntVar(&o.roundTrips, "round-trips", 20_000, "round trips per latency run")
	f.StringVar(&o.role, "role", "all", "all (in-process), or local-thr, remote-thr, local-lat, remote-lat")
	f.StringSliceVar(&o.transports, "transport", []string{"tcp", "inproc"}, "transports for the in-process runs")
	return c
}

func runZmqBench(ctx context.Context, app *App, o *zmqBenchOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	opts, err := zmqOptions(app, &o.zmqFlags)
	if err != nil {
		return err
	}
	if opts.Curve != nil && o.role == "all" {
		return usageErrorf("CURVE benchmarks need a --role: the in-process runs have no server and client keys")
	}
	switch o.role {
	case "local-thr":
		return benchLocalThr(ctx, app, o, opts, o.bind, o.connect, "external")
	case "remote-thr":
		s, err := openZmq(app, &o.zmqFlags, msg.Push, opts, o.bind, o.connect)
		if err != nil {
			return err
		}
		defer s.Close()
		return zmqError(msg.SendThroughput(ctx, s, o.messages, o.size))
	case "local-lat":
		s, err := openZmq(app, &o.zmqFlags, msg.Rep, opts, o.bind, o.connect)
		if err != nil {
			return err
		}
		defer s.Close()
		return zmqError(msg.Echo(ctx, s, o.roundTrips))
	case "remote-lat":
		return benchRemoteLat(ctx, app, o, opts, o.bind, o.connect, "external")
	}
	for _, tr := range o.transports {
		ep := "tcp://127.0.0.1:*"
		switch tr {
		case "inproc":
			ep = fmt.Sprintf("inproc://bench-%d", time.Now().UnixNano())
		case "ipc":
			ep = fmt.Sprintf("ipc:///tmp/dsys-bench-%d.sock", time.Now().UnixNano())
		}
		if err := benchPair(ctx, app, o, opts, tr, ep); err != nil {
			return err
		}
	}
	return nil
}

// benchPair runs both ends of each benchmark in this process.
func benchPair(ctx context.Context, app *App, o *zmqBenchOptions, opts msg.Options, tr, ep string) error {
	quiet := opts
	quiet.Logger = nil
	pull, err := msg.New(msg.Pull, quiet)
	if err != nil {
		return err
	}
	defer pull.Close()
	bound, err := pull.Bind(ep)
	if err != nil {
		return zmqError(err)
	}
	push, err := msg.New(msg.Push, quiet)
	if err != nil {
		return err
	}
	defer push.Close()
	if err := push.Connect(bound); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- msg.SendThroughput(ctx, push, o.messages, o.size) }()
	res, err := msg.ReceiveThroughput(ctx, pull, o.messages)
	if err != nil {
		return zmqError(err)
	}
	if err := <-errc; err != nil {
		return zmqError(err)
	}
	if err := printThroughput(app, tr, res); err != nil {
		return err
	}
	if tr == "inproc" {
		ep += "-lat"
	}
	rep, err := msg.New(msg.Rep, quiet)
	if err != nil {
		return err
	}
	defer rep.Close()
	if bound, err = rep.Bind(ep); err != nil {
		return zmqError(err)
	}
	go func() { errc <- msg.Echo(ctx, rep, o.roundTrips) }()
	return benchRemoteLat(ctx, app, o, quiet, nil, []string{bound}, tr)
}

func benchLocalThr(ctx context.Context, app *App, o *zmqBenchOptions, opts msg.Options, bind, connect []string, label string) error {
	s, err := openZmq(app, &o.zmqFlags, msg.Pull, opts, bind, connect)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := msg.ReceiveThroughput(ctx, s, o.messages)
	if err != nil {
		return zmqError(err)
	}
	return printThroughput(app, label, res)
}

func benchRemoteLat(ctx context.Context, app *App, o *zmqBenchOptions, opts msg.Options, bind, connect []string, label string) error {
	s, err := openZmq(app, &o.zmqFlags, msg.Req, opts, bind, connect)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := msg.MeasureLatency(ctx, s, o.roundTrips, o.size)
	if err != nil {
		return zmqError(err)
	}
	if app.JSON() {
		return app.PrintJSON(map[string]any{
			"benchmark": "reqrep_latency", "transport": label, "size": res.Size, "round_trips": res.RoundTrips,
			"p50_us": us(res.P50), "p99_us": us(res.P99), "mean_us": us(res.Mean),
		})
	}
	_, err = fmt.Fprintf(app.IO.Out, "REQ/REP  %-8s %6d B  %8d round trips  p50 %8.1f µs  p99 %8.1f µs  mean %8.1f µs\n",
		label, res.Size, res.RoundTrips, us(res.P50), us(res.P99), us(res.Mean))
	return err
}

func printThroughput(app *App, label string, res msg.ThroughputResult) error {
	if app.JSON() {
		return app.PrintJSON(map[string]any{
			"benchmark": "pushpull_throughput", "transport": label, "size": res.Size, "messages": res.Messages,
			"seconds": res.Elapsed.Seconds(), "msg_per_sec": res.MsgPerSec(), "mb_per_sec": res.MBPerSec(),
		})
	}
	_, err := fmt.Fprintf(app.IO.Out, "PUSH/PULL %-8s %6d B  %8d messages  %12.0f msg/s  %9.1f MB/s\n",
		label, res.Size, res.Messages, res.MsgPerSec(), res.MBPerSec())
	return err
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
