package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
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
by workers (unacked) are not touched. Asks for confirmation on the terminal unless --yes; without a terminal, --yes is
required.
Of several queues, those that exist are purged and the missing ones named; none
existing is an error (exit 2).`,
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
	if !opts.Yes && !interactive(app.IO.In) {
		return usageErrorf("--yes is required when not interactive (stdin is not a terminal)")
	}
	queues, b, err := openQueues(ctx, app)
	if err != nil {
		return err
	}
	defer b.Close()
	// Look first: purge the queues that exist and say which do not.
	var found []broker.QueueInfo
	var missing []string
	for _, q := range queues {
		info, err := b.Inspect(ctx, q)
		switch {
		case errors.Is(err, queue.ErrQueueNotFound):
			missing = append(missing, q)
		case err != nil:
			return queueError(err)
		default:
			found = append(found, info)
		}
	}
	if len(found) == 0 {
		return queueError(fmt.Errorf("%w: %s", queue.ErrQueueNotFound, strings.Join(missing, ", ")))
	}
	for _, q := range missing {
		if app.JSON() {
			if err := app.PrintJSON(map[string]any{"queue": q, "exists": false, "purged": 0}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(app.IO.ErrOut, "no such queue %s: nothing to purge\n", q)
	}
	answers := bufio.NewReader(app.IO.In) // one reader: it buffers past the first answer
	for _, info := range found {
		q := info.Name
		if !opts.Yes {
			fmt.Fprintf(app.IO.ErrOut, "Purge %d ready %s from queue %q? [y/N] ", info.Ready, plural(info.Ready, "message", "messages"), q)
			line, _ := answers.ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				return usageErrorf("purge of %s not confirmed (use --yes to skip the question)", q)
			}
		}
		n, err := b.Purge(ctx, q)
		if err != nil {
			return queueError(err)
		}
		if app.JSON() {
			if err := app.PrintJSON(map[string]any{"queue": q, "exists": true, "purged": n}); err != nil {
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

// interactive reports whether r is a terminal someone can answer on.
func interactive(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}
