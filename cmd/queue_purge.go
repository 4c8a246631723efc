package cmd

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

type queuePurgeOptions struct {
	Yes bool
}

func newQueuePurgeCmd(app *App) *cobra.Command {
	opts := &queuePurgeOptions{}
	c := &cobra.Command{
		Use:   "purge",
		Short: "Drop every ready message of a queue (asks first unless --yes)",
		Long: `Drop the messages waiting in a queue (default: queue.queue). Messages being run
by workers (unacked) are not touched. Asks for confirmation on stdin unless --yes.`,
		Example: `  dsys queue purge --queue celery.dead --yes`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runQueuePurge(c.Context(), app, opts)
		},
	}
	addBrokerFlag(c)
	c.Flags().String("queue", "", "queues to purge, comma-separated (queue.queue)")
	c.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	bindFlag(c, "queue", "queue.queue")
	return c
}

func runQueuePurge(ctx context.Context, app *App, opts *queuePurgeOptions) error {
	queues, err := queueNames(app.Config.Queue.Queue)
	if err != nil {
		return err
	}
	b, err := dialBroker(ctx, app)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, q := range queues {
		info, err := b.Inspect(ctx, q)
		if err != nil {
			return queueError(err)
		}
		if !opts.Yes {
			fmt.Fprintf(app.IO.ErrOut, "Purge %d ready messages from queue %q? [y/N] ", info.Ready, q)
			line, _ := bufio.NewReader(app.IO.In).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				return usageErrorf("purge of %s not confirmed (use --yes to skip the question)", q)
			}
		}
		n, err := b.Purge(ctx, q)
		if err != nil {
			return queueError(err)
		}
		if app.JSON() {
			if err := app.PrintJSON(map[string]any{"queue": q, "purged": n}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(app.IO.Out, "purged %d %s from %s\n", n, plural(n, "message", "messages"), q)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
