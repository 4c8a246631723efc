package cmd

import "github.com/spf13/cobra"

// newZmqCmd is the `dsys zmq` group; it adds its subcommands.
func newZmqCmd(app *App) *cobra.Command {
	c := newGroupCmd("zmq", "ZeroMQ messaging: serve, send, push, pull, pub, sub, worker, bench",
		"ZeroMQ messaging on the ZMTP 3 wire protocol, interoperable with libzmq peers such as pyzmq.")
	_ = app
	return c
}
