package cmd

import "github.com/spf13/cobra"

// newZmqCmd is the `dsys zmq` group; it adds its subcommands.
func newZmqCmd(app *App) *cobra.Command {
	c := newGroupCmd("zmq", "ZeroMQ messaging: serve, send, push, pull, pub, sub, dealer, router, pair, worker, proxy, keygen, bench",
		`ZeroMQ messaging on the ZMTP 3 wire protocol, interoperable with libzmq peers such as pyzmq.

Every socket command takes --bind EP and --connect EP (repeatable; tcp://host:port,
ipc://path, inproc://name), --timeout, --count, --framing for stdin/stdout
(line, null, raw, frames, json), -o json for output (one object per message),
--monitor for connection events, PLAIN (--plain-*) or CURVE (--curve-*, keys from
'dsys zmq keygen') security.`)
	c.AddCommand(
		longRunning(newZmqServeCmd(app)),
		newZmqSendCmd(app),
		newZmqStreamCmd(app, "push"),
		longRunning(newZmqStreamCmd(app, "pull")),
		newZmqStreamCmd(app, "pub"),
		longRunning(newZmqStreamCmd(app, "sub")),
		newZmqStreamCmd(app, "dealer"),
		newZmqStreamCmd(app, "router"),
		newZmqStreamCmd(app, "pair"),
		longRunning(newZmqWorkerCmd(app)),
		longRunning(newZmqProxyCmd(app)),
		newZmqKeygenCmd(app),
		newZmqBenchCmd(app),
	)
	return c
}
